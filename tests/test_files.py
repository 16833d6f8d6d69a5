"""Loading files through the ingest path: `parking-cli ingest` and parking.ingest.files (METRICS.md section 2)."""

from __future__ import annotations

import gzip
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from parking.cli.main import cli
from parking.ingest.files import ingest_chunks
from parking.ingest.replay import replay_quarantine
from parking.ingest.sinks import LocalSink, MemorySink
from tests.conftest import NOW, event, read_lines

LINES = [json.dumps(event(spot=f"S{i}", timestamp=f"2024-03-20T{i % 3 + 8:02d}:00:00Z")).encode() for i in range(30)]
TEXT = b"\n".join(LINES + [b"junk", b'{"spot_id": "X", "status": "parked", "timestamp": "2024-03-20T08:00:00Z"}']) + b"\n"


def load(content: bytes, sink=None, chunk: int = 7, **options):
    sink = sink if sink is not None else MemorySink()
    pieces = [content[i:i + chunk] for i in range(0, len(content), chunk)]
    return ingest_chunks(pieces, sink, now=NOW, **options), sink


def tree(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_gzip_input_is_read_by_its_magic_bytes() -> None:
    plain_totals, plain = load(TEXT)
    gzip_totals, zipped = load(gzip.compress(TEXT))
    assert plain.objects == zipped.objects
    assert (gzip_totals.records_in, gzip_totals.stored, gzip_totals.quarantined) == (32, 30, 2)


def test_a_byte_order_mark_and_blank_lines_are_not_records() -> None:
    content = b"\xef\xbb\xbf" + LINES[0] + b"\r\n\n   \n\r\n" + LINES[1] + b"\n\n"
    totals, _ = load(content)
    assert (totals.records_in, totals.stored, totals.quarantined) == (2, 2, 0)


@pytest.mark.parametrize("chunk", [1, 7, 1 << 20])
@pytest.mark.parametrize("stream", ["plain", "gzip"])
@pytest.mark.parametrize("odd", [b"\x0b", b"\x0c", b" \x0b ", b"\t\x0c\r"])
def test_a_line_of_a_vertical_tab_or_form_feed_is_a_record_quarantined_as_not_json(odd, stream, chunk) -> None:
    """Blank is JSON's whitespace only (space, tab, CR), so every other line is counted, as on Kafka's path."""
    content = LINES[0] + b"\n" + odd + b"\n \t\r\n" + LINES[1] + b"\n" + odd + b"\n"
    totals, sink = load(gzip.compress(content) if stream == "gzip" else content, chunk=chunk)
    assert (totals.records_in, totals.stored, totals.quarantined) == (4, 2, 2)
    assert dict(totals.reasons) == {"not_json": 2}
    offsets = sorted(line["offset"] for key, body in sink.objects.items() if "quarantine" in key
                     for line in read_lines(body))
    assert offsets == [2, 5], "each keeps its line number"


@pytest.mark.parametrize("stream", ["plain", "gzip"])
def test_runs_of_blank_lines_keep_every_line_number(stream) -> None:
    content = b"\n" * 100_000 + LINES[0] + b"\n" + b"\r\n \n\t\n" * 50_000 + b"  " + LINES[1] + b"\n\n"
    totals, sink = load(gzip.compress(content) if stream == "gzip" else content, chunk=1 << 16)
    assert (totals.records_in, totals.stored) == (2, 2)
    offsets = sorted(int(key.rsplit("/", 1)[1].split("+")[2]) for key in sink.objects if "parking-data" in key)
    assert offsets == [100_001, 250_002]


def test_a_gzip_file_of_32_mib_of_newlines_is_read_in_under_3_s_of_cpu(tmp_path: Path) -> None:
    """Blank lines are skipped a buffer at a time: line by line this took ~10 s (100 MiB: 88 s, issue 23)."""
    content = gzip.compress(b"\n" * (32 << 20), compresslevel=1)
    started = time.process_time()
    totals, _ = load(content, chunk=1 << 20)
    spent = time.process_time() - started
    assert totals.records_in == 0
    assert spent < 3.0, f"{spent:.1f} s of CPU"


def test_what_a_load_writes_depends_only_on_the_lines() -> None:
    """Read in chunks of any size, the same lines give the same objects."""
    _, small = load(TEXT, chunk=3)
    _, large = load(TEXT, chunk=1 << 20)
    assert small.objects == large.objects


def test_two_files_with_the_same_line_numbers_never_replace_each_other(tmp_path: Path) -> None:
    other = TEXT.replace(b'"S', b'"T')
    load(TEXT, LocalSink(tmp_path))
    load(other, LocalSink(tmp_path))
    spots = {line["spot_id"] for path in (tmp_path / "parking-data").rglob("*.json.gz")
             for line in read_lines(path.read_bytes())}
    assert spots == {f"S{i}" for i in range(30)} | {f"T{i}" for i in range(30)}


def run(args: list[str], **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "parking", *args], capture_output=True, text=True, check=False,
                          **kwargs)


