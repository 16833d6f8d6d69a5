"""The simulated garage: every spot it names is a valid spot, up to the largest garage `simulate` takes."""

from __future__ import annotations

import pytest

from parking.analytics.catalog import parse
from parking.ingest.events import Validator, parse_value
from parking.simulate import catalog_csv, spot_name
from tests.conftest import NOW

LARGEST = 100_000  # simulate --spots maximum


@pytest.mark.parametrize(("number", "name"), [
    (0, "A-001"), (249, "A-250"), (250, "B-001"), (25 * 250, "Z-001"), (26 * 250, "AA-001"),
    (15_502, "BK-003"), (LARGEST - 1, "OJ-250"),
])
def test_spots_are_named_by_level_letters_and_bay(number: int, name: str) -> None:
    assert spot_name(number) == name


def test_every_spot_of_the_largest_garage_is_a_valid_event_spot_id() -> None:
    import base64
    import json

    validator = Validator.at(NOW, 65536)
    names = {spot_name(n) for n in range(LARGEST)}
    assert len(names) == LARGEST
    for name in names:
        value = json.dumps({"spot_id": name, "status": "free", "timestamp": "2024-03-20T10:00:00Z"}).encode()
        parse_value(base64.b64encode(value).decode(), validator)


def test_the_catalog_of_the_largest_garage_loads() -> None:
    rows = parse(catalog_csv(LARGEST))
    assert len(rows) == LARGEST and rows[-1].spot_id == "OJ-250"
