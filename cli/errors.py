"""The CLI's edge: every error becomes one line and an exit code, and library arguments become flags.

Exit codes: 0 done; 1 a failure outside the user's control (one line); 2 a
bad argument or setting (one line, before any query runs); 3 nothing
observed, so no picture or report was written (and, for ``alerts``, some
group is full); 130 interrupted (Ctrl-C), after asking Athena to stop a
running query. Never a traceback, unless ``--debug`` (or PARKING_DEBUG=1)
asks for the one behind an error.
"""

from __future__ import annotations

import os
import sys
import traceback
from collections.abc import Sequence
from types import TracebackType
from typing import Any, NoReturn

import click

from parking.cli.entry import ABORTED, INTERRUPTED, interrupted
from parking.cli.options import in_flags, os_error_line
from parking.cli.progress import close_terminals
from parking.errors import AwsError, ConfigurationError, InvalidArgument, ParkingError, QueryCancelled

DEBUG_VARIABLE = "PARKING_DEBUG"



class Interrupted(Exception):
    """Ctrl-C reached a command: caught before click turns it into an Abort that prints a blank line."""


class _Context(click.Context):
    """The group's context: a Ctrl-C while it closes (its ``call_on_close`` callbacks) is :class:`Interrupted`."""

    def __exit__(self, exc_type: type[BaseException] | None, exc_value: BaseException | None,
                 tb: TracebackType | None) -> bool | None:
        try:
            return super().__exit__(exc_type, exc_value, tb)
        except KeyboardInterrupt as exc:
            raise Interrupted() from exc


class OneLineErrors(click.Group):
    """Usage errors as one line and exit 2; library failures as one line and exit 1; never a traceback.

    Ctrl-C is one line and exit 130: click's ``main`` answers a KeyboardInterrupt
    anywhere in parsing, running or closing with a blank line, so each of the
    three turns it into :class:`Interrupted` first. With ``--debug`` or
    PARKING_DEBUG=1 the traceback behind an error is printed before its line.
    """

    debug = False
    context_class = _Context

    def main(
        self, args: Sequence[str] | None = None, prog_name: str | None = None, complete_var: str | None = None,
        standalone_mode: bool = True, **kwargs: Any,
    ) -> Any:
        from parking.cli.help import finish_help

        OneLineErrors.debug = debug_from_env()
        finish_help(self)  # every command registered by now: examples last, Athena-only options last
        try:
            return super().main(args, prog_name, complete_var, standalone_mode=False, **kwargs)
        except click.exceptions.NoArgsIsHelpError as exc:  # a group named alone: its help, as click shows it
            exc.show()
            sys.exit(2)
        except click.UsageError as exc:
            fail(f"{exc.format_message()}", 2)
        except InvalidArgument as exc:
            fail(in_flags(exc), 2, exc)
        except ConfigurationError as exc:
            fail(str(exc), 2, exc)
        except QueryCancelled as exc:  # Ctrl-C while a query ran: it was stopped
            fail(f"{ABORTED}: {exc}", INTERRUPTED, exc)
        except AwsError as exc:  # already says what to set
            fail(str(exc), 1, exc)
        except ParkingError as exc:
            fail(_aws_problem(exc) or str(exc), 1, exc)
        except click.ClickException as exc:
            fail(exc.format_message(), exc.exit_code)
        except (click.Abort, Interrupted, KeyboardInterrupt) as exc:
            fail(ABORTED, INTERRUPTED, exc)
        except OSError as exc:  # a file that cannot be read or written, a full disk
            fail(os_error_line(exc), 1, exc)
        except Exception as exc:  # a bug: one line the user can report, not a traceback
            if interrupted(exc):  # Ctrl-C in a __set_name__, say, comes out as a RuntimeError it caused
                fail(ABORTED, INTERRUPTED, exc)
            hint = "" if OneLineErrors.debug else f" (--debug or {DEBUG_VARIABLE}=1 shows where)"
            fail(_aws_problem(exc) or f"internal error ({type(exc).__name__}: {exc}); please report it{hint}", 1,
                 exc)

    def make_context(self, info_name: str | None, args: list[str], parent: click.Context | None = None,
                     **extra: Any) -> click.Context:
        try:
            return super().make_context(info_name, args, parent, **extra)
        except KeyboardInterrupt as exc:  # while the options are read (a file opened, a path checked)
            raise Interrupted() from exc

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except KeyboardInterrupt as exc:
            raise Interrupted() from exc


def debug_from_env() -> bool:
    """PARKING_DEBUG=1 (or true, yes, on) asks for tracebacks; anything else, or unset, does not."""
    return os.environ.get(DEBUG_VARIABLE, "").strip().lower() in ("1", "true", "yes", "on")


def remember_debug(ctx: click.Context, param: click.Parameter, value: bool) -> bool:
    """The group's ``--debug`` callback: tracebacks from here on."""
    if value:
        OneLineErrors.debug = True
    return value


def _aws_problem(exc: BaseException) -> str | None:
    """What to set or check when AWS is why a command failed (parking/aws.py), else None."""
    from parking.aws import botocore_error, explain, service_failure
    from parking.config import Settings

    if botocore_error(exc) is None:  # botocore is imported only when it raised
        return None
    try:
        endpoint_url = Settings.from_environment().endpoint_url
    except ParkingError:
        endpoint_url = None
    return explain(exc, endpoint_url=endpoint_url) or service_failure(exc, endpoint_url)


def fail(message: str, code: int, exc: BaseException | None = None) -> NoReturn:
    """One line on stderr: the first non-blank line of the message (after the traceback, with --debug)."""
    close_terminals()  # a progress display is erased first, so the line stands alone
    if exc is not None and OneLineErrors.debug:
        traceback.print_exception(exc, file=sys.stderr)
    first = next((line for line in str(message).splitlines() if line.strip()), "failed")
    click.echo(f"Error: {first.strip()}", err=True)
    sys.exit(code)
