"""Every environment installs from a committed lock that agrees with its source.

uv.lock with pyproject.toml (uv's own check, offline), and each hash-pinned
requirements*.txt with the requirements*.in it was compiled from (`make lock`).
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest
from uv import find_uv_bin

ROOT = Path(__file__).resolve().parent.parent
COMPILED = ("requirements.txt", "requirements-zones.txt", "requirements-compact.txt", "requirements-tools.txt",
            "requirements-uv.txt")


def pins(path: Path) -> dict[str, str]:
    """name -> version of each ``name==version`` line of a requirements file."""
    found = re.findall(r"^([A-Za-z0-9_.\-\[\]]+)==([^\s;\\]+)", path.read_text(), re.MULTILINE)
    return {re.sub(r"[-_.]+", "-", name.split("[")[0]).lower(): version for name, version in found}


def test_uv_lock_agrees_with_pyproject() -> None:
    result = subprocess.run([find_uv_bin(), "lock", "--check", "--offline"], cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize("name", COMPILED)
def test_a_compiled_lock_pins_what_its_source_names(name: str) -> None:
    source, lock = pins(ROOT / name.replace(".txt", ".in")), pins(ROOT / name)
    assert source and all(lock.get(package) == version for package, version in source.items()), (source, lock)


@pytest.mark.parametrize("name", COMPILED)
def test_every_package_of_a_compiled_lock_is_pinned_with_a_hash(name: str) -> None:
    lines = (ROOT / name).read_text().splitlines()
    pinned = [number for number, line in enumerate(lines) if re.match(r"^[A-Za-z0-9].*==", line)]
    assert pinned and all(lines[number + 1].strip().startswith("--hash=sha256:") for number in pinned), name
