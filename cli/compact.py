"""``parking-cli compact``: closed UTC days rewritten from hourly JSON into daily Parquet.

A thin layer over :mod:`parking.lake.compaction`; ``--before`` is checked
against the lateness allowance before anything is read.
"""

from __future__ import annotations

from datetime import date, datetime, timezone

import click

from parking.cli.options import DATE, bucket_option
from parking.cli.progress import steps


def now() -> datetime:
    return datetime.now(timezone.utc)


@click.command()
@click.option("--before", type=DATE, default=None,
              help="Compact the UTC days before this date; at most (and by default) the day "
                   "PARKING_COMPACTION_LATENESS_DAYS (2) before today.")
@click.option("--data-dir", type=click.Path(file_okay=False), default=None,
              help="Local data lake root [env PARKING_DATA_DIR; default ./data].")
@bucket_option("Compact this S3 bucket instead of the local directory.")
@click.pass_context
def compact(ctx: click.Context, before: date | None, data_dir: str | None, bucket: str | None) -> None:
    """Rewrite each closed UTC day into one zstd Parquet file, sorted by spot and time.

    The JSON objects folded in move to parking-compacted-sources/. Every query
    gives the same answers before, during and after; running it again changes
    nothing; a run cut short is finished by the next. A day whose file is
    damaged is left as it is (exit 1, after the other days): `parking-cli lake
    check --repair` rebuilds it from its sources.
    """
    from parking.cli.main import check_lake, settings_for
    from parking.errors import CompactionError, ConfigurationError
    from parking.lake.compaction import LocalStore, S3Store, check_before
    from parking.lake.compaction import compact as compact_lake
    from parking.layout import DATA_PREFIX

    settings = settings_for(ctx, data_dir=data_dir)
    until = check_before(before, now(), settings.compaction_lateness_days)
    if settings.data_prefix != DATA_PREFIX:
        raise ConfigurationError(
            f"compaction reads only the default data prefix {DATA_PREFIX} (PARKING_DATA_PREFIX is "
            f"{settings.data_prefix}): its compacted days have one place, parking-compacted/, which every query reads"
        )
    if bucket:
        from parking.aws import check_session
        from parking.ingest.sinks import s3_client

        check_session(settings.region, settings.profile, "--bucket")  # what to set, before any request
        store = S3Store(bucket, s3_client(settings.region, settings.profile))
    else:
        check_lake(settings)  # a typo must not look like a lake with nothing to compact
        store = LocalStore(settings.data_dir)
    try:
        with steps("compact") as advance:
            report = compact_lake(store, until, data_prefix=settings.data_prefix, settings=settings,
                                  on_day=lambda day, done, total: advance(f"{day}", done, total))
    except CompactionError as error:  # the other days were compacted: say so, then the one line
        if getattr(error, "report", None) is not None:
            _print(store.where, error.report.as_dict())
        raise
    _print(store.where, report.as_dict())


def _print(where: str, report: dict) -> None:
    click.echo(
        f"compacted {where}: days before {report['before']}\n"
        f"  days compacted  {report['days_compacted']:>10,}\n"
        f"  events          {report['events']:>10,}\n"
        f"  lines read      {report['lines_read']:>10,}\n"
        f"  objects moved   {report['sources_moved']:>10,}  (to parking-compacted-sources/)"
    )
