"""Section 7 on the local engine against its independent reference.

Each seed takes a scenario of tests/scenarios.py (duplicates, conflicting
instants, silences, a car parked for days, boundary events, days with a
clock change), ingests it through the Lambda's path, loads a catalog drawn
from the same seed (zones, levels including the empty one, bay types,
maximum stays, uncatalogued spots, a zone that never reports) and compares
availability, alerts and overstays with tests/reference_zones.py.
"""

from __future__ import annotations

import math
import random

import pandas as pd
import pytest

from parking import queries
from parking.analytics.catalog import CatalogRow, CatalogStore
from parking.analytics.engines import DuckDBEngine
from parking.ingest.files import ingest_lines
from parking.ingest.sinks import LocalSink
from tests import reference
from tests.reference_zones import Place, alerts, availability, ordered_groups, overstays
from tests.scenarios import scenario

SEEDS = range(16)
GROUPINGS = ("zone", "level", "bay_type")


def drawn_catalog(seed: int, spot_ids: list[str]) -> dict[str, Place]:
    """Most spots in one of three zones; two left out; a zone whose sensors never report."""
    rng = random.Random(f"catalog{seed}")
    kept = sorted(spot_ids)
    for left_out in rng.sample(kept, 2):
        kept.remove(left_out)
    catalog = {
        spot: Place(
            rng.choice(("North", "South", "Roof top")),
            rng.choice(("-1", "0", "P2", "")),
            rng.choice(("standard", "standard", "ev", "accessible")),
            rng.choice((None, 30, 120, 600, 2000, 10_000)),
        )
        for spot in kept
    }
    for number in range(3):
        catalog[f"SILENT-{number}"] = Place("Silent", "roof", "motorcycle", 60)
    return catalog


def store_rows(catalog: dict[str, Place]) -> list[CatalogRow]:
    return [CatalogRow(spot, p.zone, p.level, p.bay_type, p.max_stay_minutes) for spot, p in catalog.items()]


@pytest.fixture(scope="module", params=SEEDS, ids=lambda seed: f"seed{seed}")
def lake(request, tmp_path_factory):
    case = scenario(request.param)
    root = tmp_path_factory.mktemp(f"zones{request.param}")
    totals = ingest_lines(case.lines, LocalSink(root), batch_size=50, now=case.ingested_at)
    assert totals.stored == len(case.lines)
    catalog = drawn_catalog(request.param, sorted({event.spot_id for event in case.events}))
    CatalogStore(root).replace(store_rows(catalog))
    return case, catalog, DuckDBEngine(root, threads=1)


def instants(case) -> list[int]:
    """The instants asked about: status's and health's, inside the long stay, now, and
    exactly lookback after a spot's last event (its state is still known then)."""
    long_stay = min(e.ms for e in case.events if e.spot_id == "LONG" and e.status == "occupied")
    last_edge = max(e.ms for e in case.events if e.spot_id == "EDGE")
    return sorted({case.status_at, case.health_at, min(case.now_ms, long_stay + 30 * reference.HOUR_MS + 17),
                   min(case.now_ms, long_stay + 80 * reference.HOUR_MS),  # stuck, by sensor health
                   case.now_ms, min(case.now_ms, last_edge + case.lookback_ms)})


def close(actual, expected) -> bool:
    if expected is None:
        return actual is None or (isinstance(actual, float) and math.isnan(actual))
    return math.isclose(actual, expected, rel_tol=1e-9, abs_tol=1e-9)


def group(value) -> str | None:
    return None if value is pd.NA else value


@pytest.mark.parametrize("by", GROUPINGS)
def test_availability(lake, by) -> None:
    case, catalog, engine = lake
    for at in instants(case):
        frame = queries.availability(reference.utc(at), by=by, lookback_hours=case.lookback_hours, engine=engine,
                                     now=case.now)
        expected = availability(case.events, catalog, at, case.lookback_ms, by)
        assert [group(g) for g in frame[by]] == ordered_groups(expected), at
        for row in frame.itertuples(index=False):
            capacity, occupied, free, unknown, rate = expected[group(row[0])]
            assert (row.capacity, row.occupied, row.free, row.unknown) == (capacity, occupied, free, unknown), row
            assert close(row.occupancy_rate, rate), row


@pytest.mark.parametrize("threshold", (0.0, 0.5, 0.9, 1.0))
def test_alerts(lake, threshold) -> None:
    case, catalog, engine = lake
    for at in instants(case):
        frame = queries.alerts(reference.utc(at), threshold=threshold, by="zone", lookback_hours=case.lookback_hours,
                               engine=engine, now=case.now)
        expected = alerts(case.events, catalog, at, case.lookback_ms, "zone", threshold)
        assert [group(g) for g in frame["zone"]] == ordered_groups(expected), (at, threshold)
        assert list(frame["occupied"]) == [expected[group(g)][1] for g in frame["zone"]]


def test_overstays(lake) -> None:
    case, catalog, engine = lake
    for at in instants(case):
        frame = queries.overstays(reference.utc(at), lookback_hours=case.lookback_hours, engine=engine, now=case.now)
        expected = overstays(case.events, catalog, at, case.lookback_ms)
        assert list(frame["spot_id"]) == [row[0] for row in expected], at
        for row, (_, zone, since, stay, max_stay, over, flags) in zip(frame.itertuples(), expected, strict=True):
            assert (row.zone, reference.ms_of(row.since), row.max_stay_minutes) == (zone, since, max_stay)
            assert row.sensor_flags == flags, (at, row.spot_id)
            assert close(row.stay_minutes, stay) and close(row.over_minutes, over)
            assert row.stay_minutes <= 7 * 24 * 60


def test_the_silent_zone_is_all_unknown(lake) -> None:
    case, _, engine = lake
    frame = queries.availability(reference.utc(case.status_at), engine=engine, now=case.now)
    [silent] = frame[frame["zone"] == "Silent"].itertuples()
    assert (silent.capacity, silent.occupied, silent.free, silent.unknown) == (3, 0, 0, 3)
    assert math.isnan(silent.occupancy_rate)
