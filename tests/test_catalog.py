"""The spot catalog (METRICS.md section 7): validation, the normalised file, the
store in force (a directory or S3 on moto), and the local engine's view of it."""

from __future__ import annotations

import boto3
import duckdb
import pytest
from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st
from moto import mock_aws

from parking.analytics import catalog
from parking.analytics.catalog import CATALOG_KEY, COLUMNS, CatalogRow, CatalogStore, InvalidCatalog, parse, to_csv
from parking.cli.main import cli

GOOD = "spot_id,zone,level,bay_type,max_stay_minutes\nA1,North,0,ev,120\nA2,North,,,\n"


def test_columns_are_trimmed_bay_type_lower_cased_and_defaulted() -> None:
    rows = parse(" Spot_ID ,ZONE, colour ,Bay_Type,level\n  A1 , North side ,red, EV , P2 \nB7,South,,,\n")
    assert rows == [CatalogRow("A1", "North side", "P2", "ev", None), CatalogRow("B7", "South", "", "standard", None)]


def test_only_spot_id_and_zone_are_required() -> None:
    assert parse("zone,spot_id\nRoof,R-1\n") == [CatalogRow("R-1", "Roof")]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "line 1: the file is empty"),
        ("spot,zone\nA1,North\n", "line 1: the header must name spot_id and zone (missing: spot_id)"),
        ("spot_id,level\nA1,0\n", "missing: zone"),
        ("spot_id,zone,zone\nA1,N,N\n", "line 1: column zone appears twice"),
        ("spot_id,zone\nA1,North\nA2,North\nA1,South\n", "line 4: spot_id 'A1' repeats line 2"),
        ("spot_id,zone\nA1,North\n A1 ,South\n", "line 3: spot_id 'A1' repeats line 2"),
        ("spot_id,zone\nA1,\n", "line 2: zone must be 1-64 characters, got 0"),
        ("spot_id,zone\nA1,   \n", "line 2: zone must be 1-64 characters, got 0"),
        ("spot_id,zone\nA1,North\nA2," + "z" * 65 + "\n", "line 3: zone must be 1-64 characters, got 65"),
        ("spot_id,zone\n,North\n", "line 2: spot_id must be 1-128 characters, got 0"),
        ("spot_id,zone\n" + "s" * 129 + ",North\n", "line 2: spot_id must be 1-128"),
        ("spot_id,zone\nA\x01,North\n", "line 2: spot_id holds a control character"),
        ("spot_id,zone,max_stay_minutes\nA1,N,0\n", "line 2: max_stay_minutes must be a whole number"),
        ("spot_id,zone,max_stay_minutes\nA1,N,-5\n", "line 2: max_stay_minutes"),
        ("spot_id,zone,max_stay_minutes\nA1,N,1.5\n", "line 2: max_stay_minutes"),
        ("spot_id,zone,max_stay_minutes\nA1,N,90\nA2,N,ninety\n", "line 3: max_stay_minutes"),
        ("spot_id,zone,max_stay_minutes\nA1,N,1e3\n", "line 2: max_stay_minutes"),
        ("spot_id,zone,max_stay_minutes\nA1,N,99999999999\n", "line 2: max_stay_minutes"),
        ("spot_id,zone,bay_type\nA1,N,electric car\n", "line 2: bay_type must be one word"),
        ("spot_id,zone\nA1,North,extra\n", "line 2: 3 cells, but the header names 2 columns"),
        ('spot_id,zone\nA1,"North\n', "not valid CSV"),
    ],
)
def test_a_bad_file_is_rejected_naming_its_line(text, message) -> None:
    with pytest.raises(InvalidCatalog) as error:
        parse(text)
    assert message in str(error.value)


def test_a_file_that_is_not_utf8_is_rejected_naming_the_line() -> None:
    with pytest.raises(InvalidCatalog, match=r"^line 3: not UTF-8 text$"):
        parse(b"spot_id,zone\nA1,North\nA2,Nord\xe9\n")


