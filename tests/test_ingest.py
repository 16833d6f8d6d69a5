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
from parking.layout import location_template, object_name
from tests.conftest import NOW, batch, event, merge, read_lines

DATA = "parking-data/"
QUARANTINE = "parking-quarantine/"


def ingest(msk: dict, sink: MemorySink | None = None):
    sink = sink or MemorySink()
    return ingest_batch(msk, sink, now=NOW), sink


def test_aws_sample_event_is_quarantined_whole_and_replayable(msk_file) -> None:
    result, sink = ingest(msk_file("msk_sample.json"))
    assert (result.records_in, result.stored, result.quarantined) == (1, 0, 1)
    [(key, body)] = sink.objects.items()
    # Filed under the Kafka timestamp's hour (2018-12-17T22:10:50.987Z), named by offsets.
    assert key == f"{QUARANTINE}year=2018/month=12/day=17/hour=22/{object_name('mytopic', 0, 15, 15)}"
    [line] = read_lines(body)
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
    assert sorted(sink.objects) == sorted(
        [
            hour10 + object_name("parking-events", 0, 100, 100),
            hour11 + object_name("parking-events", 0, 101, 101),
            hour10 + object_name("parking-events", 1, 7, 7),
            f"{QUARANTINE}year=2024/month=03/day=20/hour=11/" + object_name("parking-events", 0, 102, 102),
        ]
    )
    assert read_lines(sink.objects[hour11 + object_name("parking-events", 0, 101, 101)]) == [
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
    assert f"{DATA}year=2023/month=12/day=31/hour=23/{object_name('parking-events', 1, 500, 501)}" in sink.objects
    assert f"{DATA}year=2024/month=01/day=01/hour=00/{object_name('parking-events', 0, 12, 13)}" in sink.objects
    assert f"{DATA}year=2024/month=03/day=20/hour=10/{object_name('garage-b', 0, 5, 5)}" in sink.objects


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
    on_disk = {str(p.relative_to(tmp_path)): p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()}
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
