"""The live API and feeds (issue 26, METRICS.md section 8) through a real uvicorn server on 127.0.0.1.

The rows are exactly what the CLI's ``--format json`` prints at the answer's
``at``; a bad parameter is a 422 naming it; the feeds say what section 8 says.
"""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from datetime import datetime, timedelta, timezone
from pathlib import Path
from urllib.parse import quote

import pytest
from click.testing import CliRunner

from parking.analytics.catalog import CatalogStore, parse
from parking.cli.main import cli
from parking.live.app import create_app
from parking.live.feeds import COM, D2, PRK, XSI, FeedSettings
from parking.simulate import catalog_csv
from tests.live_support import get, make_garage, serving, source

SPOTS = 120
ROOF = "Roof-1,Roof,roof,standard,,48.1369,11.5765,,\nRoof-2,Roof,roof,standard,,48.1371,11.5767,,\n"
KERB = "Kerb-1,Kerb,,standard,,,,,\n"  # a zone with no position: ParkAPI cannot list it


@pytest.fixture(scope="module")
def lake(tmp_path_factory) -> Path:
    root = make_garage(tmp_path_factory.mktemp("live-api"), SPOTS)
    CatalogStore(root).replace(parse(catalog_csv(SPOTS) + ROOF + KERB))  # two zones whose bays never reported
    return root


@pytest.fixture(scope="module")
def base(lake: Path):
    with serving(create_app(source(lake), feed_settings=FeedSettings(operator_name="Demo garage"))) as url:
        yield url


def cli_rows(lake: Path, *args: str) -> list[dict]:
    result = CliRunner().invoke(cli, ["--data-dir", str(lake), *args, "--format", "json"])
    assert result.exit_code in (0, 3), result.output
    return json.loads(result.stdout)


ANSWERS = [  # (path, the CLI command that answers it)
    ("/api/v1/status", ["status"]),
    ("/api/v1/availability", ["availability"]),
    ("/api/v1/availability?by=zone", ["availability", "--by", "zone"]),
    ("/api/v1/availability?by=level", ["availability", "--by", "level"]),
    ("/api/v1/availability?by=bay_type", ["availability", "--by", "bay_type"]),
    ("/api/v1/overstays", ["overstays"]),
    ("/api/v1/alerts", ["alerts"]),
    ("/api/v1/alerts?threshold=0.1&by=level", ["alerts", "--threshold", "0.1", "--by", "level"]),
    ("/api/v1/alerts?threshold=0", ["alerts", "--threshold", "0"]),
]


@pytest.mark.parametrize(("path", "command"), ANSWERS, ids=[p for p, _ in ANSWERS])
def test_an_answer_is_the_clis_json_at_its_instant(lake, base, path, command) -> None:
    code, headers, body = get(base + path)
    assert code == 200 and headers["content-type"] == "application/json"
    answer = json.loads(body)
    assert list(answer) == ["at", "lookback_hours", "rows"] and answer["lookback_hours"] == 24.0
    at = datetime.fromisoformat(answer["at"].replace("Z", "+00:00"))
    assert abs(datetime.now(timezone.utc) - at) < timedelta(minutes=1)
    assert answer["rows"] == cli_rows(lake, *command, "--at", answer["at"])
    if path.startswith("/api/v1/availability"):
        assert answer["rows"] and sum(row["capacity"] for row in answer["rows"]) == SPOTS + 3


BAD = [  # (path, the parameter the 422 names)
    ("/api/v1/availability?by=floor", "by"),
    ("/api/v1/availability?by=", "by"),
    ("/api/v1/alerts?threshold=1.5", "threshold"),
    ("/api/v1/alerts?threshold=-0.1", "threshold"),
    ("/api/v1/alerts?threshold=nan", "threshold"),
    ("/api/v1/alerts?threshold=inf", "threshold"),
    ("/api/v1/alerts?threshold=ninety", "threshold"),
    ("/api/v1/alerts?by=../../etc/passwd", "by"),
    ("/api/v1/alerts?treshold=0.5", "treshold"),
    ("/api/v1/status?at=2024-01-01", "at"),
    ("/feeds/parkapi.json?zone=A", "zone"),
    ("/api/v1/availability?by=zone&by=level", "by"),
    ("/api/v1/alerts?threshold=0.5&by=zone&threshold=0.9", "threshold"),
    ("/api/v1/forecast?hours=2&hours=2", "hours"),
]


