"""The feeds validated with the field's own tools: parkapi-sources' models (Python 3.12, in their own
venv made from requirements-parkapi.txt) read /feeds/parkapi.json and /feeds/datex2.xml of a real server."""

from __future__ import annotations

import glob
import hashlib
import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from parking.analytics.catalog import CatalogStore, parse
from parking.live.app import create_app
from parking.simulate import catalog_csv
from tests.live_support import get, make_garage, serving, source

ROOT = Path(__file__).resolve().parent.parent
VENV = ROOT / "build" / "parkapi-venv"
LOCK = ROOT / "requirements-parkapi.txt"
SPOTS = 300


def python312() -> str:
    """A Python 3.12 interpreter: PARKING_PYTHON312, python3.12 on PATH, or pyenv's."""
    candidates = [os.environ.get("PARKING_PYTHON312"), shutil.which("python3.12"),
                  *sorted(glob.glob(os.path.expanduser("~/.pyenv/versions/3.12*/bin/python3.12")), reverse=True)]
    for candidate in filter(None, candidates):
        probe = subprocess.run([candidate, "-c", "import sys; print(sys.version_info[:2] == (3, 12))"],
                               capture_output=True, text=True)
        if probe.stdout.strip() == "True":
            return candidate
    raise AssertionError("no Python 3.12 found: parkapi-sources needs one (set PARKING_PYTHON312)")


def parkapi_python() -> Path:
    """build/parkapi-venv's interpreter, (re)made when requirements-parkapi.txt changed."""
    stamp, digest = VENV / ".lock-sha256", hashlib.sha256(LOCK.read_bytes()).hexdigest()
    python = VENV / "bin" / "python"
    if not (python.exists() and stamp.exists() and stamp.read_text() == digest):
        uv = shutil.which("uv", path=str(Path(os.sys.executable).parent)) or "uv"
        env = {**os.environ, "UV_PYTHON_DOWNLOADS": "never"}
        subprocess.run([uv, "venv", "--quiet", "--clear", "--python", python312(), str(VENV)], check=True, env=env)
        subprocess.run([uv, "pip", "sync", "--no-config", "--quiet", "--require-hashes", "--python", str(python),
                        str(LOCK)], check=True, env=env)
        stamp.write_text(digest)
    return python


@pytest.fixture(scope="module")
def feeds(tmp_path_factory) -> dict:
    lake = make_garage(tmp_path_factory.mktemp("parkapi"), SPOTS)
    CatalogStore(lake).replace(parse(catalog_csv(SPOTS) + "Roof-1,Roof,roof,standard,,48.1369,11.5765,,\n"))
    with serving(create_app(source(lake))) as base:
        parkapi, datex2, availability = (get(base + path)[2] for path in
                                         ("/feeds/parkapi.json", "/feeds/datex2.xml", "/api/v1/availability"))
    return {"parkapi": json.loads(parkapi), "datex2": datex2.decode(), "availability": json.loads(availability)}


def test_parkapi_models_accept_every_site_and_read_our_numbers(feeds) -> None:
    given = json.dumps({"parkapi": feeds["parkapi"], "datex2": feeds["datex2"]})
    result = subprocess.run([str(parkapi_python()), str(ROOT / "tests" / "parkapi" / "validate.py")],
                            input=given, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    checked = json.loads(result.stdout)
    rows = {row["zone"]: row for row in feeds["availability"]["rows"] if row["zone"] is not None}
    known = {zone: row["free"] for zone, row in rows.items() if row["occupied"] + row["free"]}
    assert [site.get("error") for site in checked["parkapi"]] == [None] * len(rows)
    assert {site["uid"]: site["free"] for site in checked["parkapi"]} == {zone: known.get(zone) for zone in rows}
    assert all(34 <= site["lat"] <= 72 for site in checked["parkapi"])
    # DATEX II: ParkAPI's v3 reader takes every zone with a free count; Roof has none, and so no vacant spaces
    read = {status["uid"]: status.get("free") for status in checked["datex2"] if "error" not in status}
    refused = [status["uid"] for status in checked["datex2"] if "error" in status]
    assert read == known and refused == ["Roof"]
