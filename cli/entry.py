"""``parking-cli``'s console entry point: Ctrl-C at any moment, while the CLI's modules load too, is one line.

The console script imports its entry point before it calls it. When that was
:mod:`parking.cli.main`, whose imports (click, every command's module) take
0.1-0.2 s, a Ctrl-C in that time printed a KeyboardInterrupt traceback and the
process died by SIGINT. This module imports nothing until :func:`main` runs,
and :func:`main` loads the CLI inside its own handling of Ctrl-C.

Python hides a Ctrl-C in two places, both met while modules load: raised in a
``__set_name__`` it comes out as a RuntimeError caused by it (Python 3.11), and
raised in a finalizer (``__del__``, a generator's close) it is printed as
"Exception ignored" and dropped, and the command carries on. The first is
recognised by its cause (:func:`interrupted`); the second is sent again
(:func:`_sent_again`).
"""

import sys  # loaded by Python's start-up already; nothing else here, so nothing comes before main's handling

#: The exit status of a command stopped by Ctrl-C: 128 + SIGINT, as a shell reports it.
INTERRUPTED = 130
#: What a command stopped by Ctrl-C says, after ``Error: ``.
ABORTED = "aborted"
#: Seconds after a Ctrl-C dropped in a finalizer until it is sent again (by then the finalizer has returned).
RESEND_SECONDS = 0.02


def interrupted(exc: BaseException | None) -> bool:
    """Whether ``exc`` is a Ctrl-C, or was caused by one (a RuntimeError from ``__set_name__``, say)."""
    seen: set[int] = set()
    while exc is not None and id(exc) not in seen:
        if isinstance(exc, KeyboardInterrupt):
            return True
        seen.add(id(exc))
        exc = exc.__cause__ or exc.__context__
    return False


def _sent_again(unraisable: "sys.UnraisableHookArgs") -> None:
    """``sys.unraisablehook``: a Ctrl-C Python dropped in a finalizer is sent again, from a helper thread, once the
    finalizer has returned (raised here, it would be dropped too); anything else is reported as Python does.

    The thread is started without waiting for it (``threading.Thread.start``
    waits, and its Ctrl-C could then come while this hook still runs).
    """
    if not interrupted(unraisable.exc_value):
        sys.__unraisablehook__(unraisable)
        return
    import _thread
    import os
    import signal
    import time

    def again() -> None:
        time.sleep(RESEND_SECONDS)
        os.kill(os.getpid(), signal.SIGINT)

    _thread.start_new_thread(again, ())


def main(prog_name: str | None = None) -> object:
    """Run ``parking-cli``; a Ctrl-C before its own handling takes over (or after it) is its one line, exit 130."""
    sys.unraisablehook = _sent_again
    try:
        from parking.cli.main import cli

        return cli(prog_name=prog_name)
    except BaseException as exc:
        if isinstance(exc, SystemExit) or not interrupted(exc):
            raise
        sys.stderr.write(f"Error: {ABORTED}\n")
        sys.stderr.flush()
        sys.exit(INTERRUPTED)
