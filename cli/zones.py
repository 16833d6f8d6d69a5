"""parking-cli commands of docs/METRICS.md section 7: the spot catalog, availability,
overstays, zone alerts and the availability plot.

Registered on the group by ``cli/main.py``. Like every command, each only
parses, calls one library function and renders; the query side's libraries
load inside the commands.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any, TypeVar

import click

from parking.analytics.registry import DEFAULT_GROUPING, DEFAULT_THRESHOLD, GROUPINGS
from parking.cli.context import check_aws, cli_context, note_at_after_now
from parking.cli.options import (
    Integer,
    LocalPath,
    Number,
    at_option,
    engine_options,
    format_options,
    lookback_option,
    output_options,
    picture_option,
    place_options,
    reuse_option,
)
from parking.cli.output import nothing_to_draw, show, write_picture

F = TypeVar("F", bound=Callable[..., Any])
ALERT_EXIT = 3  # alerts: at least one group at or above the threshold


def by_option(command: F) -> F:
    return click.option(
        "--by", type=click.Choice(GROUPINGS), default=DEFAULT_GROUPING, show_default=True,
        help="Catalog column to group spots by.",
    )(command)


def grouping_options(command: F) -> F:
    """--by and --zone for occupancy, utilization, patterns, turnover and dwell (section 7)."""
    command = zone_filter_option(command)
    return click.option(
        "--by", type=click.Choice(GROUPINGS), default=None,
        help="One row per zone, level or bay type of the spot catalog; uncatalogued spots form the empty (null) group.",
    )(command)


def zone_filter_option(command: F) -> F:
    return click.option(
        "--zone", "zones", multiple=True, metavar="NAME",
        help="Keep only the catalog's spots of this zone (repeat for several).",
    )(command)


def zones_suffix(zones: tuple[str, ...]) -> str:
    """What a plot's title adds for --zone."""
    return f", zone {', '.join(zones)}" if zones else ""


def _where(data_dir: str | None, bucket: str | None) -> Any:
    """The catalog store: the bucket when one is named, else the data directory."""
    from parking.analytics.catalog import CatalogStore

    settings = cli_context().settings(data_dir=data_dir)
    if bucket:
        from parking.ingest.sinks import s3_client

        check_aws(settings)  # what to set, before any request
        return CatalogStore(bucket=bucket, client=s3_client(settings.region, settings.profile))
    return CatalogStore(settings.data_dir)


catalog_place = place_options("The catalog beside the data in this S3 bucket instead.")


@click.group()
def spots() -> None:
    """The spot catalog: where each spot is (zone, level) and what it is (bay type, maximum stay)."""


@spots.command("load")
@click.argument("file", type=LocalPath(dir_okay=False, exists=True))
@catalog_place
def spots_load(file: str, data_dir: str | None, bucket: str | None) -> None:
    """Validate FILE.csv and make it the catalog in force.

    The header names spot_id and zone, and optionally level, bay_type,
    max_stay_minutes and a position (lat and lon, x and y). A bad file is rejected whole, naming its line; the
    catalog in force then stays as it was.
    """
    from parking.analytics.catalog import load_file

    store = _where(data_dir, bucket)
    rows = load_file(file, store)
    zones = len({row.zone for row in rows})
    limited = sum(1 for row in rows if row.max_stay_minutes is not None)
    click.echo(f"loaded {len(rows):,} spots in {zones:,} zones ({limited:,} with a maximum stay) into {store.where}")
    if bucket is None and athena_is_the_engine():
        click.echo("Warning: PARKING_ENGINE is athena, which reads the catalog from the bucket "
                   "(s3://BUCKET/parking-catalog/spots.csv), not from this directory: "
                   "load it there with --bucket NAME.", err=True)


def athena_is_the_engine() -> bool:
    """Whether queries would run on Athena (PARKING_ENGINE); a bad setting is reported when a query runs."""
    from parking.errors import ConfigurationError

    try:
        return cli_context().settings().engine == "athena"
    except ConfigurationError:
        return False


@spots.command("show")
@catalog_place
@format_options
@click.pass_context
def spots_show(ctx: click.Context, data_dir: str | None, bucket: str | None, output_format: str | None) -> None:
    """Print the catalog in force."""
    import pandas as pd

    from parking.analytics.catalog import COLUMNS, rows_of

    store = _where(data_dir, bucket)
    if store.data_dir is not None and not store.data_dir.is_dir():  # a typo must not look like "no catalog"
        from parking.errors import ConfigurationError

        raise ConfigurationError(f"data directory {str(store.data_dir)!r} does not exist (set --data-dir or PARKING_DATA_DIR)")
    rows = store.read()
    frame = pd.DataFrame(list(rows_of(rows or [])), columns=list(COLUMNS), dtype=object)
    frame = frame.astype({"spot_id": "string", "zone": "string", "level": "string", "bay_type": "string",
                          "max_stay_minutes": object})  # None where there is no limit, shown as "-"
    show(ctx, frame, output_format, "no catalog loaded" if rows is None else "the catalog is empty")


@click.command()
@reuse_option
@at_option
@by_option
@lookback_option
@output_options
@click.pass_context
def availability(ctx, at, by, lookback_hours, engine, data_dir, output_format) -> None:
    """Bays occupied, free and unknown per zone (level, bay type) at --at."""
    run = cli_context(ctx)
    frame = run.answer_now(ctx, "availability", at, lookback_hours, engine, data_dir, by=by)
    show(ctx, frame, output_format, nothing_known(frame, run.query_engine(ctx, engine, data_dir),
                                                   run.lookback(lookback_hours)))


