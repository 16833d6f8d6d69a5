"""The boundaries between the three programs, checked in fresh interpreters.

Every Lambda function serverless.yml deploys (so functions added later are
covered) imports none of the query side's or the Kafka consumer's libraries;
the CLI's start-up imports none of them either; and ``parking/ingest`` (the
Lambda's code) imports nothing from the other subpackages.
"""

from __future__ import annotations

import ast
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
HEAVY = ("pandas", "duckdb", "pyathena", "matplotlib", "confluent_kafka")
# A function that must import one of HEAVY names it here, with the reason; none does today
# (a compaction function, say, might need duckdb).
ALLOWED: dict[str, set[str]] = {}
INGEST_MUST_NOT_IMPORT = ("parking.analytics", "parking.kafka", "parking.cli", "parking.queries")


class _Ignore(yaml.SafeLoader):
    """serverless.yml's own tags (!Ref, !Sub...) read as plain values."""


_Ignore.add_multi_constructor("!", lambda loader, suffix, node: None)


def functions() -> dict[str, str]:
    """Each deployed function's name and its handler, ``module.function``."""
    config = yaml.load((ROOT / "serverless.yml").read_text(), Loader=_Ignore)
    return {name: spec["handler"] for name, spec in config["functions"].items()}


def imported_in_a_fresh_interpreter(code: str) -> set[str]:
    """The top-level names of every module loaded by running ``code``."""
    script = f"import sys\n{code}\nprint('\\n'.join(sorted({{name.split('.')[0] for name in sys.modules}})))"
    result = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, check=True)
    return set(result.stdout.split())


@pytest.mark.parametrize(("function", "entry"), sorted(functions().items()))
def test_a_lambda_function_imports_no_heavy_library(function: str, entry: str) -> None:
    module, _, attribute = entry.rpartition(".")
    loaded = imported_in_a_fresh_interpreter(f"import {module}\n{module}.{attribute}")
    assert loaded & set(HEAVY) <= ALLOWED.get(function, set()), f"{function} ({entry}) imports {loaded & set(HEAVY)}"


def test_the_cli_starts_without_heavy_libraries() -> None:
    cli = Path(sys.executable).with_name("parking-cli")  # the console script itself, as a user starts it
    result = subprocess.run([str(cli), "--help"], cwd=ROOT, capture_output=True, text=True,
                            env={**os.environ, "PYTHONPROFILEIMPORTTIME": "1"})
    assert result.returncode == 0 and result.stdout.startswith("Usage: parking-cli ")
    loaded = {line.split("|")[-1].strip().split(".")[0] for line in result.stderr.splitlines()
              if line.startswith("import time:")}
    assert "click" in loaded, "the import log was read"
    assert not loaded & set(HEAVY), f"parking-cli --help imports {loaded & set(HEAVY)}"


@pytest.mark.parametrize("path", sorted((ROOT / "parking" / "ingest").glob("*.py")), ids=lambda path: path.name)
def test_the_ingest_path_imports_nothing_of_the_other_programs(path: Path) -> None:
    tree = ast.parse(path.read_text(), str(path))
    imported = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            imported.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            imported.add(node.module)
            imported.update(f"{node.module}.{alias.name}" for alias in node.names)
    crossing = {name for name in imported
                for banned in (*INGEST_MUST_NOT_IMPORT, *HEAVY) if name == banned or name.startswith(banned + ".")}
    assert not crossing, f"{path.name} imports {sorted(crossing)}"


def test_the_ingest_package_loads_no_heavy_library() -> None:
    modules = sorted(f"parking.ingest.{path.stem}" for path in (ROOT / "parking" / "ingest").glob("*.py"))
    loaded = imported_in_a_fresh_interpreter("\n".join(f"import {module}" for module in modules))
    assert not loaded & set(HEAVY), f"parking.ingest loads {loaded & set(HEAVY)}"
