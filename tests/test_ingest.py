"""Batches in, objects out: docs/METRICS.md section 2."""

from __future__ import annotations

import base64
import gzip
import json
from datetime import datetime, timezone

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from parking.config import Settings
from parking.errors import SinkWriteError
from parking.ingest.batch import ingest_batch
from parking.ingest.msk import PartitionRecords, msk_event, msk_record
from parking.ingest.sinks import LocalSink, MemorySink
from parking.layout import location_template, parse_name
from tests.conftest import NOW, batch, event, merge, read_lines

DATA = "parking-data/"
QUARANTINE = "parking-quarantine/"


def ingest(msk: dict, sink: MemorySink | None = None):
    sink = sink or MemorySink()
    return ingest_batch(msk, sink, now=NOW), sink


def object_name(topic: str, partition: int, first: int, last: int) -> str:
    """An object's name without its content digest, as :func:`undigested` shows keys."""
    return f"{topic}+{partition}+{first:019d}+{last:019d}.json.gz"


def undigested(key: str) -> str:
    folder, _, name = key.rpartition("/")
    parts = parse_name(name)
    assert parts is not None, f"{name} is not an ingester name"
    return f"{folder}/{parts['topic']}+{parts['partition']}+{parts['first']}+{parts['last']}.json.gz"


def keys(sink: MemorySink) -> list[str]:
    return sorted(undigested(key) for key in sink.objects)


def body(sink: MemorySink, key: str) -> bytes:
    [found] = [b for k, b in sink.objects.items() if undigested(k) == key]
    return found


def test_aws_sample_event_is_quarantined_whole_and_replayable(msk_file) -> None:
    result, sink = ingest(msk_file("msk_sample.json"))
    assert (result.records_in, result.stored, result.quarantined) == (1, 0, 1)
    [(key, content)] = sink.objects.items()
    # Filed under the Kafka timestamp's hour (2018-12-17T22:10:50.987Z), named by offsets.
    assert undigested(key) == f"{QUARANTINE}year=2018/month=12/day=17/hour=22/{object_name('mytopic', 0, 15, 15)}"
    [line] = read_lines(content)
    assert line["reason"] == "not_json"
    assert line["value"] == "Hello, this is a test." and line["value_encoding"] == "utf-8"
    assert (line["topic"], line["partition"], line["offset"]) == ("mytopic", 0, 15)
    assert line["key"] == "abcDEFghiJKLmnoPQRstuVWXyz1234=="
    assert line["headers"] == [{"headerKey": list(b"headerValue")}]
    assert line["ingested_at"] == "2024-03-20T12:00:00Z"


def test_parking_event_lands_in_its_event_hour_per_topic_partition(msk_file) -> None:
    result, sink = ingest(msk_file("msk_parking.json"))
    assert (result.records_in, result.stored, result.quarantined) == (4, 3, 1)
    assert result.hours_touched == ("2024-03-20T10", "2024-03-20T11")
    hour10 = f"{DATA}year=2024/month=03/day=20/hour=10/"
    hour11 = f"{DATA}year=2024/month=03/day=20/hour=11/"
    assert keys(sink) == sorted(
        [
            hour10 + object_name("parking-events", 0, 100, 100),
            hour11 + object_name("parking-events", 0, 101, 101),
            hour10 + object_name("parking-events", 1, 7, 7),
            f"{QUARANTINE}year=2024/month=03/day=20/hour=11/" + object_name("parking-events", 0, 102, 102),
        ]
    )
    assert read_lines(body(sink, hour11 + object_name("parking-events", 0, 101, 101))) == [
        {"spot_id": "A1", "status": "free", "timestamp": "2024-03-20T11:00:01Z", "battery": 3.1}
    ]


