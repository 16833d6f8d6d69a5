"""`compact` on a full data directory or under a file size limit: one line that says which and where (issue 23).

Real faults: the data directory is a 1 MiB tmpfs mounted in a private mount
namespace (`unshare`, no privilege needed where user namespaces are allowed,
as on this project's machines), and `ulimit -f` is RLIMIT_FSIZE set in the
child process.
"""

from __future__ import annotations

import resource
import shutil
import signal
import subprocess
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from parking.layout import COMPACTED_PREFIX
from tests.scenarios import scenario
from tests.test_compaction import ingest

CLI = str(Path(sys.executable).with_name("parking-cli"))
BEFORE = ["--before", (datetime.now(timezone.utc).date() - timedelta(days=2)).isoformat()]


@pytest.fixture(scope="module")
def source(tmp_path_factory) -> Path:
    """A lake of several closed days, ingested once and copied by each test."""
    root = tmp_path_factory.mktemp("lake")
    case = scenario(2)
    ingest(case, root, case.lines)
    return root


def compact(data_dir: Path, **options) -> subprocess.CompletedProcess:
    return subprocess.run([CLI, "compact", "--data-dir", str(data_dir), *BEFORE], capture_output=True, text=True,
                          timeout=300, check=False, **options)


def limited(blocks: int):
    def limit() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (blocks, blocks))
    return limit


def test_a_file_size_limit_says_so_and_names_the_file(source: Path, tmp_path: Path) -> None:
    lake = tmp_path / "lake"
    shutil.copytree(source, lake)
    result = compact(lake, preexec_fn=limited(4096))
    assert result.returncode == 1, result.stdout
    [line] = result.stderr.splitlines()
    assert line.startswith("Error: File too large: /"), line
    assert "a file size limit stopped the write: see `ulimit -f`" in line
    assert "internal error" not in line


def test_a_full_data_directory_is_named_not_the_work_file(source: Path, tmp_path: Path) -> None:
    mount = tmp_path / "small"
    mount.mkdir()
    pages = sum(-(-p.stat().st_size // 4096) for p in source.rglob("*") if p.is_file())  # tmpfs counts pages
    script = (f"mount -t tmpfs -o size={(pages + 4) * 4096} tmpfs {mount} && cp -r {source} {mount}/lake && "
              f"{CLI} compact --data-dir {mount}/lake {' '.join(BEFORE)}")
    result = subprocess.run(["unshare", "--user", "--map-root-user", "--mount", "sh", "-c", script],
                            capture_output=True, text=True, timeout=300, check=False)
    assert result.returncode == 1, result.stdout + result.stderr
    assert len(result.stderr.splitlines()) == 1, result.stderr
    [line] = result.stderr.splitlines()
    assert line.startswith(f"Error: No space left on device: {mount}/lake/{COMPACTED_PREFIX}"), line
    assert "/tmp/parking-compact-" not in line
    assert "the device or quota holding it is full" in line


def test_ingest_under_a_file_size_limit_says_so_in_one_line(tmp_path: Path) -> None:
    """The current-state table grows past the limit first: SQLite's vague words come with what they mean."""
    events = tmp_path / "week.jsonl"
    simulated = subprocess.run([CLI, "simulate", "--spots", "300", "--days", "4", "--out", str(events)],
                               capture_output=True, text=True, timeout=300, check=False)
    assert simulated.returncode == 0, simulated.stderr
    result = subprocess.run([CLI, "ingest", str(events), "--data-dir", str(tmp_path / "lake")], capture_output=True,
                            text=True, timeout=300, check=False, preexec_fn=limited(100_000))
    assert result.returncode == 1, result.stdout
    [line] = result.stderr.splitlines()
    assert line.startswith("Error: current-state table not written: "), line
    assert "a file size limit stopped it (see `ulimit -f`)" in line and "rollback" not in line
