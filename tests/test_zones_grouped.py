"""--by and --zone on occupancy, utilization, patterns, turnover and dwell, on the
local engine against tests/reference_zones.py (METRICS.md section 7), each
scenario in its own time zone (--tz) with a catalog drawn from its seed."""

from __future__ import annotations

import pandas as pd
import pytest

from parking import queries
from parking.analytics.catalog import CatalogStore
from parking.analytics.engines import DuckDBEngine
from parking.ingest.files import ingest_lines
from parking.ingest.sinks import LocalSink
from tests import reference, reference_zones
from tests.reference_zones import ordered_groups
from tests.scenarios import scenario
from tests.test_zones_local import close, drawn_catalog, store_rows

SEEDS = range(6)
GROUPINGS = ("zone", "level", "bay_type")
ZONE_FILTERS = ((), ("North",), ("Roof top", "Silent", "Nowhere"))


@pytest.fixture(scope="module", params=SEEDS, ids=lambda seed: f"seed{seed}")
def lake(request, tmp_path_factory):
    case = scenario(request.param)
    root = tmp_path_factory.mktemp(f"grouped{request.param}")
    ingest_lines(case.lines, LocalSink(root), batch_size=50, now=case.ingested_at)
    catalog = drawn_catalog(request.param, sorted({event.spot_id for event in case.events}))
    CatalogStore(root).replace(store_rows(catalog))
    return case, catalog, DuckDBEngine(root, threads=1)


def groups_of(frame: pd.DataFrame, by: str) -> list:
    return [None if value is pd.NA else value for value in frame[by]]


def options(case, by, zones) -> dict:
    return {"lookback_hours": case.lookback_hours, "by": by, "zones": zones, "now": case.now}


@pytest.mark.parametrize("zones", ZONE_FILTERS, ids=lambda z: "+".join(z) or "all")
@pytest.mark.parametrize("by", (*GROUPINGS, None))
def test_occupancy(lake, by, zones) -> None:
    case, catalog, engine = lake
    frame = queries.occupancy(case.day, tz=case.zone, engine=engine, **options(case, by, zones))
    expected = reference_zones.occupancy(case.events, catalog, case.day, case.zone, case.lookback_ms, case.now_ms,
                                         by, zones)
    wanted = [(group, hour, value) for group in ordered_groups(expected) for hour, value in expected[group]]
    if by is None:
        assert list(frame.columns) == ["hour", "occupancy_rate"]
        actual_groups = [None] * len(frame)
    else:
        assert list(frame.columns) == [by, "hour", "occupancy_rate"]
        actual_groups = groups_of(frame, by)
    assert [(g, reference.ms_of(h)) for g, h in zip(actual_groups, frame["hour"], strict=True)] == [(g, h) for g, h, _ in wanted]
    assert all(close(a, e) for a, (_, _, e) in zip(frame["occupancy_rate"], wanted, strict=True))
    assert str(frame["hour"].dtype) == f"datetime64[ns, {case.zone}]"


@pytest.mark.parametrize("zones", ZONE_FILTERS, ids=lambda z: "+".join(z) or "all")
@pytest.mark.parametrize("by", GROUPINGS)
def test_patterns(lake, by, zones) -> None:
    case, catalog, engine = lake
    frame = queries.patterns(case.first, case.last, tz=case.zone, engine=engine, **options(case, by, zones))
    expected = reference_zones.patterns(case.events, catalog, case.first, case.last, case.zone, case.lookback_ms,
                                        case.now_ms, by, zones)
    keys = [(g, d, h) for g in ordered_groups(expected) for d, h in sorted(expected[g])]
    assert list(zip(groups_of(frame, by), frame["day_of_week"], frame["hour"], strict=True)) == keys
    for group, row in zip(groups_of(frame, by), frame.itertuples(), strict=True):
        assert close(row.occupancy_rate, expected[group][(row.day_of_week, row.hour)])


@pytest.mark.parametrize("zones", ZONE_FILTERS, ids=lambda z: "+".join(z) or "all")
@pytest.mark.parametrize("by", GROUPINGS)
def test_utilization(lake, by, zones) -> None:
    case, catalog, engine = lake
    frame = queries.utilization(case.first, case.last, engine=engine, **options(case, by, zones))
    expected = reference_zones.utilization(case.events, catalog, case.first, case.last, case.lookback_ms,
                                           case.now_ms, by, zones)
    assert list(frame.columns) == [by, "utilization", "occupied_seconds", "observed_seconds"]
    assert groups_of(frame, by) == ordered_groups(expected)
    for group, row in zip(groups_of(frame, by), frame.itertuples(), strict=True):
        assert all(close(a, e) for a, e in zip((row.utilization, row.occupied_seconds, row.observed_seconds),
                                               expected[group], strict=True))


@pytest.mark.parametrize("zones", ZONE_FILTERS, ids=lambda z: "+".join(z) or "all")
@pytest.mark.parametrize("by", GROUPINGS)
def test_turnover(lake, by, zones) -> None:
    case, catalog, engine = lake
    frame = queries.turnover(case.first, case.last, tz=case.zone, engine=engine, **options(case, by, zones))
    expected = reference_zones.turnover(case.events, catalog, case.first, case.last, case.zone, case.lookback_ms,
                                        case.now_ms, by, zones)
    assert groups_of(frame, by) == ordered_groups(expected)
    for group, row in zip(groups_of(frame, by), frame.itertuples(), strict=True):
        arrivals, observed, per_day = expected[group]
        assert row.arrivals == arrivals and close(row.observed_seconds, observed)
        assert close(row.turnover_per_day, per_day)


@pytest.mark.parametrize("zones", ZONE_FILTERS, ids=lambda z: "+".join(z) or "all")
@pytest.mark.parametrize("by", GROUPINGS)
def test_dwell(lake, by, zones) -> None:
    case, catalog, engine = lake
    frame = queries.dwell(case.first, case.last, tz=case.zone, engine=engine, **options(case, by, zones))
    expected = reference_zones.dwell(case.events, catalog, case.first, case.last, case.zone, case.lookback_ms,
                                     case.now_ms, by, zones)
    assert list(frame.columns)[0] == by and "spot_id" not in frame.columns
    assert groups_of(frame, by) == ordered_groups(expected)
    for group, row in zip(groups_of(frame, by), frame.itertuples(), strict=True):
        sessions, *figures = expected[group]
        assert row.sessions == sessions
        actual = (row.mean_minutes, row.median_minutes, row.p90_minutes, row.max_minutes)
        assert all(close(a, e) for a, e in zip(actual, figures, strict=True)), (row, expected[group])


@pytest.mark.parametrize("name", ("utilization", "turnover", "dwell"))
def test_zone_filter_without_grouping_keeps_the_per_spot_rows_of_those_zones(lake, name) -> None:
    case, catalog, engine = lake
    zones = ("North",)
    call = getattr(queries, name)
    extra = {} if name == "utilization" else {"tz": case.zone}
    everything = call(case.first, case.last, engine=engine, lookback_hours=case.lookback_hours, now=case.now, **extra)
    kept = call(case.first, case.last, engine=engine, lookback_hours=case.lookback_hours, now=case.now, zones=zones,
                **extra)
    north = {spot for spot, place in catalog.items() if place.zone == "North"}
    expected = everything[everything["spot_id"].isin(north)].reset_index(drop=True)
    pd.testing.assert_frame_equal(kept, expected)
