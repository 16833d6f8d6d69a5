"""`parking-cli lake`: check and repair the lake; replay a batch the MSK trigger gave up on."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from parking.cli.context import check_aws, check_lake, cli_context, sink_for
from parking.cli.options import place_options
from parking.text import plural

LAKE_CHECK = "parking-cli lake check --repair"


@click.group()
def lake() -> None:
    """Storage maintenance: find and repair what breaks queries, replay failed batches."""


def _store(settings, bucket: str | None):
    """The lake to check, and the ingest path's sink its repairs write through (on S3: the settings')."""
    from parking.ingest.sinks import LocalSink, s3_sink_for
    from parking.lake.stores import LocalStore, S3Store

    if bucket:
        check_aws(settings)  # what to set, before any request
        sink = s3_sink_for(settings, bucket)
        return S3Store(bucket, sink.client), sink
    check_lake(settings)  # a typo must not look like a clean lake
    return LocalStore(settings.data_dir), LocalSink(settings.data_dir)


@lake.command("check")
@place_options("Check this S3 bucket instead of the local directory.")
@click.option("--repair", is_flag=True, help="Re-file what is valid, quarantine the rest (lake_* reasons), "
                                              "remove the bad objects; rebuild each bad compacted day from its "
                                              "sources.")
@click.pass_context
def check(ctx: click.Context, data_dir: str | None, bucket: str | None, repair: bool) -> None:
    """Report each object that is not what the ingester writes: empty, unreadable,
    invalid or blank lines, events in the wrong hour, lines not stored byte for
    byte as the ingester stores them, a bad name; and each file under the
    compacted tiers that is not what `compact` leaves: hidden, foreign,
    damaged, a day file lost or shortened against its kept sources.

    Exits 0 when the lake is clean (or everything found was repaired), 1 otherwise.
    """
    from parking.lake.check import check_lake

    settings = cli_context(ctx).settings(data_dir=data_dir)
    store, sink = _store(settings, bucket)
    report = check_lake(store, settings, repair=repair, sink=sink,
                        on_finding=lambda f: click.echo(f"{f.problem:<14} {f.key}: {f.detail}"))
    summary = f"checked {report.objects:,} objects in {store.where}: {len(report.bad_objects):,} not as the ingester writes"
    if repair:
        summary += (f"; repaired {report.repaired:,} (events re-filed {report.refiled:,}, "
                    f"records quarantined {report.quarantined:,})")
    click.echo(summary)
    if report.leftovers:
        done = f"removed {report.removed_leftovers:,}" if repair else "--repair removes them"
        click.echo(f"{plural(len(report.leftovers), 'temporary file')} a stopped writer left (not data: what they "
                   f"held is stored or will be redelivered): {done}")
    _say_in_progress(len(report.in_progress))
    compacted = _check_compacted(store, sink, settings, repair)
    left = len(report.bad_objects) - report.repaired + compacted
    if left:
        hint = f"; run `{LAKE_CHECK}`"
        if left == sum(key.startswith(settings.quarantine_prefix) for key in report.bad_objects):
            hint = (f" (listed above): objects under {settings.quarantine_prefix} are reported, never changed, "
                    "even by --repair; move them out by hand")
        elif repair:
            hint = f" after the repair (listed above); run `{LAKE_CHECK}` again"
        needs = "object needs" if left == 1 else "objects need"
        click.echo(f"Error: {left:,} {needs} attention{hint}", err=True)
        sys.exit(1)


def _say_in_progress(count: int) -> None:
    """A line for the temporary files of running writers (:func:`parking.lake.stores.in_progress`), if any."""
    if count:
        click.echo(f"{plural(count, 'temporary file')} of a running writer: work in progress, left alone")


def _check_compacted(store, sink, settings, repair: bool) -> int:
    """The compacted tiers' findings, printed, and with ``repair`` mended; how many are left."""
    from parking.lake.compaction.tier_check import check_compacted
    from parking.lake.stores import in_progress
    from parking.layout import COMPACTED_PREFIX, COMPACTED_SOURCES_PREFIX

    findings = check_compacted(store, settings)
    for finding in findings:
        hint = " (run `parking-cli compact` to finish it)" if finding.problem == "unfinished" and not repair else ""
        click.echo(f"{finding.problem:<14} {finding.key}: {finding.detail}{hint}")
    listed = [store.keys(prefix, hidden=True) for prefix in (COMPACTED_PREFIX, COMPACTED_SOURCES_PREFIX)]
    at_work = {key for keys in listed for key in keys if in_progress(store, key)}
    files, kept = (sum(key not in at_work for key in keys) for keys in listed)
    click.echo(f"checked {files:,} compacted day files and {kept:,} kept sources: "
               f"{len(findings):,} not as `compact` writes")
    _say_in_progress(len(at_work))
    if not repair or not findings:
        return len(findings)
    from parking.lake.check import repair_compacted_tier

    repaired = repair_compacted_tier(store, settings, findings=findings, sink=sink)
    click.echo(f"rebuilt {plural(len(repaired.days), 'compacted day')} from {'its' if len(repaired.days) == 1 else 'their'} sources; set aside "
               f"{plural(len(repaired.set_aside), 'file')} (quarantined whole, lake_compacted_* reasons)")
    if repaired.returned:
        click.echo(f"kept sources not as the ingester writes: {len(repaired.returned):,} (events re-filed "
                   f"{repaired.refiled:,}, records quarantined {repaired.quarantined:,}; run `parking-cli compact` "
                   "to fold the re-filed events in)")
    return len(check_compacted(store, settings))


@lake.command("replay-failed")
@click.argument("source")
@place_options("Ingest into this S3 bucket instead of the local directory.")
@click.pass_context
def replay_failed(ctx: click.Context, source: str, data_dir: str | None, bucket: str | None) -> None:
    """Ingest the batch an MSK on-failure SOURCE holds (a file, or s3://BUCKET/KEY)."""
    from parking.aws import explain
    from parking.errors import InputError
    from parking.ingest.failed import replay_failed_batch
    from parking.ingest.sinks import s3_client

    settings = cli_context(ctx).settings(data_dir=data_dir)
    sink, where = sink_for(settings, bucket)  # what to set for AWS, before the source is read
    if source.startswith("s3://"):
        source_bucket, _, key = source.removeprefix("s3://").partition("/")
        if not source_bucket or not key:
            raise click.BadParameter("an S3 source is s3://BUCKET/KEY", param_hint="SOURCE")
        from botocore.exceptions import BotoCoreError, ClientError

        check_aws(settings, "an s3:// SOURCE")
        try:
            body = s3_client(settings.region, settings.profile).get_object(Bucket=source_bucket, Key=key)["Body"].read()
        except (BotoCoreError, ClientError) as error:
            problem = explain(error, "an s3:// SOURCE", settings.endpoint_url)
            raise InputError(f"cannot read {source}: {problem or error}") from None
    else:
        if "\x00" in source:  # the operating system takes no path with one
            raise click.BadParameter(f"{source!r} holds a NUL character", param_hint="SOURCE")
        try:
            body = Path(source).read_bytes()
        except OSError as error:
            raise click.BadParameter(f"cannot read {source}: {error.strerror}", param_hint="SOURCE") from None
    result = replay_failed_batch(body, sink, settings)
    click.echo(f"replayed {result.records_in:,} records into {where}: {result.stored:,} stored, "
               f"{result.quarantined:,} quarantined")