def test_line_numbers_count_blank_lines_and_quoted_line_breaks() -> None:
    with pytest.raises(InvalidCatalog, match="^line 5: spot_id 'A1' repeats line 2"):
        parse('spot_id,zone,note\nA1,North,"two\nlines"\n\nA1,South,\n')


def test_the_stored_file_has_the_fixed_columns_in_order() -> None:
    rows = parse("max_stay_minutes,zone,spot_id\n0090,Roof,R-1\n")
    assert to_csv(rows).decode() == (
        '"spot_id","zone","level","bay_type","max_stay_minutes","lat","lon","x","y"\n'
        '"R-1","Roof","","standard","90","","","",""\n'
    )


def test_the_store_replaces_the_catalog_and_a_rejected_file_leaves_it(tmp_path) -> None:
    store = CatalogStore(tmp_path)
    assert store.read() is None
    first = tmp_path / "first.csv"
    first.write_text(GOOD)
    catalog.load_file(first, store)
    before = (tmp_path / CATALOG_KEY).read_bytes()
    bad = tmp_path / "bad.csv"
    bad.write_text("spot_id,zone\nB1,South\nB1,South\n")
    with pytest.raises(InvalidCatalog):
        catalog.load_file(bad, store)
    assert (tmp_path / CATALOG_KEY).read_bytes() == before
    assert [p.name for p in (tmp_path / "parking-catalog").iterdir()] == ["spots.csv"], "no temporary file left"
    assert store.read() == parse(GOOD)


def test_the_catalog_goes_to_s3_as_one_object_beside_the_data(tmp_path) -> None:
    with mock_aws():
        s3 = boto3.client("s3", region_name="eu-west-1")
        s3.create_bucket(Bucket="lake", CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
        store = CatalogStore(bucket="lake", client=s3)
        assert store.read() is None
        store.replace(parse(GOOD))
        store.replace(parse("spot_id,zone\nC1,East\n"))
        assert [o["Key"] for o in s3.list_objects_v2(Bucket="lake")["Contents"]] == ["parking-catalog/spots.csv"]
        assert store.read() == [CatalogRow("C1", "East")]


cell = st.text(st.characters(blacklist_categories=("Cc", "Cs")), min_size=0, max_size=12).map(str.strip)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(cell.filter(bool), cell.filter(bool), cell, st.sampled_from(["ev", "standard", "a_b-1"]),
                          st.one_of(st.none(), st.integers(1, 10**9))), max_size=6, unique_by=lambda r: r[0]))
def test_duckdb_reads_the_stored_file_as_written(tmp_path_factory, rows) -> None:
    """Quotes, backslashes, commas and empty cells survive: an empty level stays '' (not null)."""
    root = tmp_path_factory.mktemp("catalog")
    wanted = [CatalogRow(*row) for row in rows]
    CatalogStore(root).replace(wanted)
    read = duckdb.connect().execute(catalog.duckdb_view_body(root)).fetchall()
    assert read == [(r.spot_id, r.zone, r.level, r.bay_type, "" if r.max_stay_minutes is None else str(r.max_stay_minutes),
                     "", "", "", "") for r in wanted]
    assert CatalogStore(root).read() == wanted


def test_without_a_catalog_the_local_view_has_the_columns_and_no_rows(tmp_path) -> None:
    connection = duckdb.connect()
    relation = connection.sql(catalog.duckdb_view_body(tmp_path))
    assert (tuple(relation.columns), relation.fetchall()) == (COLUMNS, [])


@pytest.mark.parametrize("command", ["availability", "alerts", "forecast"])
def test_the_cli_groups_by_the_catalogs_groupings(command: str) -> None:
    [by] = [param for param in cli.commands[command].params if param.name == "by"]
    assert tuple(by.type.choices) == catalog.GROUPINGS and by.default == "zone"