def test_one_object_per_topic_partition_and_hour_across_days_and_a_year_boundary() -> None:
    stamps = [
        "2023-12-31T23:10:00Z", "2023-12-31T23:50:00Z", "2024-01-01T00:00:00Z",
        "2024-01-01T00:59:59.999Z", "2024-01-02T09:00:00+09:00", "2024-03-20T10:00:00Z",
    ]
    msk = merge(
        batch([event(timestamp=s) for s in stamps], partition=0, first_offset=10),
        batch([event(timestamp=s) for s in stamps], partition=1, first_offset=500),
        batch([event(timestamp=s) for s in stamps], topic="garage-b", partition=0, first_offset=0),
    )
    result, sink = ingest(msk)
    assert result.stored == 18 and result.objects_written == 12
    prefixes = {key.rsplit("/", 1)[0] for key in sink.objects}
    assert prefixes == {
        f"{DATA}year=2023/month=12/day=31/hour=23",
        f"{DATA}year=2024/month=01/day=01/hour=00",
        f"{DATA}year=2024/month=01/day=02/hour=00",
        f"{DATA}year=2024/month=03/day=20/hour=10",
    }
    assert f"{DATA}year=2023/month=12/day=31/hour=23/{object_name('parking-events', 1, 500, 501)}" in keys(sink)
    assert f"{DATA}year=2024/month=01/day=01/hour=00/{object_name('parking-events', 0, 12, 13)}" in keys(sink)
    assert f"{DATA}year=2024/month=03/day=20/hour=10/{object_name('garage-b', 0, 5, 5)}" in keys(sink)


def test_redelivered_batch_writes_identical_objects() -> None:
    msk = merge(
        batch([event(timestamp=f"2024-03-20T{h:02d}:00:00Z") for h in range(8)] + [b"junk"], partition=0),
        batch([event(spot="B", timestamp="2024-03-19T23:59:59Z")], partition=2, first_offset=40),
    )
    _, first = ingest(msk)
    _, second = ingest(msk)
    assert first.objects == second.objects
    replayed = MemorySink()
    ingest(msk, replayed)
    ingest(msk, replayed)
    assert replayed.objects == first.objects, "a redelivery overwrites, it never adds copies"


def test_objects_are_gzip_json_lines_in_offset_order() -> None:
    values = [event(spot=f"S{i}", timestamp=f"2024-03-20T10:{i:02d}:00Z") for i in range(50)]
    _, sink = ingest(batch(values))
    [body] = sink.objects.values()
    assert body[:2] == b"\x1f\x8b"
    assert [line["spot_id"] for line in read_lines(body)] == [f"S{i}" for i in range(50)]


def test_value_that_is_not_utf8_is_quarantined_as_base64() -> None:
    _, sink = ingest(batch([b"\xff\xfe\x00junk"]))
    [line] = read_lines(next(iter(sink.objects.values())))
    assert line["reason"] == "not_utf8" and line["value_encoding"] == "base64"
    assert base64.b64decode(line["value"]) == b"\xff\xfe\x00junk"


def test_value_that_is_not_base64_is_kept_as_received() -> None:
    msk = batch([event()])
    msk["records"]["parking-events-0"][0]["value"] = "%%% not base64 %%%"
    _, sink = ingest(msk)
    [line] = read_lines(next(iter(sink.objects.values())))
    assert (line["reason"], line["value"], line["value_encoding"]) == ("not_base64", "%%% not base64 %%%", "base64")


def test_empty_batch_writes_nothing() -> None:
    result, sink = ingest({"eventSource": "aws:kafka", "records": {}})
    assert (result.records_in, result.objects_written, sink.objects) == (0, 0, {})


def test_prefixes_come_from_settings() -> None:
    settings = Settings(data_prefix="custom-data/", quarantine_prefix="custom-bad/")
    sink = MemorySink()
    ingest_batch(batch([event(), b"junk"]), sink, settings, now=NOW)
    assert sorted(key.split("/")[0] for key in sink.objects) == ["custom-bad", "custom-data"]


values = st.one_of(
    st.builds(
        event,
        spot=st.text(min_size=0, max_size=5),
        status=st.sampled_from(["occupied", "FREE", "vacant", "parked", ""]),
        timestamp=st.sampled_from(
            ["2024-03-20T10:00:00Z", "2024-03-19T23:00:00.5+01:00", "2024-02-30T00:00:00Z", "soon", "2030-01-01T00:00:00Z"]
        ),
    ),
    st.binary(max_size=20),
    st.lists(st.integers(), max_size=2),
)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 2), values), max_size=40))
def test_every_record_ends_in_exactly_one_place(records) -> None:
    msk = merge(*(batch([value], partition=p, first_offset=i) for i, (p, value) in enumerate(records)))
    result, sink = ingest(msk)
    lines = {prefix: 0 for prefix in (DATA, QUARANTINE)}
    for key, body in sink.objects.items():
        lines[DATA if key.startswith(DATA) else QUARANTINE] += len(read_lines(body))
    assert result.records_in == len(records)
    assert (lines[DATA], lines[QUARANTINE]) == (result.stored, result.quarantined)
    assert result.records_in == result.stored + result.quarantined


