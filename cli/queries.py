"""parking-cli's questions about the lake (docs/METRICS.md sections 4-6): status, occupancy,
utilization, patterns, turnover, dwell and sensor health.

Each command parses, calls one :mod:`parking.queries` function on the
invocation's engine (:mod:`parking.cli.context`) and renders its answer.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

from parking.analytics.registry import FLAPPING_CHANGES, STUCK_HOURS
from parking.cli.context import cli_context, note_at_after_now
from parking.cli.options import (
    DATE,
    MAX_CHANGES,
    POSITIVE_HOURS,
    ZONE,
    Integer,
    at_option,
    check_range,
    lookback_option,
    output_options,
    range_options,
    reuse_option,
    zone_option,
)
from parking.cli.output import in_zone, show
from parking.cli.zones import grouping_options
from parking.text import plural

if TYPE_CHECKING:
    import pandas as pd


def status_counts(frame: pd.DataFrame) -> str:
    """The line under the status table: spots free, occupied and stale (state unknown)."""
    stale = int(frame["stale"].sum())
    known = frame[~frame["stale"]]
    free = int((known["status"] == "free").sum())
    occupied = int((known["status"] == "occupied").sum())
    return f"{plural(len(frame), 'spot')}: {free:,} free, {occupied:,} occupied, {stale:,} stale (state unknown)"


@click.command()
@reuse_option
@at_option
@click.option("--tz", "tz", type=ZONE, default="UTC", show_default=True, help="IANA time zone to show times in.")
@lookback_option
@output_options
@click.pass_context
def status(ctx, at, tz, lookback_hours, engine, data_dir, output_format) -> None:
    """Current status of every spot seen in the 7 days up to --at."""
    run = cli_context(ctx)
    frame = run.answer_now(ctx, "status", at, lookback_hours, engine, data_dir)
    if run.format_for(output_format) == "table":  # CSV and JSON keep section 4's columns as they are
        frame = stale_as_unknown(frame)
    show(ctx, in_zone(frame, tz), output_format, "no spot reported in the 7 days before that instant",
         footer=status_counts(frame))


def stale_as_unknown(frame: pd.DataFrame) -> pd.DataFrame:
    """The status table for people: a stale spot's state is unknown (METRICS.md section 4), so its status says so."""
    shown = frame.copy()
    shown["status"] = shown["status"].mask(shown["stale"].astype(bool), "unknown")
    return shown


@click.command()
@reuse_option
@click.option("--date", "day", type=DATE, required=True, help="Day to report (YYYY-MM-DD).")
@zone_option
@lookback_option
@grouping_options
@output_options
@click.pass_context
def occupancy(ctx, day, tz, lookback_hours, by, zones, engine, data_dir, output_format) -> None:
    """Hourly occupancy rate of one day."""
    from parking import queries

    run = cli_context(ctx)
    frame = queries.occupancy(day, tz=tz, lookback_hours=run.lookback(lookback_hours), by=by, zones=zones,
                              engine=run.query_engine(ctx, engine, data_dir), now=run.now())
    show(ctx, frame, output_format, "no spot's state was known in any hour of that day")


@click.command()
@reuse_option
@range_options
@lookback_option
@grouping_options
@output_options
@click.pass_context
def utilization(ctx, first, last, lookback_hours, by, zones, engine, data_dir, output_format) -> None:
    """Share of observed time each spot was occupied, --from to --to (UTC days)."""
    from parking import queries

    check_range(first, last)
    run = cli_context(ctx)
    frame = queries.utilization(first, last, lookback_hours=run.lookback(lookback_hours), by=by, zones=zones,
                                engine=run.query_engine(ctx, engine, data_dir), now=run.now())
    show(ctx, frame, output_format, "no spot was observed in that window")


def zoned_window_command(name: str, summary: str, empty: str) -> click.Command:
    """A query over local days --from to --to; patterns, turnover and dwell differ only in name."""

    @click.command(name, help=summary)
    @reuse_option
    @range_options
    @zone_option
    @lookback_option
    @grouping_options
    @output_options
    @click.pass_context
    def command(ctx, first, last, tz, lookback_hours, by, zones, engine, data_dir, output_format) -> None:
        from parking import queries

        check_range(first, last)
        run = cli_context(ctx)
        query = getattr(queries, name)
        frame = query(first, last, tz=tz, lookback_hours=run.lookback(lookback_hours), by=by, zones=zones,
                      engine=run.query_engine(ctx, engine, data_dir), now=run.now())
        show(ctx, frame, output_format, empty)

    return command


patterns = zoned_window_command("patterns", "Occupancy by weekday and hour of day over --from to --to.",
                                "no spot's state was known in that window")
turnover = zoned_window_command("turnover", "Arrivals per spot and per observed day, --from to --to.",
                                "no spot was observed in that window")
dwell = zoned_window_command("dwell", "How long cars stayed (minutes) per spot, --from to --to.",
                             "no complete parking session in that window")


@click.command()
@reuse_option
@at_option
@lookback_option
@click.option("--silent-hours", type=POSITIVE_HOURS, default=None,
              help="Flag 'silent' above this many hours without an event [default: the lookback].")
@click.option("--flapping-changes", type=Integer(1, MAX_CHANGES), default=FLAPPING_CHANGES, show_default=True,
              help="Flag 'flapping' at this many arrivals and departures in 24 hours.")
@click.option("--stuck-hours", type=POSITIVE_HOURS, default=STUCK_HOURS, show_default=True,
              help="Flag 'stuck' when occupied without a break for longer.")
@click.option("--flagged", is_flag=True, help="Only the sensors with a flag: the ones that need a visit.")
@click.option("--tz", "tz", type=ZONE, default="UTC", show_default=True, help="IANA time zone to show times in.")
@output_options
@click.pass_context
def health(ctx, at, lookback_hours, silent_hours, flapping_changes, stuck_hours, flagged, tz, engine, data_dir,
           output_format):
    """Sensor health of every spot seen in the 30 days up to --at."""
    from parking import queries

    run = cli_context(ctx)
    hours = run.lookback(lookback_hours)
    query_engine = run.query_engine(ctx, engine, data_dir)
    now = run.now()
    frame = queries.health(at, lookback_hours=hours, silent_hours=silent_hours, flapping_changes=flapping_changes,
                           stuck_hours=stuck_hours, engine=query_engine, now=now)
    note_at_after_now(at, now)
    if flagged:
        frame = queries.flagged(frame)
    show(ctx, in_zone(frame, tz), output_format,
         "no sensor has a flag" if flagged else "no spot reported in the 30 days before that instant")


COMMANDS = (status, occupancy, utilization, patterns, turnover, dwell, health)