def test_spots_load_then_show(tmp_path) -> None:
    path = tmp_path / "spots.csv"
    path.write_text(GOOD)
    loaded = CliRunner().invoke(cli, ["spots", "load", str(path), "--data-dir", str(tmp_path / "data")])
    assert loaded.exit_code == 0, loaded.output
    assert loaded.output.startswith("loaded 2 spots in 1 zones (1 with a maximum stay) into ")
    shown = CliRunner().invoke(cli, ["spots", "show", "--data-dir", str(tmp_path / "data"), "--format", "csv"])
    assert shown.output == ("spot_id,zone,level,bay_type,max_stay_minutes,lat,lon,x,y\n"
                            "A1,North,0,ev,120,,,,\nA2,North,,standard,,,,,\n")


def test_spots_load_rejects_a_bad_file_in_one_line_with_exit_2(tmp_path) -> None:
    path = tmp_path / "spots.csv"
    path.write_text("spot_id,zone\nA1,North\nA1,North\n")
    result = CliRunner().invoke(cli, ["spots", "load", str(path), "--data-dir", str(tmp_path)])
    assert (result.exit_code, result.output) == (2, "Error: line 3: spot_id 'A1' repeats line 2\n")
    assert not (tmp_path / CATALOG_KEY).exists()


def test_spots_show_without_a_catalog_says_so(tmp_path) -> None:
    result = CliRunner().invoke(cli, ["spots", "show", "--data-dir", str(tmp_path)])
    assert (result.exit_code, result.output) == (0, "Nothing observed: no catalog loaded.\n")


def test_spots_show_of_a_data_directory_that_does_not_exist_is_a_usage_error(tmp_path) -> None:
    result = CliRunner().invoke(cli, ["spots", "show", "--data-dir", str(tmp_path / "nothere")])
    assert result.exit_code == 2
    [line] = result.stderr.splitlines()
    assert "does not exist" in line


# --- What availability says when it knows nothing, and a damaged stored catalog ----------------

STORED = '"spot_id","zone","level","bay_type","max_stay_minutes"\n"A1","North","0","ev","120"\n'
DAMAGED = [
    ("a header changed by hand", STORED.replace('"zone"', '"area"'), "line 1: the header is not"),
    ("a quote left open", STORED + '"A2","North\n', "line 3: not valid CSV (unexpected end of data)"),
    ("a cell too many", STORED + '"A2","North","","standard","","x"\n', "line 3: 6 cells, not 5"),
    ("a cell too few", STORED + '"A2","North"\n', "line 3: 2 cells, not 5"),
    ("a maximum stay that is no number", STORED.replace('"120"', '"two hours"'), "line 2: max_stay_minutes"),
    ("bytes that are not UTF-8", STORED + '"A\xff2","North","","standard",""\n', "line 3: not UTF-8 text"),
    ("emptied", "", "line 1: the header is not"),
]
QUERIES = [["availability"], ["overstays"], ["alerts"], ["occupancy", "--date", "2024-03-20", "--by", "zone"],
           ["plot", "availability", "--out", "{lake}/bays.png"], ["spots", "show"]]


@pytest.fixture
def lake(tmp_path):
    (tmp_path / "parking-data").mkdir()
    return tmp_path


@pytest.mark.parametrize("command", QUERIES, ids=lambda c: " ".join(c[:2]))
@pytest.mark.parametrize(("body", "reason"), [d[1:] for d in DAMAGED], ids=[d[0] for d in DAMAGED])
def test_a_damaged_stored_catalog_is_one_line_naming_the_file_and_the_fix(lake, command, body, reason) -> None:
    (lake / CATALOG_KEY).parent.mkdir()
    (lake / CATALOG_KEY).write_bytes(body.encode("latin-1"))
    result = CliRunner().invoke(cli, [*(a.format(lake=lake) for a in command), "--data-dir", str(lake)])
    assert result.exit_code == 1, result.output
    [line] = result.stderr.splitlines()
    assert line.startswith(f"Error: the stored spot catalog {lake / CATALOG_KEY} is damaged (")
    assert reason in line
    assert line.endswith("); load the catalog again with `parking-cli spots load FILE.csv`")
    assert not (lake / "bays.png").exists()


