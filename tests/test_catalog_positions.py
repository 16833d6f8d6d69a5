"""The catalog's positions (METRICS.md section 7): lat/lon and x/y read, validated,
stored and read back; a catalog stored before them (five columns) still loads and reads."""

from __future__ import annotations

import math

import duckdb
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from parking import queries
from parking.analytics import catalog
from parking.analytics.catalog import CATALOG_KEY, COLUMNS, CatalogRow, CatalogStore, InvalidCatalog, parse
from parking.analytics.engines import DuckDBEngine

BAD = [  # (file body, the message's start)
    ("spot_id,zone,lat\nA1,N,48.1\n", "line 2: lat and lon go together, but lon is empty"),
    ("spot_id,zone,lat,lon\nA1,N,,11.5\n", "line 2: lat and lon go together, but lat is empty"),
    ("spot_id,zone,x,y\nA1,N,3,\n", "line 2: x and y go together, but y is empty"),
    ("spot_id,zone,lat,lon\nA1,N,90.5,11\n", "line 2: lat must be from -90 to 90 degrees, got '90.5'"),
    ("spot_id,zone,lat,lon\nA1,N,48,-180.01\n", "line 2: lon must be from -180 to 180 degrees, got '-180.01'"),
    ("spot_id,zone,x,y\nA1,N,nan,1\n", "line 2: x must be a finite decimal number, got 'nan'"),
    ("spot_id,zone,x,y\nA1,N,1,inf\n", "line 2: y must be a finite decimal number, got 'inf'"),
    ("spot_id,zone,x,y\nA1,N,1e999,1\n", "line 2: x must be a finite decimal number, got '1e999'"),
    ("spot_id,zone,x,y\nA1,N,0x10,1\n", "line 2: x must be a finite decimal number, got '0x10'"),
    ("spot_id,zone,lat,lon\nA1,N,1,2\nA2,N,48°,11\n", "line 3: lat must be a finite decimal number, got '48°'"),
]


@pytest.mark.parametrize(("body", "message"), BAD, ids=[m for _, m in BAD])
def test_a_bad_position_rejects_the_file_naming_the_line(body, message) -> None:
    with pytest.raises(InvalidCatalog) as error:
        parse(body)
    assert str(error.value).startswith(message)


def test_positions_are_read_trimmed_and_either_kind_alone_is_fine() -> None:
    rows = parse("spot_id,zone,lat,lon,x,y\nA1,N, 48.137 ,11.575,,\nA2,N,,,-2.5,1e3\nA3,N,-90,180,0,0\n")
    assert [(r.lat, r.lon, r.x, r.y) for r in rows] == [
        (48.137, 11.575, None, None), (None, None, -2.5, 1000.0), (-90.0, 180.0, 0.0, 0.0)]


finite = st.floats(allow_nan=False, allow_infinity=False, width=64)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.one_of(st.none(), st.tuples(st.floats(-90, 90), st.floats(-180, 180))),
                          st.one_of(st.none(), st.tuples(finite, finite))), max_size=5))
def test_positions_survive_the_store_exactly_and_the_local_view_reads_them(tmp_path_factory, positions) -> None:
    root = tmp_path_factory.mktemp("catalog")
    wanted = [CatalogRow(f"S{n}", "Z", "", "standard", None, *(ll or (None, None)), *(xy or (None, None)))
              for n, (ll, xy) in enumerate(positions)]
    CatalogStore(root).replace(wanted)
    assert CatalogStore(root).read() == wanted
    view = duckdb.connect().sql(catalog.duckdb_view_body(root))
    assert tuple(view.columns) == COLUMNS
    read = [[None if cell == "" else float(cell) for cell in row[5:]] for row in view.fetchall()]
    assert read == [[r.lat, r.lon, r.x, r.y] for r in wanted]


LEGACY = ('"spot_id","zone","level","bay_type","max_stay_minutes"\n'
          '"A1","North","0","ev","120"\n"A2","North","","standard",""\n')


def test_a_catalog_stored_before_positions_still_reads_everywhere(tmp_path) -> None:
    (tmp_path / CATALOG_KEY).parent.mkdir(parents=True)
    (tmp_path / CATALOG_KEY).write_text(LEGACY)
    store = CatalogStore(tmp_path)
    assert store.read() == [CatalogRow("A1", "North", "0", "ev", 120), CatalogRow("A2", "North")]
    view = duckdb.connect().sql(catalog.duckdb_view_body(tmp_path))
    assert (tuple(view.columns), view.fetchall()) == (
        COLUMNS, [("A1", "North", "0", "ev", "120", "", "", "", ""), ("A2", "North", "", "standard", "", "", "", "", "")])
    (tmp_path / "parking-data").mkdir()
    frame = queries.availability(engine=DuckDBEngine(tmp_path))
    assert frame.to_dict("records")[0] | {"occupancy_rate": None} == {
        "zone": "North", "capacity": 2, "occupied": 0, "free": 0, "unknown": 2, "occupancy_rate": None}


def test_a_legacy_file_with_a_sixth_cell_is_damaged(tmp_path) -> None:
    (tmp_path / CATALOG_KEY).parent.mkdir(parents=True)
    (tmp_path / CATALOG_KEY).write_text(LEGACY + '"A3","North","","standard","","1"\n')
    with pytest.raises(catalog.DamagedCatalog, match="line 4: 6 cells, not 5"):
        CatalogStore(tmp_path).read()


def test_the_catalog_knows_when_it_was_loaded(tmp_path) -> None:
    store = CatalogStore(tmp_path)
    assert store.loaded_at() is None
    store.replace(parse("spot_id,zone\nA1,N\n"))
    loaded = store.loaded_at()
    assert loaded is not None and loaded.tzinfo is not None
    assert math.isclose(loaded.timestamp(), (tmp_path / CATALOG_KEY).stat().st_mtime)