def test_local_sink_writes_the_same_layout_atomically(tmp_path) -> None:
    msk = batch([event(), b"junk"])
    _, memory = ingest(msk)
    ingest_batch(msk, LocalSink(tmp_path), now=NOW)
    on_disk = {str(p.relative_to(tmp_path)): p.read_bytes() for p in tmp_path.rglob("*")
               if p.is_file() and p.relative_to(tmp_path).parts[0] != "parking-state"}  # the live answers' table
    assert on_disk == memory.objects, "same keys, same bytes, no temporary files left"


def test_location_template_matches_the_object_keys() -> None:
    _, sink = ingest(batch([event(timestamp="2024-03-20T10:00:00Z")]))
    [key] = sink.objects
    template = location_template("bucket")
    filled = template.replace("${year}", "2024").replace("${month}", "03").replace("${day}", "20")
    assert f"s3://bucket/{key}".startswith(filled.replace("${hour}", "10"))


def test_result_reports_what_the_log_line_needs() -> None:
    result, _ = ingest(batch([event(), event(timestamp="2024-03-20T11:00:00Z"), b"junk"]))
    summary = result.as_dict()
    assert {k: summary[k] for k in ("records_in", "stored", "quarantined", "objects_written")} == {
        "records_in": 3, "stored": 2, "quarantined": 1, "objects_written": 3,
    }
    assert summary["hours_touched"] == ("2024-03-20T10", "2024-03-20T11")
    assert summary["milliseconds"] >= 0


@pytest.mark.parametrize("when", [datetime(2024, 3, 20, 12, 0, tzinfo=timezone.utc)])
def test_ingestion_time_is_recorded_on_quarantine_lines(when) -> None:
    sink = MemorySink()
    ingest_batch(batch([b"junk"]), sink, now=when)
    [line] = read_lines(next(iter(sink.objects.values())))
    assert line["ingested_at"] == "2024-03-20T12:00:00Z"
    assert json.loads(gzip.decompress(next(iter(sink.objects.values())))) == line


def test_local_sink_that_cannot_write_raises_and_leaves_no_temporary_file(tmp_path) -> None:
    blocker = tmp_path / "parking-data"
    blocker.write_text("a file where a directory must go")
    with pytest.raises(SinkWriteError, match=r"1 of 2 objects not written to .*parking-data/year=2024"):
        ingest_batch(batch([event(), b"junk"]), LocalSink(tmp_path), now=NOW)
    assert sorted(p.name for p in tmp_path.rglob("*.tmp")) == []


def test_partition_records_build_the_event_msk_record_builds() -> None:
    records = PartitionRecords(
        "parking-events", 2, [5, 6], [1710936000000, 1710936001000], ["CREATE_TIME", "LOG_APPEND_TIME"],
        [b"A1", None], [b'{"spot_id": "A1"}', None], [[("trace", b"\x01\x02"), ("empty", None)], None],
    )
    assert records.event() == msk_event([
        msk_record("parking-events", 2, 5, b'{"spot_id": "A1"}', key=b"A1", timestamp_ms=1710936000000,
                   headers=[("trace", b"\x01\x02"), ("empty", None)]),
        msk_record("parking-events", 2, 6, None, timestamp_ms=1710936001000, timestamp_type="LOG_APPEND_TIME"),
    ])


@pytest.mark.parametrize("size", [0, 1, 2, 3, 5])
def test_partition_records_split_at_a_size_and_extend_back(size: int) -> None:
    def records(offsets: range) -> PartitionRecords:
        return PartitionRecords("parking-events", 1, list(offsets), [1710936000000 + o for o in offsets],
                                ["CREATE_TIME"] * len(offsets), [b"k%d" % o for o in offsets],
                                [b"v%d" % o for o in offsets], [None] * len(offsets))

    head, rest = records(range(10, 13)).split(size)
    assert (head.offsets, rest.offsets) == (list(range(10, 10 + min(size, 3))), list(range(10 + min(size, 3), 13)))
    head.extend(rest)
    assert head == records(range(10, 13))


# --- No record can fail a batch (METRICS.md section 1) ---------------------------------------

def raw_strings() -> st.SearchStrategy[bytes]:
    """JSON string literals as text: odd unicode, escapes, lone and paired surrogates, long ones."""
    escapes = st.sampled_from([r"\ud83d", r"\udc00", r"\ud83d\ude00", r"\u0000", r"\n", r"\"", r"\\", r"\u2028", r"\uffff"])
    plain = st.text(alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters='"\\'), max_size=30)
    parts = st.lists(st.one_of(plain, escapes), max_size=6).map("".join)
    long = st.integers(1, 70_000).map(lambda n: "x" * n)
    return st.one_of(parts, long).map(lambda text: b'"' + text.encode("utf-8") + b'"')


