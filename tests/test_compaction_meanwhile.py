"""A query running while `compact` moves the files it listed still answers exactly.

DuckDB lists a glob's files when a query starts and opens each when its scan
reaches it; a compaction in between moves JSON objects (and removes replaced
day files), so the open fails ("Cannot open file ...: No such file or
directory"). The local engine runs such a query again, listing both tiers
afresh. The tests make the race happen on purpose, with no sleep: the view of
the JSON tier is wrapped in a filter whose Python function, on its first row,
runs the whole compaction (or takes a file away), while DuckDB, on one
thread, has yet to open the other files it listed.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import pandas as pd
import pytest

from parking.analytics import duckdb_engine
from parking.analytics.engines import QUERY_TABLE, VANISHED_RETRIES, DuckDBEngine
from parking.errors import QueryError
from parking.lake.compaction.protocol import compact
from parking.lake.stores import LocalStore
from parking.layout import DATA_PREFIX
from tests.scenarios import Scenario, scenario
from tests.test_compaction import EVERYTHING, answers, fully_compacted, ingest
from tests.test_compaction import uncompacted as uncompacted  # noqa: F401  (the fixture)


class Meanwhile(DuckDBEngine):
    """The local engine, with ``meanwhile()`` run once per attempt as the JSON scan yields its first row."""

    def __init__(self, data_dir: Path, meanwhile: Callable[[], None]) -> None:
        self.meanwhile = meanwhile
        self._fired = self._registered = False
        # One thread: the scan opens the listed files one after another. The lake's own objects are read (no copy
        # of the hours' objects, which a compaction does not touch: tests/test_hot_tier.py).
        super().__init__(data_dir, threads=1, copy_limit=0)
        self.attempts = 0  # views made for a query (the constructor made them once already)

    def _hook(self, spot_id: str) -> bool:
        if not self._fired:
            self._fired = True
            self.meanwhile()
        return True

    def _create_view(self, reads_catalog: bool = True, events: str | None = None) -> None:
        self.attempts = getattr(self, "attempts", 0) + 1
        self._fired = False
        super()._create_view(reads_catalog, events)
        if not self._registered:
            self._connection.create_function("meanwhile", self._hook, ["VARCHAR"], "BOOLEAN", side_effects=True)
            self._registered = True
        if self.has_data:
            self._connection.execute("DROP VIEW IF EXISTS json_tier")
            self._connection.execute(f"ALTER VIEW {QUERY_TABLE} RENAME TO json_tier")
            self._connection.execute(f"CREATE VIEW {QUERY_TABLE} AS SELECT * FROM json_tier WHERE meanwhile(spot_id)")


@pytest.fixture(autouse=True)
def no_backoff(monkeypatch: pytest.MonkeyPatch) -> None:
    """The retries' waits give a running compaction time to move on; here it runs inside the scan, at once."""
    monkeypatch.setattr(duckdb_engine, "VANISHED_BACKOFF_S", 0.0)


@pytest.fixture(scope="module")
def case() -> Scenario:
    return scenario(3)


@pytest.fixture
def lake(case, tmp_path) -> Path:
    ingest(case, tmp_path, case.lines)
    return tmp_path


@pytest.mark.parametrize("query", ["status", "occupancy", "utilization", "patterns", "turnover", "dwell", "health"])
def test_a_query_that_meets_a_compaction_is_run_again_and_answers_exactly(case, uncompacted, lake, query) -> None:  # noqa: F811
    compacted = []
    engine = Meanwhile(lake, lambda: compacted.append(compact(LocalStore(lake), EVERYTHING)) if not compacted else None)
    [frame] = answers(case, engine, only=query).values()
    pd.testing.assert_frame_equal(frame, uncompacted[query], check_exact=True)
    assert compacted and fully_compacted(lake), "the compaction ran inside the query"
    assert engine.attempts == 2, "the first attempt met a moved file and the query was run again"


def test_a_file_that_keeps_vanishing_fails_in_one_line_after_the_retries(lake) -> None:
    objects = sorted((lake / DATA_PREFIX).rglob("*.json.gz"))
    gone = lake / "gone"

    def take_one_away() -> None:  # every attempt loses a file the scan has yet to open
        gone.mkdir(exist_ok=True)
        victim = sorted((lake / DATA_PREFIX).rglob("*.json.gz"))[-1]
        shutil.move(victim, gone / f"{len(list(gone.iterdir()))}.json.gz")

    engine = Meanwhile(lake, take_one_away)
    with pytest.raises(QueryError) as caught:
        engine.run(f"SELECT count(*) FROM {QUERY_TABLE}", {})
    assert engine.attempts == VANISHED_RETRIES + 1
    assert "No such file or directory" in str(caught.value) and "\n" not in str(caught.value)
    assert len(objects) - len(list((lake / DATA_PREFIX).rglob("*.json.gz"))) == VANISHED_RETRIES + 1


def test_a_file_that_cannot_be_read_is_not_retried(lake) -> None:
    victim = sorted((lake / DATA_PREFIX).rglob("*.json.gz"))[-1]
    engine = Meanwhile(lake, lambda: victim.write_bytes(b"\x1f\x8bbroken"))
    with pytest.raises(QueryError, match="run `parking-cli lake check --repair`"):
        engine.run(f"SELECT count(*) FROM {QUERY_TABLE}", {})
    assert engine.attempts == 1
