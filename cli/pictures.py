"""parking-cli's pictures and pages: `plot patterns`, `plot occupancy` (and `plot availability`,
cli/zones.py) and the HTML `report`.

Each runs its queries on the invocation's engine, then writes one file; with
nothing observed it writes none and exits 3 (:func:`parking.cli.output.nothing_to_draw`).
"""

from __future__ import annotations

import click

from parking.cli.context import cli_context
from parking.cli.options import (
    DATE,
    PictureFile,
    check_range,
    engine_options,
    lookback_option,
    picture_option,
    range_options,
    reuse_option,
    zone_option,
)
from parking.cli.output import nothing_to_draw, write_picture
from parking.cli.progress import steps
from parking.cli.zones import plot_availability, zone_filter_option, zones_suffix


@click.group()
def plot() -> None:
    """Draw a query's answer as a picture: PNG, SVG or PDF, by the --out file's suffix."""


@plot.command("patterns")
@reuse_option
@range_options
@zone_option
@lookback_option
@zone_filter_option
@picture_option
@engine_options
@click.pass_context
def plot_patterns(ctx, first, last, tz, lookback_hours, zones, out, engine, data_dir) -> None:
    """Heatmap of occupancy by weekday and hour, --from to --to."""
    from parking import queries
    from parking.analytics.plots import patterns_heatmap
    from parking.cli.render import nothing_observed

    check_range(first, last)
    run = cli_context(ctx)
    frame = queries.patterns(first, last, tz=tz, lookback_hours=run.lookback(lookback_hours), zones=zones,
                             engine=run.query_engine(ctx, engine, data_dir), now=run.now())
    if nothing_observed(frame):
        nothing_to_draw("no spot's state was known in that window")
    title = f"Occupancy by weekday and hour, {first} to {last} ({tz}){zones_suffix(zones)}"
    click.echo(f"wrote {write_picture(patterns_heatmap(frame, title), out)}")


@plot.command("occupancy")
@reuse_option
@click.option("--date", "day", type=DATE, required=True, help="Day to draw (YYYY-MM-DD).")
@zone_option
@lookback_option
@zone_filter_option
@picture_option
@engine_options
@click.pass_context
def plot_occupancy(ctx, day, tz, lookback_hours, zones, out, engine, data_dir) -> None:
    """Bars of one day's hourly occupancy, 0-100 %."""
    from parking import queries
    from parking.analytics.plots import occupancy_bars
    from parking.cli.render import nothing_observed

    run = cli_context(ctx)
    frame = queries.occupancy(day, tz=tz, lookback_hours=run.lookback(lookback_hours), zones=zones,
                              engine=run.query_engine(ctx, engine, data_dir), now=run.now())
    if nothing_observed(frame):
        nothing_to_draw("no spot's state was known in any hour of that day")
    title = f"Hourly occupancy, {day} ({tz}){zones_suffix(zones)}"
    click.echo(f"wrote {write_picture(occupancy_bars(frame, title), out)}")


plot.add_command(plot_availability)


@click.command()
@reuse_option
@range_options
@zone_option
@lookback_option
@click.option("--out", type=PictureFile(("html",)), required=True, help="HTML file to write (its folder must exist).")
@engine_options
@click.pass_context
def report(ctx, first, last, tz, lookback_hours, out, engine, data_dir) -> None:
    """One self-contained HTML page on --from to --to, to open or mail on.

    A summary first (the busiest hour, the fullest zones, stays to enforce
    and sensors to check, the last 7 days against the 7 before), then
    availability and occupancy by zone and level (fullest first), this week
    against last week, the weekday x hour heatmap, the last day's hourly
    curve, the best- and worst-used bays, turnover and dwell (and by zone),
    the overstays and the sensors to check. Days are local days of --tz.
    Pictures are embedded: no network needed. Progress shows on a terminal.
    """
    from parking.analytics.report import build_report, check_report_window, write_report

    check_range(first, last)
    check_report_window(first, last)
    run = cli_context(ctx)
    with steps("report") as advance:
        content = build_report(first, last, tz=tz, lookback_hours=run.lookback(lookback_hours),
                               engine=run.query_engine(ctx, engine, data_dir), now=run.now(), on_step=advance)
    if not content.observed:
        nothing_to_draw("no spot's state was known in that window")
    click.echo(f"wrote {write_report(content, out)}")


COMMANDS = (plot, report)