json_number_texts = st.from_regex(r"\A-?(0|[1-9][0-9]{0,30})(\.[0-9]{1,20})?([eE][-+]?[0-9]{1,4})?\Z").map(str.encode)


def raw_values() -> st.SearchStrategy[bytes]:
    """Pass-through JSON values as text, deep and long ones included."""
    leaves = st.one_of(json_number_texts, raw_strings(), st.sampled_from([b"true", b"false", b"null"]))
    nested = st.recursive(
        leaves,
        lambda inner: st.one_of(
            st.lists(inner, max_size=3).map(lambda items: b"[" + b",".join(items) + b"]"),
            st.lists(st.tuples(raw_strings(), inner), max_size=3).map(
                lambda pairs: b"{" + b",".join(k + b":" + v for k, v in pairs) + b"}"
            ),
        ),
        max_leaves=8,
    )
    deep = st.tuples(st.integers(1, 300), leaves).map(lambda d: b"[" * d[0] + d[1] + b"]" * d[0])
    return st.one_of(nested, deep)


def raw_events() -> st.SearchStrategy[bytes]:
    spot = st.one_of(st.just(b'"A1"'), raw_strings(), json_number_texts)
    status = st.sampled_from([b'"occupied"', b'"FREE"', b'"parked"', b"null"])
    stamp = st.sampled_from([b'"2024-03-20T10:00:00Z"', b'"1970-01-01T00:00:00Z"', b'"0001-01-01T00:00:00Z"',
                             b'"2024-03-20T11:59:59.5+01:00"', b'"soon"'])
    extra = st.lists(st.tuples(raw_strings(), raw_values()), max_size=3)
    return st.builds(
        lambda s, st_, ts, more: b'{"spot_id":' + s + b',"status":' + st_ + b',"timestamp":' + ts
        + b"".join(b"," + k + b":" + v for k, v in more) + b"}",
        spot, status, stamp, extra,
    )


hostile_values = st.one_of(st.binary(max_size=300), raw_events(), raw_values())


def stored_rows(root) -> int:
    from parking.analytics.engines import DuckDBEngine

    engine = DuckDBEngine(root, threads=1)
    frame = engine.run('SELECT spot_id, status, "timestamp", year, hour FROM parking_events', {})
    assert frame["spot_id"].notna().all() and frame["status"].isin(["occupied", "free"]).all()
    return len(frame)


@settings(max_examples=120, deadline=None)
@given(st.lists(hostile_values, min_size=1, max_size=12))
def test_no_value_fails_the_batch_and_all_that_is_stored_is_readable(values) -> None:
    import tempfile

    with tempfile.TemporaryDirectory() as root:
        result = ingest_batch(batch(values), LocalSink(root), now=NOW)
        assert result.records_in == len(values) == result.stored + result.quarantined
        assert stored_rows(root) == result.stored


def test_an_error_no_check_foresaw_quarantines_the_record_not_the_batch(monkeypatch) -> None:
    from parking.ingest import batch as batch_module

    real = batch_module.parse_value

    def flaky(value, validator):
        if value == base64.b64encode(b'{"boom": 1}').decode():
            raise RecursionError("maximum recursion depth exceeded")
        return real(value, validator)

    monkeypatch.setattr(batch_module, "parse_value", flaky)
    result, sink = ingest(batch([event(), b'{"boom": 1}']))
    assert (result.stored, result.quarantined, result.quarantine_reasons) == (1, 1, {"internal_error": 1})
    [line] = [line for key, content in sink.objects.items() if key.startswith(QUARANTINE) for line in read_lines(content)]
    assert line["detail"].startswith("RecursionError") and line["value"] == '{"boom": 1}'


def test_the_issue_s_254_levels_deep_event_is_quarantined_as_too_deep() -> None:
    value = b'{"spot_id":"A1","status":"free","timestamp":"2024-03-20T10:00:00Z","x":' + b"[" * 254 + b"]" * 254 + b"}"
    assert len(value) < 600
    result, _ = ingest(batch([event(), value]))
    assert (result.stored, result.quarantine_reasons) == (1, {"too_deep": 1})


# --- Names: the same records give the same names, different records never share one -------

