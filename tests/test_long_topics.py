"""Every legal Kafka topic lands, locally and on S3, under names `lake check` reads (docs/CHOICES.md, "Where events land")."""

from __future__ import annotations

import gzip
import json
import os
from pathlib import Path

import pytest
from click.testing import CliRunner

from parking.cli.main import cli
from parking.ingest.batch import ingest_batch
from parking.ingest.sinks import LocalSink, MemorySink
from parking.lake.check import check_lake
from parking.lake.stores import LocalStore
from parking.layout import MAX_NAME_TOPIC, MAX_PARTITION, name_source_topic, name_topic, parse_name
from parking.state.stores import STATE_DIR
from tests.conftest import NOW, batch, event

LONGEST = "t" * 249  # Kafka's longest topic name
TOPICS = {
    "the longest legal topic": LONGEST,
    "longest, starting with _": "_" + "x" * 248,
    "longest, starting with .": "." + "y" * 248,
    "longest, every character Kafka allows": ("aZ09._-" * 36)[:249],
    "at the bound": "b" * MAX_NAME_TOPIC,
    "one over the bound": "c" * (MAX_NAME_TOPIC + 1),
    "short": "parking-events",
}
ids, topics = list(TOPICS), list(TOPICS.values())
NAME_MAX = os.pathconf("/", "PC_NAME_MAX") if hasattr(os, "pathconf") else 255


def files(root: Path) -> list[Path]:
    """The objects ingest wrote (not the current-state table beside them, parking-state/)."""
    return sorted(p for p in root.rglob("*") if p.is_file() and STATE_DIR not in p.relative_to(root).parts)


@pytest.mark.parametrize("topic", topics, ids=ids)
def test_a_file_load_of_any_topic_lands_and_checks_clean(tmp_path: Path, topic: str) -> None:
    source = tmp_path / "events.jsonl"
    big = json.dumps(event(spot="BIG", padding="x" * 70_000))  # over the limit: a *.value.gz object too
    source.write_text("\n".join([json.dumps(event()), "not json", big]) + "\n")
    data = tmp_path / "data"
    result = CliRunner().invoke(cli, ["ingest", str(source), "--data-dir", str(data), "--topic", topic])
    assert result.exit_code == 1, result.output  # two of three quarantined: mostly rejected, but all written
    assert "records in              3" in result.output and "stored                  1" in result.output
    written = files(data)
    assert {p.name.rsplit("+", 1)[1].split(".", 1)[1] for p in written} == {"json.gz", "value.gz"}
    assert all(len(p.name.encode()) <= min(NAME_MAX, 247) for p in written)
    assert all(parse_name(p.name)["topic"] == name_topic(topic) for p in written)
    assert check_lake(LocalStore(data), now=NOW).clean


@pytest.mark.parametrize("topic", topics, ids=ids)
def test_consumer_batches_of_any_topic_land_at_the_largest_partition_and_offsets(tmp_path: Path, topic: str) -> None:
    """The longest name: longest topic, an int32 partition, 19-digit offsets, valid and quarantined records."""
    offset = 10**18 - 5
    msk = batch([event(timestamp="2024-03-20T10:00:00Z"), event(timestamp="2024-03-20T11:00:00Z"), b"junk"],
                topic=topic, partition=MAX_PARTITION, first_offset=offset)
    result = ingest_batch(msk, LocalSink(tmp_path), now=NOW)
    assert (result.stored, result.quarantined, result.objects_written) == (2, 1, 3)
    report = check_lake(LocalStore(tmp_path), now=NOW)
    assert (report.objects, report.clean) == (3, True)
    assert max(len(p.name.encode()) for p in files(tmp_path)) <= 247


def test_the_s3_sink_writes_the_same_names(tmp_path: Path) -> None:
    import boto3
    from moto import mock_aws

    from parking.ingest.sinks import S3Sink
    from parking.lake.stores import S3Store

    msk = batch([event(), b"junk"], topic=LONGEST, partition=3, first_offset=7)
    ingest_batch(msk, LocalSink(tmp_path), now=NOW)
    with mock_aws():
        s3 = boto3.client("s3", region_name="eu-west-1")
        s3.create_bucket(Bucket="lake", CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
        sink = S3Sink("lake", s3)
        ingest_batch(msk, sink, now=NOW)
        keys = sorted(o["Key"] for o in s3.list_objects_v2(Bucket="lake")["Contents"])
        assert check_lake(S3Store("lake", s3), sink=sink, now=NOW).clean
    assert keys == sorted(str(p.relative_to(tmp_path)) for p in files(tmp_path))


def test_long_topics_sharing_a_head_name_apart() -> None:
    first, second = "h" * 200 + "-garage-a", "h" * 200 + "-garage-b"
    assert name_topic(first) != name_topic(second)
    assert len(name_topic(first)) == len(name_topic(second)) == MAX_NAME_TOPIC


@pytest.mark.parametrize("topic", topics, ids=ids)
def test_a_name_label_stands_for_a_topic_that_names_itself_again(topic: str) -> None:
    """Lake repair re-files what a shortened name holds under the same label, as a legal topic."""
    label = name_topic(topic)
    assert name_topic(name_source_topic(label)) == label
    if len(topic) <= MAX_NAME_TOPIC - topic.startswith(("_", ".")):
        assert name_source_topic(label) == topic


def test_repair_refiles_a_shortened_name_under_its_own_label(tmp_path: Path) -> None:
    sink = MemorySink()
    ingest_batch(batch([event(timestamp="2024-03-20T11:15:00Z")], topic=LONGEST), sink, now=NOW)
    [(key, body)] = sink.objects.items()
    misfiled = tmp_path / key.replace("hour=11", "hour=10")
    misfiled.parent.mkdir(parents=True)
    misfiled.write_bytes(body)
    report = check_lake(LocalStore(tmp_path), repair=True, now=NOW)
    assert (report.repaired, report.refiled) == (1, 1)
    [stored] = files(tmp_path)
    assert str(stored.relative_to(tmp_path)).startswith("parking-data/year=2024/month=03/day=20/hour=11/")
    assert parse_name(stored.name)["topic"] == name_topic(LONGEST)
    assert gzip.decompress(stored.read_bytes()) == gzip.decompress(body)
