"""Settings are one table (parking.config.SETTINGS): the dataclass, the variables, the docs agree with it.

Every library entry point that builds its own settings reads the environment
as :meth:`Settings.from_environment` does, and an explicit argument wins.
"""

from __future__ import annotations

import json
import re
from dataclasses import fields
from pathlib import Path

import pytest

import parking.config
from parking.config import SETTINGS, Settings, markdown_table
from parking.errors import ConfigurationError

ROOT = Path(__file__).resolve().parents[1]


def test_each_field_is_one_row_of_the_table() -> None:
    assert [setting.field for setting in SETTINGS] == [field.name for field in fields(Settings)]
    variables = [setting.variable for setting in SETTINGS]
    assert len(set(variables)) == len(variables)


def test_the_readme_table_is_the_settings_table() -> None:
    """The README's rows for these variables are :func:`markdown_table`'s, in order (paste it on a change)."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    variables = {setting.variable for setting in SETTINGS}
    rows = [line for line in readme.splitlines()
            if (found := re.match(r"\| `([A-Z_]+)` \|", line)) and found.group(1) in variables]
    assert "\n".join(rows) == markdown_table(), f"README.md's settings table should read:\n{markdown_table()}"


def test_the_module_docstring_lists_every_setting_with_its_default() -> None:
    doc = parking.config.__doc__ or ""
    for setting in SETTINGS:
        assert re.search(rf"^{setting.variable}: ", doc, re.MULTILINE), setting.variable


SAMPLES = {"max_value_bytes": "1024", "earliest_event": "2010-01-01T00:00:00Z", "data_dir": "elsewhere",
           "engine": "athena", "compaction_lateness_days": "3", "lookback_hours": "48",
           "compaction_hour_lateness_minutes": "20", "compaction_removal_delay_minutes": "5",
           "data_prefix": "other-data/", "quarantine_prefix": "other-quarantine/",
           "kafka_session_timeout_seconds": "2.5", "kafka_delivery_timeout_seconds": "2.5"}


@pytest.mark.parametrize("setting", SETTINGS, ids=[setting.variable for setting in SETTINGS])
def test_each_variable_sets_its_field_and_an_argument_beats_it(setting) -> None:
    text = SAMPLES.get(setting.field, "parking_sample")
    from_env = Settings.from_environment({setting.variable: text})
    assert getattr(from_env, setting.field) != getattr(Settings(), setting.field)
    assert str(getattr(from_env, setting.field)).startswith(text[:4])
    default = getattr(Settings(), setting.field)
    if default is not None:
        given = Settings.from_environment({setting.variable: text}, **{setting.field: default})
        assert getattr(given, setting.field) == default


def test_a_bad_value_names_its_variable() -> None:
    with pytest.raises(ConfigurationError, match="PARKING_MAX_VALUE_BYTES is not an integer"):
        Settings.from_environment({"PARKING_MAX_VALUE_BYTES": "many"})
    with pytest.raises(ConfigurationError, match="PARKING_EARLIEST_EVENT has no zone"):
        Settings.from_environment({"PARKING_EARLIEST_EVENT": "2010-01-01T00:00:00"})


NUMBER_SETTINGS = [setting for setting in SETTINGS if setting.parse.__name__ in ("_integer", "parse")]
INTEGER_SETTINGS = [setting for setting in NUMBER_SETTINGS if setting.parse.__name__ == "_integer"]


@pytest.mark.parametrize("value", [" 3", "3 ", "1_2", "0x10", "\u0663", "\uff13", "nan", "inf", "-inf", "1e309"])
@pytest.mark.parametrize("setting", NUMBER_SETTINGS, ids=[setting.variable for setting in NUMBER_SETTINGS])
def test_a_number_setting_takes_plain_decimal_digits_only(setting, value: str) -> None:
    """Python's int() and float() read '1_2' as 12, spaces around and other scripts' digits: a setting does not.
    (An empty variable is an unset one.)"""
    with pytest.raises(ConfigurationError, match=f"^{setting.variable} is not a"):
        Settings.from_environment({setting.variable: value})


@pytest.mark.parametrize("value", ["+3", "3.0", "3e0"])
@pytest.mark.parametrize("setting", INTEGER_SETTINGS, ids=[setting.variable for setting in INTEGER_SETTINGS])
def test_an_integer_setting_takes_no_sign_point_or_exponent(setting, value: str) -> None:
    with pytest.raises(ConfigurationError, match=f"^{setting.variable} is not an integer"):
        Settings.from_environment({setting.variable: value})


@pytest.mark.parametrize("setting", NUMBER_SETTINGS, ids=[setting.variable for setting in NUMBER_SETTINGS])
def test_a_number_setting_takes_its_plain_spelling(setting) -> None:
    assert Settings.from_environment({setting.variable: "12"}) == Settings.from_environment({setting.variable: "012"})


def test_library_entry_points_read_the_environment(tmp_path: Path, monkeypatch) -> None:
    """Without settings, ingest reads PARKING_MAX_VALUE_BYTES as the CLI does; given settings win."""
    from parking.ingest.files import ingest_lines
    from parking.ingest.sinks import LocalSink

    line = json.dumps({"spot_id": "A1", "status": "free", "timestamp": "2024-03-20T08:00:00Z"}).encode()
    monkeypatch.setenv("PARKING_MAX_VALUE_BYTES", "10")
    assert ingest_lines([line], LocalSink(tmp_path / "env")).quarantined == 1
    assert ingest_lines([line], LocalSink(tmp_path / "given"), settings=Settings()).stored == 1
