"""Section 7's named cases, each on a small lake written for it: a new catalog
moves spots between zones, uncatalogued spots, an empty level, a bay with no
maximum stay, a stay across midnight and a clock change, and the CLI's exit
statuses and plot."""

from __future__ import annotations

import json
from datetime import date, datetime, timedelta, timezone

import pandas as pd
import pytest
from click.testing import CliRunner

from parking import queries
from parking.analytics.catalog import CatalogStore, parse
from parking.analytics.engines import DuckDBEngine
from parking.cli.main import cli
from parking.ingest.files import ingest_lines
from parking.ingest.sinks import LocalSink

AT = "2024-03-20T12:00:00Z"
NOW = datetime(2024, 3, 21, tzinfo=timezone.utc)
EVENTS = [
    ("A1", "occupied", "2024-03-20T08:00:00Z"),
    ("A2", "free", "2024-03-20T09:00:00Z"),
    ("A3", "occupied", "2024-03-20T11:00:00Z"),
    ("B1", "occupied", "2024-03-20T10:00:00Z"),
    ("B2", "occupied", "2024-03-18T10:00:00Z"),  # older than the lookback: unknown
    ("X1", "occupied", "2024-03-20T11:30:00Z"),  # uncatalogued
    ("X2", "free", "2024-03-14T11:30:00Z"),  # uncatalogued, seen in the 7 days, stale
    ("X3", "free", "2024-03-13T11:00:00Z"),  # uncatalogued, last seen before the 7 days
]
CATALOG = """spot_id,zone,level,bay_type,max_stay_minutes
A1,North,1,ev,60
A2,North,,standard,
A3,North,1,standard,
B1,South,2,accessible,300
B2,South,,standard,30
"""


def lake_with(root, events, catalog_text: str | None = CATALOG) -> DuckDBEngine:
    lines = [json.dumps({"spot_id": s, "status": st, "timestamp": t}).encode() for s, st, t in events]
    totals = ingest_lines(lines, LocalSink(root), now=datetime(2024, 4, 30, tzinfo=timezone.utc))
    assert totals.stored == len(lines)
    if catalog_text is not None:
        CatalogStore(root).replace(parse(catalog_text))
    return DuckDBEngine(root, threads=1)


@pytest.fixture
def engine(tmp_path) -> DuckDBEngine:
    return lake_with(tmp_path, EVENTS)


def rows(frame: pd.DataFrame) -> list[tuple]:
    return [tuple(None if pd.isna(v) else v for v in row) for row in frame.itertuples(index=False)]


def test_availability_per_zone_with_the_uncatalogued_spots_last(engine) -> None:
    frame = queries.availability(AT, engine=engine, now=NOW)
    assert rows(frame) == [
        ("North", 3, 2, 1, 0, 2 / 3),
        ("South", 2, 1, 0, 1, 1.0),
        (None, 2, 1, 0, 1, 1.0),  # X1 and X2; X3 was last seen before the 7 days
    ]


def test_an_empty_level_is_its_own_group_apart_from_the_uncatalogued(engine) -> None:
    frame = queries.availability(AT, by="level", engine=engine, now=NOW)
    assert [None if pd.isna(v) else v for v in frame["level"]] == ["", "1", "2", None]
    assert rows(frame)[0] == ("", 2, 0, 1, 1, 0.0)


def test_a_new_catalog_moves_spots_between_zones(tmp_path) -> None:
    engine = lake_with(tmp_path, EVENTS)
    before = queries.availability(AT, engine=engine, now=NOW)
    CatalogStore(tmp_path).replace(parse("spot_id,zone\nA1,South\nA2,North\nA3,South\nB1,South\nX1,East\n"))
    after = queries.availability(AT, engine=engine, now=NOW)
    assert rows(before)[0][:3] == ("North", 3, 2)
    assert rows(after) == [
        ("East", 1, 1, 0, 0, 1.0),
        ("North", 1, 0, 1, 0, 0.0),
        ("South", 3, 3, 0, 0, 1.0),
        (None, 2, 0, 0, 2, None),  # B2 (now uncatalogued, stale) and X2
    ]


def test_without_a_catalog_every_spot_seen_is_in_the_null_group(tmp_path) -> None:
    engine = lake_with(tmp_path, EVENTS, catalog_text=None)
    assert rows(queries.availability(AT, engine=engine, now=NOW)) == [(None, 7, 4, 1, 2, 0.8)]


