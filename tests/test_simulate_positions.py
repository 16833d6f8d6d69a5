"""`simulate --catalog` gives each bay a position (METRICS.md section 7): a plan per level, in Europe."""

from __future__ import annotations

from itertools import combinations

from click.testing import CliRunner

from parking.analytics.catalog import parse
from parking.cli.main import cli
from parking.simulate import BAY_DEPTH, BAY_WIDTH, catalog_csv

SPOTS = 600  # two full levels and part of a third


def _footprint(row) -> tuple[float, float, float, float]:
    """The bay's rectangle on the plan: (left, top, right, bottom); west and east bays lie across the page."""
    across = row.zone.endswith(("-west", "-east"))
    half_w, half_h = (BAY_DEPTH / 2, BAY_WIDTH / 2) if across else (BAY_WIDTH / 2, BAY_DEPTH / 2)
    return row.x - half_w, row.y - half_h, row.x + half_w, row.y + half_h


def test_every_bay_of_a_level_has_its_own_place_on_the_deck() -> None:
    rows = parse(catalog_csv(SPOTS))
    assert all(r.x is not None and r.lat is not None for r in rows)
    for level in {r.level for r in rows}:
        bays = [_footprint(r) for r in rows if r.level == level]
        assert all(0 <= left and right <= 85 and 0 <= top and bottom <= 80 for left, top, right, bottom in bays)
        for a, b in combinations(bays, 2):  # no two rectangles overlap (touching edges is fine)
            assert a[2] <= b[0] + 1e-9 or b[2] <= a[0] + 1e-9 or a[3] <= b[1] + 1e-9 or b[3] <= a[1] + 1e-9


def test_levels_share_the_plan_and_the_garage_lies_in_europe() -> None:
    rows = parse(catalog_csv(SPOTS))
    first, second = rows[:250], rows[250:500]
    assert [(r.x, r.y, r.lat, r.lon) for r in first] == [(r.x, r.y, r.lat, r.lon) for r in second]
    assert all(34 <= r.lat <= 72 and -25 <= r.lon <= 45 for r in rows)
    centres = {}
    for r in first:
        centres.setdefault(r.zone, []).append((r.x, r.y))
    mean = {zone: (sum(x for x, _ in xy) / len(xy), sum(y for _, y in xy) / len(xy)) for zone, xy in centres.items()}
    assert mean["A-north"][1] < mean["A-centre"][1] < mean["A-south"][1]
    assert mean["A-west"][0] < mean["A-centre"][0] < mean["A-east"][0]


def test_simulate_writes_the_catalog_with_positions(tmp_path) -> None:
    out, spots = tmp_path / "week.jsonl", tmp_path / "spots.csv"
    result = CliRunner().invoke(cli, ["simulate", "--spots", "60", "--days", "1", "--out", str(out),
                                      "--catalog", str(spots)])
    assert result.exit_code == 0, result.output
    assert spots.read_text().splitlines()[0] == "spot_id,zone,level,bay_type,max_stay_minutes,lat,lon,x,y"
    assert len(parse(spots.read_bytes())) == 60