def test_a_recreated_topic_with_offsets_from_0_never_replaces_stored_events() -> None:
    sink = MemorySink()
    ingest(batch([event(spot="before")], first_offset=0), sink)
    ingest(batch([event(spot="after")], first_offset=0), sink)
    spots = sorted(line["spot_id"] for content in sink.objects.values() for line in read_lines(content))
    assert spots == ["after", "before"]


def test_a_quarantine_object_is_named_by_its_records_not_its_ingestion_time() -> None:
    first, second = MemorySink(), MemorySink()
    ingest_batch(batch([b"junk"]), first, now=NOW)
    ingest_batch(batch([b"junk"]), second, now=datetime(2025, 1, 1, tzinfo=timezone.utc))
    assert list(first.objects) == list(second.objects)
    ingest_batch(batch([b"other junk"]), first, now=NOW)
    assert len(first.objects) == 2


@pytest.mark.parametrize("topic", ["_parking-events", ".hidden", "__consumer_offsets"])
def test_no_object_name_starts_with_an_underscore_or_a_dot(topic: str) -> None:
    _, sink = ingest(batch([event(), b"junk"], topic=topic))
    assert len(sink.objects) == 2
    assert all(key.rsplit("/", 1)[1][0] not in "_." for key in sink.objects)
    assert all(parse_name(key.rsplit("/", 1)[1])["topic"] == f"~{topic}" for key in sink.objects)


def test_a_record_without_a_kafka_timestamp_is_quarantined_under_a_fixed_hour() -> None:
    msk = batch([b"junk"])
    msk["records"]["parking-events-0"][0]["timestamp"] = None
    _, sink = ingest(msk)
    [key] = sink.objects
    assert key.startswith(f"{QUARANTINE}year=1970/month=01/day=01/hour=00/")


def test_the_local_sink_never_replaces_an_object(tmp_path) -> None:
    LocalSink(tmp_path).write({"parking-data/a.json.gz": b"first"})
    LocalSink(tmp_path).write({"parking-data/a.json.gz": b"second"})
    assert (tmp_path / "parking-data/a.json.gz").read_bytes() == b"first"
    assert [p.name for p in (tmp_path / "parking-data").iterdir()] == ["a.json.gz"]


def test_the_s3_sink_writes_conditionally_and_takes_an_existing_name_as_stored() -> None:
    import boto3
    from moto import mock_aws

    from parking.ingest.sinks import S3Sink

    with mock_aws():
        s3 = boto3.client("s3", region_name="eu-west-1")
        s3.create_bucket(Bucket="lake", CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
        sink = S3Sink("lake", s3)
        sink.write({"parking-data/a.json.gz": b"first"})
        sink.write({"parking-data/a.json.gz": b"second", "parking-data/b.json.gz": b"b"})
        assert s3.get_object(Bucket="lake", Key="parking-data/a.json.gz")["Body"].read() == b"first"
        assert s3.get_object(Bucket="lake", Key="parking-data/b.json.gz")["Body"].read() == b"b"


# --- A write is complete or it failed ---------------------------------------------------------

SHORT_WRITE = r"""
import resource, signal, sys
from datetime import datetime, timezone
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)   # over the limit, write() returns short, then EFBIG
resource.setrlimit(resource.RLIMIT_FSIZE, (4096, 4096))
from parking.errors import SinkWriteError
from parking.ingest.sinks import LocalSink
try:
    LocalSink(sys.argv[1]).write({"parking-data/big.json.gz": bytes(range(256)) * 64})
except SinkWriteError as error:
    print("SinkWriteError", error)
"""


def test_a_short_write_is_never_placed(tmp_path) -> None:
    """A real short write: a 4 KiB file size limit (RLIMIT_FSIZE) in a child process."""
    import subprocess
    import sys

    result = subprocess.run([sys.executable, "-c", SHORT_WRITE, str(tmp_path)], capture_output=True, text=True,
                            check=False)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("SinkWriteError 1 of 1 objects not written"), result.stdout
    assert [p.name for p in tmp_path.rglob("*") if p.is_file()] == []


def test_a_short_write_is_completed_when_the_system_takes_the_rest(tmp_path, monkeypatch) -> None:
    import os

    from parking.ingest import sinks

    real = os.write
    monkeypatch.setattr(sinks.os, "write", lambda fd, data: real(fd, bytes(data)[:100]))
    LocalSink(tmp_path).write({"parking-data/a.json.gz": b"x" * 1000})
    assert (tmp_path / "parking-data/a.json.gz").read_bytes() == b"x" * 1000