def test_overstays_lists_only_bays_with_a_maximum_stay_that_was_exceeded(engine) -> None:
    frame = queries.overstays(AT, engine=engine, now=NOW)
    # A1: 240 min of 60. B1: 120 of 300 (not over). A3: no maximum. B2: unknown now. X1: uncatalogued.
    assert rows(frame) == [("A1", "North", pd.Timestamp("2024-03-20T08:00:00Z"), 240.0, 60, 180.0, "")]
    assert str(frame["since"].dtype) == "datetime64[ns, UTC]"


def test_a_stay_across_midnight_and_a_clock_change_counts_elapsed_minutes(tmp_path) -> None:
    # Paris moves its clocks from 02:00 to 03:00 on 2024-03-31: the car arrived at
    # 23:30 local (22:30Z) the evening before; at 04:30 local (02:30Z) it has stayed
    # 4 hours, though the wall clock moved 5.
    events = [("E1", "free", "2024-03-30T21:00:00Z"), ("E1", "occupied", "2024-03-30T23:30:00+01:00"),
              ("E1", "occupied", "2024-03-31T01:00:00Z")]
    engine = lake_with(tmp_path, events, "spot_id,zone,bay_type,max_stay_minutes\nE1,Quai,ev,180\n")
    frame = queries.overstays("2024-03-31T04:30:00+02:00", engine=engine, now=NOW.replace(month=4))
    assert rows(frame) == [("E1", "Quai", pd.Timestamp("2024-03-30T22:30:00Z"), 240.0, 180, 60.0, "")]


def heartbeats(spot: str, status: str, first: str, hours: int, every: int = 6) -> list[tuple[str, str, str]]:
    """A sensor repeating ``status`` every ``every`` hours for ``hours`` hours from ``first``."""
    start = datetime.fromisoformat(first.replace("Z", "+00:00"))
    return [(spot, status, f"{start + timedelta(hours=h):%Y-%m-%dT%H:%M:%SZ}") for h in range(0, hours + 1, every)]


# Section 7: overstays' sensor_flags are sensor health's flags at TS, default thresholds.
FLAG_CASES = [
    ("a stay of 3 hours", heartbeats("K1", "occupied", "2024-03-20T09:00:00Z", 3, 1), ""),
    ("a stay of 80 hours", heartbeats("K1", "occupied", "2024-03-17T04:00:00Z", 80), "stuck"),
    ("20 changes in the last day", [("K1", "occupied" if n % 2 else "free", f"2024-03-20T{n // 2:02d}:{n % 2 * 30:02d}:00Z")
                                    for n in range(22)], "flapping"),
]


@pytest.mark.parametrize(("events", "flags"), [case[1:] for case in FLAG_CASES], ids=[case[0] for case in FLAG_CASES])
def test_an_overstay_carries_its_sensors_health_flags(tmp_path, events, flags) -> None:
    engine = lake_with(tmp_path, events, "spot_id,zone,max_stay_minutes\nK1,Kerb,60\n")
    [stay] = rows(queries.overstays(AT, engine=engine, now=NOW))
    [sensor] = rows(queries.health(AT, engine=engine, now=NOW))
    assert stay[-1] == sensor[-1] == flags


def test_the_two_lists_split_overstays_by_their_sensor_flags(tmp_path) -> None:
    events = heartbeats("K1", "occupied", "2024-03-17T04:00:00Z", 80) + heartbeats("K2", "occupied", "2024-03-20T09:00:00Z", 3)
    engine = lake_with(tmp_path, events, "spot_id,zone,max_stay_minutes\nK1,Kerb,60\nK2,Kerb,60\n")
    stays = queries.overstays(AT, engine=engine, now=NOW)
    assert (list(queries.to_enforce(stays)["spot_id"]), list(queries.to_check(stays)["spot_id"])) == (["K2"], ["K1"])


SPLIT_CATALOG = "spot_id,zone,max_stay_minutes\nK1,Kerb,60\nK2,Kerb,60\n"


def split_lake(tmp_path) -> DuckDBEngine:
    """K1: a stay of 80 hours (its sensor looks stuck); K2: 3 hours, a healthy sensor."""
    events = heartbeats("K1", "occupied", "2024-03-17T04:00:00Z", 80) + heartbeats("K2", "occupied", "2024-03-20T09:00:00Z", 3)
    return lake_with(tmp_path, events, SPLIT_CATALOG)