@pytest.mark.parametrize(("path", "name"), BAD, ids=[p for p, _ in BAD])
def test_a_bad_parameter_is_a_422_that_names_it(base, path, name) -> None:
    code, headers, body = get(base + path)
    assert code == 422 and headers["content-type"] == "application/json"
    detail = json.loads(body)["detail"]
    assert f"{name!r}" in detail or detail.startswith(f"{name}:"), detail
    assert "Traceback" not in detail and "File " not in detail


@pytest.mark.parametrize("path", ["/api/v1/status?{name}=1", "/feeds/datex2.xml?{name}=1"])
def test_a_long_parameter_name_is_named_shortened_not_echoed_whole(base, path) -> None:
    name = "q" * 20_000
    code, _, body = get(base + path.format(name=name))
    answer = json.loads(body)
    detail = answer["detail"]
    assert code == 422 and len(detail) < 200 and "'qqqqqqqqqqqqqqqqqqqqqqqqqqqqqq...qqqq" in detail, detail
    assert len(body) < 500 and answer["errors"][0]["parameter"] == f"{'q' * 30}...{'q' * 30}"


def test_an_unknown_path_is_a_404_and_no_file_is_served_from_outside_the_package(base) -> None:
    for path in ("/static/../../pyproject.toml", "/static/%2e%2e/%2e%2e/pyproject.toml", "/api/v1/health"):
        code, _, body = get(base + path)
        assert code == 404, (path, body[:200])


def test_the_parkapi_feed_is_one_site_per_zone_with_a_position(lake, base) -> None:
    code, headers, body = get(base + "/feeds/parkapi.json")
    assert code == 200 and headers["content-type"] == "application/json"
    assert headers["cache-control"] == "public, max-age=5"
    items = json.loads(body)["items"]
    _, _, availability = get(base + "/api/v1/availability")
    answer = json.loads(availability)
    rows = {row["zone"]: row for row in answer["rows"] if row["zone"] is not None}
    assert [item["uid"] for item in items] == sorted(set(rows) - {"Kerb"})  # Kerb has no position
    catalog = CatalogStore(lake).read()
    for item in items:
        row = rows[item["uid"]]
        bays = [r for r in catalog if r.zone == item["uid"]]
        assert item["name"] == item["uid"] and item["capacity"] == row["capacity"]
        assert item["realtime_capacity"] == row["capacity"] - row["unknown"]
        assert item["realtime_data_updated_at"] == answer["at"] or item["realtime_data_updated_at"] >= answer["at"]
        assert item["lat"] == pytest.approx(sum(b.lat for b in bays) / len(bays), abs=1e-7)
        assert item["lon"] == pytest.approx(sum(b.lon for b in bays) / len(bays), abs=1e-7)
        assert (item["realtime_opening_status"], item["has_realtime_data"], item["operator_name"]) == (
            "OPEN", True, "Demo garage")
        if item["uid"] == "Roof":  # no bay known: no free count, never 0
            assert "realtime_free_capacity" not in item and item["realtime_capacity"] == 0
        else:
            assert item["realtime_free_capacity"] == row["free"]
    loaded = CatalogStore(lake).loaded_at()
    assert {item["static_data_updated_at"][:19] for item in items} == {f"{loaded:%Y-%m-%dT%H:%M:%S}"}


def test_the_datex2_feed_has_the_part6_status_elements(base) -> None:
    code, headers, body = get(base + "/feeds/datex2.xml")
    assert code == 200 and headers["content-type"] == "application/xml"
    root = ET.fromstring(body)
    _, _, availability = get(base + "/api/v1/availability")
    rows = {row["zone"]: row for row in json.loads(availability)["rows"] if row["zone"] is not None}
    assert root.tag == f"{{{D2}}}payload"
    assert root.get(f"{{{XSI}}}type") == "prk:ParkingStatusPublication" and root.get("modelBaseVersion") == "3"
    assert root.get("lang")
    published = root.findtext(f"{{{COM}}}publicationTime")
    assert datetime.fromisoformat(published.replace("Z", "+00:00")).tzinfo is not None
    creator = root.find(f"{{{COM}}}publicationCreator")
    assert creator.findtext(f"{{{COM}}}country") == "de" and creator.findtext(f"{{{COM}}}nationalIdentifier")
    header = root.find(f"{{{PRK}}}headerInformation")
    assert header.findtext(f"{{{COM}}}confidentiality") and header.findtext(f"{{{COM}}}informationStatus")
    statuses = root.findall(f"{{{PRK}}}parkingRecordStatus")
    assert [s.find(f"{{{PRK}}}parkingRecordReference").get("id") for s in statuses] == sorted(rows)
    for status in statuses:
        reference = status.find(f"{{{PRK}}}parkingRecordReference")
        assert reference.get("targetClass") and reference.get("version")
        row = rows[reference.get("id")]
        assert status.findtext(f"{{{PRK}}}parkingStatusOriginTime") == published
        occupancy = status.find(f"{{{PRK}}}parkingOccupancy")
        vacant = occupancy.findtext(f"{{{PRK}}}parkingNumberOfVacantSpaces")
        rate = occupancy.findtext(f"{{{PRK}}}parkingOccupancy")
        if row["occupied"] + row["free"] == 0:
            assert vacant is None and rate is None
        else:
            assert int(vacant) == row["free"] and float(rate) == pytest.approx(row["occupancy_rate"] * 100, rel=1e-5)