@pytest.mark.parametrize("command", [["status"], ["health"], ["health", "--flagged"]], ids=" ".join)
@pytest.mark.parametrize(("body", "reason"), [d[1:] for d in DAMAGED], ids=[d[0] for d in DAMAGED])
def test_a_damaged_stored_catalog_does_not_stop_the_queries_that_never_read_it(lake, command, body, reason) -> None:
    (lake / CATALOG_KEY).parent.mkdir()
    (lake / CATALOG_KEY).write_bytes(body.encode("latin-1"))
    result = CliRunner().invoke(cli, [*command, "--data-dir", str(lake)])
    assert result.exit_code == 0, result.output
    assert "spot catalog" not in result.stderr


def test_the_damage_check_passes_every_file_the_store_writes(tmp_path) -> None:
    rows = [CatalogRow('A "1" \\ ,', "North\nEast", "", "ev", 10**9), CatalogRow("B", "é", "-1", "standard", None)]
    CatalogStore(tmp_path).replace(rows)
    catalog.check_stored_file(tmp_path / CATALOG_KEY)


CASES = {  # catalog file (None: none loaded), then what availability says with no event at all
    "no catalog": (None, "no catalog loaded, and no spot reported in the 7 days before that instant"),
    "an empty catalog": ("spot_id,zone\n", "the catalog is empty, and no spot reported in the 7 days before that instant"),
    "a catalog, no event": (GOOD, "all 2 bays are unknown: no spot reported in the 24 hours (--lookback) before that instant"),
    "one bay, no event": ("spot_id,zone\nA1,North\n",
                          "the one bay is unknown: no spot reported in the 24 hours (--lookback) before that instant"),
}


@pytest.mark.parametrize(("plot", "suffix", "code"), [(False, ".", 0), (True, "; nothing written.", 3)],
                         ids=["availability", "plot availability"])
@pytest.mark.parametrize(("csv_text", "said"), list(CASES.values()), ids=list(CASES))
def test_availability_with_nothing_known_says_what_is_the_case(lake, csv_text, said, plot, suffix, code) -> None:
    if csv_text is not None:
        (lake / "spots.csv").write_text(csv_text)
        assert CliRunner().invoke(cli, ["spots", "load", str(lake / "spots.csv"), "--data-dir", str(lake)]).exit_code == 0
    command = ["plot", "availability", "--out", str(lake / "bays.png")] if plot else ["availability"]
    result = CliRunner().invoke(cli, [*command, "--data-dir", str(lake)])
    assert (result.exit_code, result.stderr) == (code, f"Nothing observed: {said}{suffix}\n")
    assert not (lake / "bays.png").exists()


@pytest.mark.parametrize(("csv_text", "said"), [
    (None, "no catalog loaded, so no bay has a maximum stay"),
    (GOOD, "no car has overstayed"),
], ids=["no catalog", "a catalog with a maximum stay"])
def test_overstays_with_none_says_why(lake, csv_text, said) -> None:
    if csv_text is not None:
        (lake / "spots.csv").write_text(csv_text)
        assert CliRunner().invoke(cli, ["spots", "load", str(lake / "spots.csv"), "--data-dir", str(lake)]).exit_code == 0
    result = CliRunner().invoke(cli, ["overstays", "--data-dir", str(lake)])
    assert (result.exit_code, result.stderr) == (0, f"Nothing observed: {said}.\n")


@pytest.mark.parametrize(("engine", "warned"), [("athena", True), ("local", False)])
def test_spots_load_without_a_bucket_warns_when_athena_is_the_engine(tmp_path, monkeypatch, engine, warned) -> None:
    """Athena reads the catalog from the bucket: a local load would change nothing it answers."""
    monkeypatch.setenv("PARKING_ENGINE", engine)
    path = tmp_path / "spots.csv"
    path.write_text(GOOD)
    result = CliRunner().invoke(cli, ["spots", "load", str(path), "--data-dir", str(tmp_path / "data")])
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("loaded 2 spots")
    assert ("PARKING_ENGINE is athena, which reads the catalog from the bucket" in result.stderr) is warned
    assert ("--bucket NAME" in result.stderr) is warned