def test_loading_again_after_touch_from_stdin_or_gzip_writes_nothing_new(tmp_path: Path) -> None:
    source = tmp_path / "events.jsonl"
    source.write_bytes(TEXT)
    data = tmp_path / "data"
    runner = CliRunner()
    assert runner.invoke(cli, ["ingest", str(source), "--data-dir", str(data)]).exit_code == 0
    first = tree(data)
    os.utime(source, (0, 1_900_000_000))
    assert runner.invoke(cli, ["ingest", str(source), "--data-dir", str(data)]).exit_code == 0
    assert runner.invoke(cli, ["ingest", "-", "--data-dir", str(data)], input=TEXT).exit_code == 0
    (tmp_path / "events.jsonl.gz").write_bytes(gzip.compress(TEXT))
    assert runner.invoke(cli, ["ingest", str(tmp_path / "events.jsonl.gz"), "--data-dir", str(data)]).exit_code == 0
    assert tree(data) == first


def test_a_mostly_rejected_file_warns_and_exits_1_naming_the_top_reasons(tmp_path: Path) -> None:
    source = tmp_path / "wrong.csv"
    source.write_text("spot_id,status,timestamp\nA1,free,2024-03-20T10:00:00Z\nA2,free,2024\n"
                      + json.dumps(event()) + "\n")
    result = CliRunner().invoke(cli, ["ingest", str(source), "--data-dir", str(tmp_path / "d")])
    assert result.exit_code == 1
    assert result.stderr.strip() == "Error: 3 of 4 records quarantined, mostly: not_json (3); is this the right file?"
    assert "stored                  1" in result.stdout


@pytest.mark.parametrize(
    ("args", "env", "message"),
    [
        (["--topic", "../../../../../../tmp/x"], {}, "topic '../../../../../../tmp/x' is not a Kafka topic name"),
        ([], {"PARKING_DATA_PREFIX": "../x/"}, "PARKING_DATA_PREFIX must be relative"),
        ([], {"PARKING_QUARANTINE_PREFIX": "_hidden/"}, "PARKING_QUARANTINE_PREFIX must be relative"),
    ],
)
def test_a_topic_or_prefix_never_leads_a_write_outside_its_prefix(tmp_path: Path, args, env, message) -> None:
    source = tmp_path / "events.jsonl"
    source.write_bytes(TEXT)
    result = CliRunner().invoke(
        cli, ["ingest", str(source), "--data-dir", str(tmp_path / "data"), *args], env=env
    )
    assert result.exit_code == 2
    assert message in result.stderr and len(result.stderr.strip().splitlines()) == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["events.jsonl"]


def test_a_broken_gzip_input_is_one_line_and_exit_1(tmp_path: Path) -> None:
    source = tmp_path / "cut.jsonl.gz"
    source.write_bytes(gzip.compress(TEXT * 50)[:-300])
    result = CliRunner().invoke(cli, ["ingest", str(source), "--data-dir", str(tmp_path / "d")])
    assert result.exit_code == 1
    assert result.stderr.startswith("Error: input is not readable after line")


@pytest.mark.parametrize("garbage", [b"garbage after the stream\n", b"\x00\x00\x00junk", b"\x1f", b"x" * 3_000_000])
@pytest.mark.parametrize("chunk", [7, 1 << 20])
def test_a_gzip_input_with_trailing_garbage_stores_its_records_and_keeps_the_garbage(garbage, chunk) -> None:
    """`gzip -t` accepts such a file: its intact records are stored, the rest kept in quarantine with its reason."""
    members = gzip.compress(b"\n".join(LINES[:20]) + b"\n") + gzip.compress(b"\n".join(LINES[20:]) + b"\n")
    totals, sink = load(members + b"\x00\x00" + garbage, chunk=chunk)
    assert (totals.records_in, totals.stored, totals.quarantined) == (31, 30, 1)
    assert dict(totals.reasons) == {"trailing_garbage": 1}
    [line] = [line for key, body in sink.objects.items() if key.endswith(".json.gz") and "quarantine" in key
              for line in read_lines(body)]
    assert (line["reason"], line["offset"], line["value"]) == ("trailing_garbage", 31, None)
    kept = gzip.decompress(sink.objects[line["value_object"]["key"]])
    assert kept == garbage.lstrip(b"\x00")


