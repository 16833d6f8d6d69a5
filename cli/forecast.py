"""parking-cli forecast and forecast backtest (docs/METRICS.md section 8, "Forecast").

Registered on the group by ``cli/main.py``. Like every command,
each only parses, calls one library function (:func:`parking.queries.forecast`,
:func:`parking.queries.forecast_backtest`) and renders; bad options are one
line and exit 2 before any query runs.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import click

from parking.analytics.registry import DEFAULT_GROUPING, GROUPINGS
from parking.cli.context import cli_context, note_at_after_now
from parking.cli.options import ZONE, Integer, at_option, lookback_option, output_options, reuse_option
from parking.cli.output import show
from parking.cli.zones import zone_filter_option

MAX_HORIZON = 24  # parking.analytics.forecast.MAX_HORIZON; a test ties them
MAX_DAYS = 366  # parking.analytics.forecast.MAX_BACKTEST_DAYS
F = TypeVar("F", bound=Callable[..., Any])


def _by(command: F) -> F:
    return click.option("--by", type=click.Choice(GROUPINGS), default=DEFAULT_GROUPING, show_default=True,
                        help="Catalog column to group spots by.")(command)


def _refuse_options_before(ctx: click.Context, subcommand: str) -> None:
    """A usage error for an option typed before the subcommand: the subcommand takes its own, so it would be lost."""
    typed = [param for param in ctx.command.params
             if ctx.get_parameter_source(param.name or "") is click.core.ParameterSource.COMMANDLINE]
    if typed:
        names = ", ".join(param.opts[0] for param in typed)
        verb = "goes" if len(typed) == 1 else "go"
        raise click.UsageError(f"{names} {verb} after `{subcommand}`: parking-cli forecast {subcommand} "
                               f"{typed[0].opts[0]} ...", ctx)


def _hours(command: F) -> F:
    return click.option("--hours", type=Integer(1, MAX_HORIZON), default=6, show_default=True,
                        help=f"Hours ahead, 1-{MAX_HORIZON}.")(command)


def _tz(command: F) -> F:
    return click.option("--tz", "tz", type=ZONE, default="UTC", show_default=True,
                        help="IANA time zone whose clock the garage's week follows (the forecast's profile), "
                             "and to show hours in.")(command)


@click.group(invoke_without_command=True)
@reuse_option
@at_option
@_by
@zone_filter_option
@_hours
@_tz
@lookback_option
@output_options
@click.pass_context
def forecast(ctx, at, by, zones, hours, tz, lookback_hours, engine, data_dir, output_format) -> None:
    """Occupancy of each zone (level, bay type) for the next --hours hours, with an 80 % interval.

    The origin is --at (default now) taken down to its whole UTC hour; one row
    per group and hour ahead: the hour's start, occupancy_rate, low and high.
    With too little history to calibrate the interval (8 to 10 days), it is
    0-100 % and a line on stderr says so. `forecast backtest` measures the
    method against three baselines.
    """
    if ctx.invoked_subcommand is not None:
        _refuse_options_before(ctx, ctx.invoked_subcommand)
        return
    from parking import queries

    run = cli_context(ctx)
    now = run.now()
    frame = queries.forecast(at, by=by, zones=zones, hours=hours, tz=tz, lookback_hours=run.lookback(lookback_hours),
                             engine=run.query_engine(ctx, engine, data_dir), now=now)
    note_at_after_now(at, now, "the forecast starts from now's hour", hour=True)
    show(ctx, frame, output_format, "no spot of any group reported in the history the forecast reads")
    from parking.analytics.forecast import uncalibrated_note

    note = uncalibrated_note(frame)
    if note:
        click.echo(note, err=True)


@forecast.command("backtest")
@reuse_option
@at_option
@click.option("--days", type=Integer(1, MAX_DAYS), default=28, show_default=True,
              help="Days of origins before the end (--at floored to its hour).")
@_by
@zone_filter_option
@_hours
@_tz
@lookback_option
@output_options
@click.pass_context
def backtest(ctx, at, days, by, zones, hours, tz, lookback_hours, engine, data_dir, output_format) -> None:
    """Per horizon, the forecast's mean absolute error next to persistence, seasonal naive and profile.

    Origins are the whole hours of the --days days before --at (default now)
    floored to its hour; METRICS.md section 8 defines every column. --tz is
    the clock of the forecast's profile, as in `forecast`. Use --format csv
    for scripts.
    """
    from parking import queries

    run = cli_context(ctx)
    now = run.now()
    frame = queries.forecast_backtest(at, days=days, by=by, zones=zones, hours=hours, tz=tz,
                                      lookback_hours=run.lookback(lookback_hours),
                                      engine=run.query_engine(ctx, engine, data_dir), now=now)
    note_at_after_now(at, now, "the backtest ends at now's hour", hour=True)
    show(ctx, frame, output_format, "no origin had 14 days of history and an actual rate to compare with")
    if int(frame["origins"].sum()) == 0:
        click.echo("Nothing to compare: no origin had 14 days of history, an actual rate and every baseline.",
                   err=True)
