"""``parking-cli compact``: closed UTC days, then closed hours, rewritten from JSON into Parquet.

A thin layer over :mod:`parking.lake.compaction`; ``--before`` is checked
against the lateness allowance before anything is read.
"""

from __future__ import annotations

from datetime import date, datetime, timezone

import click

from parking.cli.context import check_aws, check_lake, cli_context
from parking.cli.options import DATE, place_options
from parking.cli.progress import steps


def now() -> datetime:
    return datetime.now(timezone.utc)


@click.command()
@click.option("--before", type=DATE, default=None,
              help="Compact the UTC days before this date; at most (and by default) the day "
                   "PARKING_COMPACTION_LATENESS_DAYS (2) before today.")
@place_options("Compact this S3 bucket instead of the local directory.")
@click.pass_context
def compact(ctx: click.Context, before: date | None, data_dir: str | None, bucket: str | None) -> None:
    """Rewrite each closed UTC day, then each closed hour, into one zstd Parquet file sorted by spot and time.

    A day is closed PARKING_COMPACTION_LATENESS_DAYS (2) after it ended, an
    hour PARKING_COMPACTION_HOUR_LATENESS_MINUTES (10) after; a day folds its
    hour files. The JSON objects folded in are kept under
    parking-compacted-sources/ and removed from parking-data/ (with the files
    a newer one holds) once PARKING_COMPACTION_REMOVAL_DELAY_MINUTES have
    passed (default 60 on a bucket, longer than any Athena query runs; 0
    locally). Every query gives the same answers before, during and after;
    running it again changes nothing; a run cut short is finished by the
    next. A day whose file is damaged is left as it is (exit 1, after the
    other days): `parking-cli lake check --repair` rebuilds it from its
    sources.
    """
    from parking.errors import CompactionError, ConfigurationError
    from parking.lake.compaction.protocol import compact as compact_lake
    from parking.lake.compaction.schedule import check_before, latest_hour_before
    from parking.lake.stores import LocalStore, S3Store
    from parking.layout import DATA_PREFIX

    settings = cli_context(ctx).settings(data_dir=data_dir)
    at = now()
    until = check_before(before, at, settings.compaction_lateness_days)
    hours_before = latest_hour_before(at, settings.compaction_hour_lateness_minutes)
    if settings.data_prefix != DATA_PREFIX:
        raise ConfigurationError(
            f"compaction reads only the default data prefix {DATA_PREFIX} (PARKING_DATA_PREFIX is "
            f"{settings.data_prefix}): its compacted days have one place, parking-compacted/, which every query reads"
        )
    if bucket:
        from parking.ingest.sinks import s3_client

        check_aws(settings)  # what to set, before any request
        store: S3Store | LocalStore = S3Store(bucket, s3_client(settings.region, settings.profile))
    else:
        check_lake(settings)  # a typo must not look like a lake with nothing to compact
        store = LocalStore(settings.data_dir)
    try:
        with steps("compact") as advance:
            report = compact_lake(store, until, hours_before=hours_before, data_prefix=settings.data_prefix,
                                  settings=settings, now=at, removal_delay=settings.removal_delay(on_s3=bool(bucket)),
                                  on_day=lambda what, done, total: advance(f"{what}", done, total))
    except CompactionError as error:  # the other days were compacted: say so, then the one line
        if error.report is not None:
            _print(store.where, error.report.as_dict())
        raise
    _print(store.where, report.as_dict())


def _print(where: str, report: dict) -> None:
    click.echo(
        f"compacted {where}: days before {report['before']}, hours before {report['hours_before']}\n"
        f"  days compacted  {report['days_compacted']:>10,}\n"
        f"  hours compacted {report['hours_compacted']:>10,}\n"
        f"  events          {report['events']:>10,}\n"
        f"  lines read      {report['lines_read']:>10,}\n"
        f"  objects kept    {report['sources_kept']:>10,}  (copied to parking-compacted-sources/)\n"
        f"  objects removed {report['sources_moved']:>10,}  (from parking-data/: a compacted file holds them)\n"
        f"  files removed   {report['parquet_removed']:>10,}  (a newer file holds them)"
    )