def test_the_overstays_table_keeps_to_enforce_and_to_check_the_sensor_apart(tmp_path) -> None:
    split_lake(tmp_path)
    result = CliRunner().invoke(cli, ["--data-dir", str(tmp_path), "overstays", "--at", AT])
    assert result.exit_code == 0, result.output
    enforce, check = result.stdout.split("To check the sensor: 1")
    assert enforce.startswith("To enforce: 1 (the sensor looks healthy)\n")
    assert "K2" in enforce and "K1" not in enforce and "stuck" not in enforce
    assert "K1" in check and "stuck" in check and "K2" not in check


@pytest.mark.parametrize("fmt", ["csv", "json"])
def test_overstays_csv_and_json_keep_one_list_with_sensor_flags(tmp_path, fmt) -> None:
    split_lake(tmp_path)
    result = CliRunner().invoke(cli, ["--data-dir", str(tmp_path), "--format", fmt, "overstays", "--at", AT])
    assert result.exit_code == 0, result.output
    if fmt == "json":
        assert [(r["spot_id"], r["sensor_flags"]) for r in json.loads(result.stdout)] == [("K1", "stuck"), ("K2", "")]
    else:
        assert result.stdout.splitlines()[0].endswith(",over_minutes,sensor_flags")


def test_the_reports_overstays_section_has_the_two_lists(tmp_path) -> None:
    from parking.analytics.report import ReportInputs, overstays_section

    engine = split_lake(tmp_path)
    inputs = ReportInputs(date(2024, 3, 20), date(2024, 3, 20), "UTC", None, engine, datetime(2024, 3, 20, 12, tzinfo=timezone.utc))
    section = overstays_section(inputs)
    assert section.facts == (("To enforce", "1"), ("To check the sensor", "1"))
    enforce, check = section.tables
    assert enforce.caption.startswith("To enforce") and [row[0] for row in enforce.rows] == ["K2"]
    assert "sensor flags" not in enforce.columns
    assert check.caption.startswith("To check the sensor") and [(row[0], row[-1]) for row in check.rows] == [("K1", "stuck")]


def test_overstays_are_ordered_by_minutes_over_then_spot(tmp_path) -> None:
    events = [(spot, "occupied", "2024-03-20T09:00:00Z") for spot in ("C2", "C1", "C3")]
    engine = lake_with(tmp_path, events, "spot_id,zone,max_stay_minutes\nC1,Z,60\nC2,Z,60\nC3,Z,30\n")
    frame = queries.overstays(AT, engine=engine, now=NOW)
    assert list(frame["spot_id"]) == ["C3", "C1", "C2"]
    assert list(frame["over_minutes"]) == [150.0, 120.0, 120.0]


@pytest.mark.parametrize(
    ("threshold", "expected_zones"),
    [(0.9, ["South", None]), (0.6, ["North", "South", None]), (2 / 3, ["North", "South", None]),
     (0.67, ["South", None]), (0.0, ["North", "South", None])],
)
def test_alerts_return_the_groups_at_or_above_the_threshold(engine, threshold, expected_zones) -> None:
    frame = queries.alerts(AT, threshold=threshold, engine=engine, now=NOW)
    assert [None if pd.isna(z) else z for z in frame["zone"]] == expected_zones


@pytest.mark.parametrize(
    ("args", "exit_code"),
    [
        (["alerts", "--at", AT], 3),
        (["alerts", "--at", "2024-03-25T12:00:00Z"], 0),  # nothing known: no rate reaches the threshold
        (["alerts", "--at", AT, "--threshold", "1.5"], 2),
        (["alerts", "--at", AT, "--by", "floor"], 2),
        (["availability", "--at", AT, "--by", "colour"], 2),
        (["availability", "--at", "yesterday"], 2),
        (["availability", "--at", AT, "--lookback", "0"], 2),
        (["overstays", "--at", AT], 0),
    ],
)
def test_cli_exit_statuses(tmp_path, args, exit_code) -> None:
    result = CliRunner().invoke(cli, ["--data-dir", str(lake_root(tmp_path)), *args])
    assert result.exit_code == exit_code, result.output
    if exit_code == 2:
        assert result.output.count("\n") == 1 and result.output.startswith("Error: ")


def lake_root(tmp_path):
    lake_with(tmp_path, EVENTS)
    return tmp_path


def test_cli_alerts_prints_the_rows_it_alerts_on(tmp_path) -> None:
    result = CliRunner().invoke(cli, ["--data-dir", str(lake_root(tmp_path)), "alerts", "--at", AT, "--format", "json"])
    assert result.exit_code == 3
    assert [row["zone"] for row in json.loads(result.output)] == ["South", None]