def test_the_docs_and_schema_need_nothing_from_outside(base) -> None:
    code, _, schema = get(base + "/openapi.json")
    assert code == 200
    paths = json.loads(schema)["paths"]
    assert {"/api/v1/status", "/api/v1/availability", "/api/v1/overstays", "/api/v1/alerts",
            "/feeds/parkapi.json", "/feeds/datex2.xml"} <= set(paths)
    for page in ("/docs", "/"):
        code, _, html = get(base + page)
        assert code == 200
        text = html.decode()
        assert "http://" not in text.replace("http://www.w3.org", "") and "https://" not in text, page
    for asset in ("/docs-assets/swagger-ui-bundle.js", "/docs-assets/swagger-ui.css",
                  "/static/live.js", "/static/live.css"):
        assert get(base + asset)[0] == 200, asset


@pytest.mark.parametrize(("query", "command"), [
    ("", ["forecast"]),
    ("?by=level&hours=2", ["forecast", "--by", "level", "--hours", "2"]),
])
def test_the_forecast_is_the_clis_json_at_its_instant(lake, base, query, command) -> None:
    code, headers, body = get(base + "/api/v1/forecast" + query)
    assert code == 200 and headers["content-type"] == "application/json"
    answer = json.loads(body)
    assert list(answer) == ["at", "lookback_hours", "rows", "uncalibrated_hours"]
    assert answer["rows"] == cli_rows(lake, *command, "--at", answer["at"])
    hours = sorted({row["hour"] for row in answer["rows"]})
    assert len(hours) == (2 if "hours=2" in query else 6)
    assert answer["uncalibrated_hours"] == hours, "two days of history: no interval is calibrated yet"


@pytest.mark.parametrize(("query", "name"), [("?hours=0", "hours"), ("?hours=25", "hours"), ("?by=floor", "by"),
                                              ("?hours=six", "hours"), ("?days=2", "days")])
def test_a_bad_forecast_parameter_is_a_422_naming_it(base, query, name) -> None:
    code, _, body = get(base + "/api/v1/forecast" + query)
    assert code == 422 and name in body.decode()


#: Every integer query parameter of the API and the feeds: (path, name, a value in its range).
INTEGER_PARAMETERS = [("/api/v1/forecast", "hours", 6)]
DIGITS_ONLY = "Input should be a whole number in decimal digits (0-9)"
# A spelling, and the start of its 422's message (pydantic alone took '3.0', '+3', ' 3' as 3 and '1_2' as 12).
SPELLINGS = [
    ("3.0", DIGITS_ONLY), ("+3", DIGITS_ONLY), ("1_2", DIGITS_ONLY), ("3_0", DIGITS_ONLY), (" 3", DIGITS_ONLY),
    ("3 ", DIGITS_ONLY), ("0x3", DIGITS_ONLY), ("3e0", DIGITS_ONLY), ("\uff13", DIGITS_ONLY), ("\u0663", DIGITS_ONLY),
    ("", DIGITS_ONLY), ("--3", DIGITS_ONLY),
    ("-3", "Input should be greater than or equal to "), ("-0", "Input should be greater than or equal to "),
]