def nothing_known(frame: Any, engine: Any, lookback_hours: float) -> str:
    """What is the case when availability knows no bay's state (docs/METRICS.md section 7).

    No rows: no catalogued spot and no spot reported in the 7 days; the local
    engine tells a missing catalog from an empty one. Rows that are all
    unknown: no spot reported within the lookback.
    """
    if not frame.empty:
        bays = int(frame["capacity"].sum())
        every = "the one bay is" if bays == 1 else f"all {bays:,} bays are"
        return (f"{every} unknown: no spot reported in the {lookback_hours:g} hours "
                "(--lookback) before that instant")
    loaded = _has_catalog(engine)
    catalog = {None: "no catalog loaded, or an empty one", True: "the catalog is empty", False: "no catalog loaded"}
    return f"{catalog[loaded]}, and no spot reported in the 7 days before that instant"


def _has_catalog(engine: Any) -> bool | None:
    """Whether a catalog is loaded where the local engine reads; None when the engine cannot tell (Athena)."""
    data_dir = getattr(engine, "data_dir", None)
    if getattr(engine, "name", None) != "local" or data_dir is None:
        return None
    from parking.analytics.catalog import CatalogStore

    return CatalogStore(data_dir).path.is_file()


@click.command()
@reuse_option
@at_option
@lookback_option
@output_options
@click.pass_context
def overstays(ctx, at, lookback_hours, engine, data_dir, output_format) -> None:
    """The enforcement list: cars parked longer than their bay's maximum stay at --at.

    The table keeps two lists apart: stays to enforce (the sensor looks
    healthy) and stays whose sensor health flags it, to check the sensor
    first. CSV and JSON give one list with its sensor_flags column.
    """
    from parking import queries

    run = cli_context(ctx)
    query_engine = run.query_engine(ctx, engine, data_dir)
    frame = run.answer_now(ctx, "overstays", at, lookback_hours, engine, data_dir)
    if frame.empty or run.format_for(output_format) != "table":
        show(ctx, frame, output_format, "no car has overstayed" if _has_catalog(query_engine) is not False
             else "no catalog loaded, so no bay has a maximum stay")
        return
    click.echo(overstays_tables(queries.to_enforce(frame), queries.to_check(frame)))


def overstays_tables(enforce: Any, check: Any) -> str:
    """The overstays table for people: to enforce, then to check the sensor (METRICS.md section 7's sensor_flags)."""
    from parking.cli.render import render

    parts = [f"To enforce: {len(enforce):,} (the sensor looks healthy)"]
    parts.append(render(enforce.drop(columns="sensor_flags"), "table") if len(enforce) else "  none")
    parts.append("")
    parts.append(f"To check the sensor: {len(check):,} (sensor health flags it; the stay may be the sensor's fault)")
    parts.append(render(check, "table") if len(check) else "  none")
    return "\n".join(parts)


@click.command()
@reuse_option
@at_option
@click.option("--threshold", type=Number(0, 1), default=DEFAULT_THRESHOLD, show_default=True,
              help="Occupancy rate (0-1) at or above which a group is listed.")
@by_option
@click.option("--ahead", type=Integer(1, 24), default=None, metavar="HOURS",
              help="Also the groups forecast to reach --threshold within HOURS (1-24) hours, "
                   "with the hour they reach it (forecast).")
@lookback_option
@output_options
@click.pass_context
def alerts(ctx, at, threshold, by, ahead, lookback_hours, engine, data_dir, output_format) -> None:
    """Zones (levels, bay types) at or above --threshold occupancy at --at.

    With --ahead HOURS, also those forecast to reach it within that many hours.
    Exit status 0 when none is, 3 when any is (1: a failure, 2: a bad argument),
    so cron and monitoring scripts can act on it.
    """
    from parking import queries

    run = cli_context(ctx)
    if ahead:  # the forecast reads the events
        hours = run.lookback(lookback_hours)
        query_engine = run.query_engine(ctx, engine, data_dir)
        now = run.now()
        frame = queries.alerts(at, threshold=threshold, by=by, ahead=ahead, lookback_hours=hours,
                               engine=query_engine, now=now)
        note_at_after_now(at, now)
    else:
        frame = run.answer_now(ctx, "alerts", at, lookback_hours, engine, data_dir, threshold=threshold, by=by)
    show(ctx, frame, output_format, f"no {by} at or above {threshold:.0%} occupancy",
         no_rows=f"No {by} at or above {threshold * 100:g}% occupancy.")
    if not frame.empty:
        sys.exit(ALERT_EXIT)


@click.command("availability")
@reuse_option
@at_option
@by_option
@lookback_option
@picture_option
@engine_options
@click.pass_context
def plot_availability(ctx, at, by, lookback_hours, out, engine, data_dir) -> None:
    """Stacked bars of occupied, free and unknown bays per zone (level, bay type) at --at."""
    from parking import queries
    from parking.analytics.plots import availability_bars
    from parking.cli.render import nothing_observed

    run = cli_context(ctx)
    hours = run.lookback(lookback_hours)
    query_engine = run.query_engine(ctx, engine, data_dir)
    now = run.now()
    instant = min(at or now, now)
    frame = queries.availability(instant, by=by, lookback_hours=hours, engine=query_engine, now=now)
    note_at_after_now(at, now)
    if nothing_observed(frame):
        nothing_to_draw(nothing_known(frame, query_engine, hours))
    title = f"Bays by {by.replace('_', ' ')} at {instant:%Y-%m-%d %H:%M} UTC"
    click.echo(f"wrote {write_picture(availability_bars(frame, by, title), out)}")