def test_zero_padding_after_the_last_member_is_not_garbage() -> None:
    totals, _ = load(gzip.compress(TEXT) + b"\x00" * 1000)
    assert (totals.records_in, totals.stored, totals.quarantined) == (32, 30, 2)
    assert "trailing_garbage" not in totals.reasons


def test_ingest_of_a_gzip_file_with_trailing_garbage_exits_0_and_counts_it(tmp_path: Path) -> None:
    source = tmp_path / "events.jsonl.gz"
    source.write_bytes(gzip.compress(b"\n".join(LINES) + b"\n") + b"trailing garbage")
    result = CliRunner().invoke(cli, ["ingest", str(source), "--data-dir", str(tmp_path / "d")])
    assert result.exit_code == 0, result.output
    assert "trailing_garbage 1" in result.stdout


# --- A record over the size limit, in bounded memory ----------------------------------------

def test_a_line_over_the_limit_is_kept_as_an_object_of_its_own_and_replays(tmp_path: Path) -> None:
    from parking.config import Settings

    big = json.dumps(event(spot="BIG", padding="x" * 100_000)).encode()
    content = LINES[0] + b"\n" + big + b"\r\n" + LINES[1] + b"\n"
    totals, _ = load(content, LocalSink(tmp_path), chunk=4096)
    assert (totals.records_in, totals.stored, totals.quarantine_reasons if hasattr(totals, "x") else dict(totals.reasons)) == (
        3, 2, {"too_large": 1})
    [line] = [line for p in (tmp_path / "parking-quarantine").rglob("*.json.gz") for line in read_lines(p.read_bytes())]
    assert (line["offset"], line["value"], line["value_encoding"]) == (2, None, "object")
    assert line["value_object"]["bytes"] == len(big)
    assert gzip.decompress((tmp_path / line["value_object"]["key"]).read_bytes()) == big
    assert line["value_object"]["key"].endswith(".value.gz")

    assert replay_quarantine(tmp_path, now=NOW).quarantined == 1, "still too large: stays, pointing at its object"
    raised = Settings(max_value_bytes=200_000)
    assert replay_quarantine(tmp_path, raised, now=NOW).stored == 1
    spots = {line["spot_id"] for p in (tmp_path / "parking-data").rglob("*.json.gz") for line in read_lines(p.read_bytes())}
    assert "BIG" in spots
    assert list((tmp_path / "parking-quarantine").rglob("*.value.gz")) == [], "a kept value goes once its record is stored"


PEAK_RSS = r"""
import resource, subprocess, sys
subprocess.run(sys.argv[1:], check=True, stdout=subprocess.DEVNULL)
print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss // 1024)
"""


def test_a_64_mb_line_is_ingested_in_bounded_memory(tmp_path: Path) -> None:
    source = tmp_path / "huge.jsonl"
    with source.open("wb") as out:
        out.write(LINES[0] + b'\n{"spot_id": "A1", "status": "free", "timestamp": "2024-03-20T10:00:00Z", "x": "')
        block = b"y" * (1 << 20)
        for _ in range(64):
            out.write(block)
        out.write(b'"}\n' + LINES[1] + b"\n")
    result = subprocess.run(
        [sys.executable, "-c", PEAK_RSS, sys.executable, "-m", "parking", "ingest", str(source),
         "--data-dir", str(tmp_path / "data")],
        capture_output=True, text=True, check=False,
    )
    assert result.returncode == 0, result.stderr
    peak_megabytes = int(result.stdout)
    assert peak_megabytes < 150, f"peak RSS {peak_megabytes} MB for a 64 MB line"
    [value] = (tmp_path / "data" / "parking-quarantine").rglob("*.value.gz")
    assert value.stat().st_size < 1 << 20, "stored compressed"