#: Every number (float) query parameter whose range is [0, 1]: (path, name).
NUMBER_PARAMETERS = [("/api/v1/alerts", "threshold")]
NOT_DECIMAL = "Input should be a decimal number like 0.5, .5 or 1e-3"
# A spelling, and the start of its 422's message (pydantic alone took '.5_0' and ' 0.5' as 0.5 and '0_5' as 5).
NUMBER_SPELLINGS = [
    (".5_0", NOT_DECIMAL), ("0_5", NOT_DECIMAL), ("1_0", NOT_DECIMAL), (" 0.5", NOT_DECIMAL), ("0.5 ", NOT_DECIMAL),
    ("\u0660.5", NOT_DECIMAL), ("\uff10.\uff15", NOT_DECIMAL), ("0.\u0665", NOT_DECIMAL), ("0x1", NOT_DECIMAL),
    ("0.5.", NOT_DECIMAL), ("--0.5", NOT_DECIMAL), (".", NOT_DECIMAL), ("", NOT_DECIMAL), ("e1", NOT_DECIMAL),
    ("nan", NOT_DECIMAL), ("NaN", NOT_DECIMAL), ("inf", NOT_DECIMAL), ("-inf", NOT_DECIMAL),
    ("Infinity", NOT_DECIMAL), ("1e309", "Input should be a finite number"),
    ("-0.1", "Input should be greater than or equal to "), ("1.5", "Input should be less than or equal to "),
]
# Spellings of a number in [0, 1] that are taken.
NUMBER_TAKEN = ["0.5", ".5", "5e-1", "5E-1", "+0.5", "00.5", "0.", "0", "1", "-0"]


@pytest.mark.parametrize(("kind", "table"), [("integer", INTEGER_PARAMETERS), ("number", NUMBER_PARAMETERS)])
def test_every_number_parameter_is_in_its_table(base, kind, table) -> None:
    """A new integer or number parameter joins its table, so its spellings are checked below."""
    schema = json.loads(get(base + "/openapi.json")[2])
    found = [(path, parameter["name"]) for path, item in schema["paths"].items()
             for parameter in item["get"].get("parameters", []) if parameter["schema"].get("type") == kind]
    assert sorted(found) == sorted((path, name) for path, name, *_ in table)


REFUSED_SPELLINGS = ([(path, name, value, message) for path, name, _ in INTEGER_PARAMETERS for value, message in SPELLINGS]
                     + [(path, name, value, message) for path, name in NUMBER_PARAMETERS
                        for value, message in NUMBER_SPELLINGS])


@pytest.mark.parametrize(("path", "name", "value", "message"), REFUSED_SPELLINGS,
                         ids=[f"{path}?{name}={value!r}" for path, name, value, _ in REFUSED_SPELLINGS])
def test_a_number_parameter_typed_otherwise_than_plainly_is_a_422_naming_it(base, path, name, value, message) -> None:
    """An integer parameter takes decimal digits only, a number one a finite decimal number (parking.text)."""
    code, _, body = get(f"{base}{path}?{name}={quote(value)}")
    answer = json.loads(body)
    assert code == 422 and answer["detail"].startswith(f"{name}: {message}"), answer
    assert answer["errors"] == [{"parameter": name, "message": answer["detail"]}]


@pytest.mark.parametrize(("path", "name", "value"), INTEGER_PARAMETERS, ids=[p for p, _, _ in INTEGER_PARAMETERS])
def test_an_integer_parameter_in_digits_is_taken(base, path, name, value) -> None:
    assert get(f"{base}{path}?{name}={value}")[0] == 200
    assert get(f"{base}{path}?{name}=0{value}")[0] == 200, "a leading zero is still decimal digits"


@pytest.mark.parametrize(("path", "name"), NUMBER_PARAMETERS, ids=[f"{p}?{n}" for p, n in NUMBER_PARAMETERS])
@pytest.mark.parametrize("value", NUMBER_TAKEN)
def test_a_number_parameter_as_people_type_it_is_taken(base, path, name, value) -> None:
    assert get(f"{base}{path}?{name}={quote(value)}")[0] == 200


def test_the_openapi_document_describes_the_errors_as_they_are_sent(base) -> None:
    """A client generated from /openapi.json parses our 422 and 503 bodies, and the DATEX II feed as XML."""
    schema = json.loads(get(base + "/openapi.json")[2])
    for path, item in schema["paths"].items():
        responses = item["get"]["responses"]
        for code, model in (("422", "BadParameter"), ("503", "Unavailable")):
            assert responses[code]["content"]["application/json"]["schema"] == {
                "$ref": f"#/components/schemas/{model}"}, (path, code)
    assert list(schema["paths"]["/feeds/datex2.xml"]["get"]["responses"]["200"]["content"]) == ["application/xml"]
    bad_parameter = schema["components"]["schemas"]["BadParameter"]
    for url, parameter in (("/api/v1/alerts?threshold=2", "threshold"), ("/api/v1/status?treshold=1", "treshold"),
                           ("/api/v1/forecast?hours=0", "hours")):
        code, _, body = get(base + url)
        document = json.loads(body)
        assert code == 422 and set(document) == set(bad_parameter["required"]), document
        assert [problem["parameter"] for problem in document["errors"]] == [parameter]