def test_plot_availability_writes_a_png(tmp_path) -> None:
    out = tmp_path / "bays.png"
    result = CliRunner().invoke(cli, ["plot", "availability", "--at", AT, "--by", "level",
                                      "--data-dir", str(lake_root(tmp_path)), "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_grouped_json_keeps_the_empty_level_apart_from_the_uncatalogued(tmp_path) -> None:
    result = CliRunner().invoke(cli, ["--data-dir", str(lake_root(tmp_path)), "--format", "json", "utilization",
                                      "--from", "2024-03-20", "--to", "2024-03-20", "--by", "level"])
    assert result.exit_code == 0, result.output
    assert [row["level"] for row in json.loads(result.output)] == ["", "1", "2", None]
    assert "spot_id" not in json.loads(result.output)[0]


@pytest.mark.parametrize("command", (["occupancy", "--date", "2024-03-20"],
                                     ["utilization", "--from", "2024-03-20", "--to", "2024-03-20"],
                                     ["patterns", "--from", "2024-03-20", "--to", "2024-03-20"],
                                     ["turnover", "--from", "2024-03-20", "--to", "2024-03-20"],
                                     ["dwell", "--from", "2024-03-20", "--to", "2024-03-20"]))
@pytest.mark.parametrize(("extra", "message"), ((["--by", "floor"], "Invalid value for '--by'"),
                                                 (["--zone", " "], "--zone must name a zone of 1-64 characters"),
                                                 (["--zone", "z" * 65], "--zone must name a zone of 1-64"),
                                                 (["--zone", "z" * 100_000], "'... (100,000 characters)")))
def test_grouping_options_refuse_bad_values_in_one_line(tmp_path, command, extra, message) -> None:
    (tmp_path / "parking-data").mkdir()  # a lake, so only the option is wrong
    result = CliRunner().invoke(cli, ["--data-dir", str(tmp_path), *command, *extra])
    assert result.exit_code == 2 and result.output.count("\n") == 1 and message in result.output, result.output[:300]
    assert len(result.output) < 300, "a long value is cut, not repeated whole"


def test_a_zone_name_is_bound_not_formatted_into_the_sql(tmp_path) -> None:
    engine = lake_with(tmp_path, EVENTS, CATALOG + "Q1,\"It's; DROP TABLE x --\",0,,\n")
    frame = queries.utilization("2024-03-20", "2024-03-20", zones=["It's; DROP TABLE x --", "North"], engine=engine,
                                now=NOW)
    assert list(frame["spot_id"]) == ["A1", "A2", "A3"]


@pytest.mark.parametrize("command", (["plot", "patterns", "--from", "2024-03-18", "--to", "2024-03-20"],
                                     ["plot", "occupancy", "--date", "2024-03-20"]))
def test_plots_take_zone_filters(tmp_path, command) -> None:
    out = tmp_path / "zone.png"
    result = CliRunner().invoke(cli, [*command, "--zone", "North", "--zone", "South", "--data-dir",
                                      str(lake_root(tmp_path)), "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.parametrize("name", ["x[12]", "x*", "x?"])
def test_a_data_directory_named_like_a_glob_reads_its_own_catalog_and_compacted_days(tmp_path, name) -> None:
    """Neighbours the name would match as a pattern (x1, x2, xx) hold other catalogs and days."""
    from parking.lake.compaction.protocol import compact
    from parking.lake.stores import LocalStore

    for neighbour in ("x1", "x2", "xx"):
        lake_with(tmp_path / neighbour, EVENTS, "spot_id,zone\nA1,Elsewhere\nA2,Elsewhere\n")
        compact(LocalStore(tmp_path / neighbour), date(2030, 1, 1))
    own = lake_with(tmp_path / name, EVENTS)
    plain = lake_with(tmp_path / "plain", EVENTS)
    for engine in (own, plain):
        compact(LocalStore(engine.data_dir), date(2030, 1, 1))
    assert rows(queries.availability(AT, engine=own, now=NOW)) == rows(queries.availability(AT, engine=plain, now=NOW))
    mine = queries.utilization("2024-03-20", "2024-03-20", by="zone", engine=own, now=NOW)
    assert rows(mine) == rows(queries.utilization("2024-03-20", "2024-03-20", by="zone", engine=plain, now=NOW))


def first_cells(output: str, fmt: str) -> list:
    """The group column of each row, as printed."""
    if fmt == "json":
        return [row["level"] for row in json.loads(output)]
    lines = output.splitlines()[1:]
    return [line.split(",")[0] for line in lines] if fmt == "csv" else [line.split()[0] for line in lines]


@pytest.mark.parametrize(("fmt", "levels"), [
    ("table", ['""', "1", "2", "(uncatalogued)"]),
    ("csv", ['""', "1", "2", ""]),
    ("json", ["", "1", "2", None]),
])
@pytest.mark.parametrize("command", [["availability", "--at", AT],
                                     ["utilization", "--from", "2024-03-20", "--to", "2024-03-20"]])
def test_every_format_tells_the_empty_level_from_the_uncatalogued(tmp_path, fmt, levels, command) -> None:
    """METRICS.md section 7: an empty level is the group "", the uncatalogued spots the null group."""
    result = CliRunner().invoke(cli, ["--data-dir", str(lake_root(tmp_path)), *command, "--by", "level",
                                      "--format", fmt])
    assert result.exit_code == 0, result.output
    assert first_cells(result.stdout, fmt) == levels


def test_csv_quotes_the_empty_group_and_leaves_the_null_group_empty(tmp_path) -> None:
    result = CliRunner().invoke(cli, ["--data-dir", str(lake_root(tmp_path)), "availability", "--at", AT,
                                      "--by", "level", "--format", "csv"])
    assert result.stdout.splitlines()[1:] == ['"",2,0,1,1,0.0', "1,2,2,0,0,1.0", "2,1,1,0,0,1.0", ",2,1,0,1,1.0"]


@pytest.mark.parametrize("args", [["utilization", "--from", "2024-03-20", "--to", "2024-03-20", "--zone", "Nowhere"],
                                  ["occupancy", "--date", "2024-03-20", "--by", "zone", "--zone", "North",
                                   "--zone", " Nowhere "],
                                  ["plot", "patterns", "--from", "2024-03-20", "--to", "2024-03-20",
                                   "--zone", "Nowhere", "--out", "x.png"]])
def test_a_zone_not_in_the_catalog_is_a_usage_error_naming_the_known_ones(tmp_path, args) -> None:
    result = CliRunner().invoke(cli, ["--data-dir", str(lake_root(tmp_path)), *args])
    assert (result.exit_code, result.output) == (
        2, "Error: zone 'Nowhere' is not in the spot catalog (known: North, South)\n")


def test_a_zone_without_any_catalog_says_no_catalog_is_loaded(tmp_path) -> None:
    lake_with(tmp_path, EVENTS, catalog_text=None)
    result = CliRunner().invoke(cli, ["--data-dir", str(tmp_path), "dwell", "--from", "2024-03-20", "--to",
                                      "2024-03-20", "--zone", "North"])
    assert result.exit_code == 2
    assert "zone 'North' is not in the spot catalog: no catalog is loaded" in result.output


def test_a_known_zone_with_nothing_observed_says_which_zone(tmp_path) -> None:
    result = CliRunner().invoke(cli, ["--data-dir", str(lake_root(tmp_path)), "utilization", "--from", "2024-03-01",
                                      "--to", "2024-03-01", "--zone", "North"])
    assert result.exit_code == 0
    assert "zone 'North' is in the spot catalog: the window holds no events of its bays" in result.stderr


@pytest.mark.parametrize(("threshold", "line"), [("0.95", "No zone at or above 95% occupancy."),
                                                 ("0.955", "No zone at or above 95.5% occupancy.")])
def test_alerts_with_no_zone_over_the_threshold_say_so_without_nothing_observed(tmp_path, threshold, line) -> None:
    result = CliRunner().invoke(cli, ["--data-dir", str(lake_root(tmp_path)), "alerts", "--at",
                                      "2024-03-20T09:30:00Z", "--threshold", threshold])
    assert result.exit_code == 0, result.output
    assert result.stderr.splitlines() == [line]


@pytest.mark.parametrize(("fmt", "b2_status"), [("table", "unknown"), ("json", "occupied"), ("csv", "occupied")])
def test_the_status_table_shows_a_stale_spots_status_as_unknown(engine, fmt, b2_status) -> None:
    """B2 was last heard 50 hours before AT: stale, its state unknown (section 4); CSV and JSON keep the columns."""
    result = CliRunner().invoke(cli, ["--data-dir", str(engine.data_dir), "--format", fmt, "status", "--at", AT])
    assert result.exit_code == 0, result.output
    if fmt == "json":
        [b2] = [row for row in json.loads(result.stdout) if row["spot_id"] == "B2"]
        assert (b2["status"], b2["stale"]) == (b2_status, True)
    else:
        [b2] = [line for line in result.stdout.splitlines() if line.split(",")[0].split()[:1] == ["B2"]]
        assert b2_status in b2
