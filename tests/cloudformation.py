"""The packaged CloudFormation template, read by every infra test: `sls` and small lookups.

`sls package` runs once per session (the ``package_dir`` and ``template``
fixtures in conftest.py); the helpers here read what it wrote.
"""

from __future__ import annotations

import atexit
import functools
import json
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
SLS = ROOT / "node_modules" / ".bin" / "sls"
TOOLS = ROOT / ".venv-tools" / "bin"  # cfn-lint and checkov, from requirements-tools.txt
OFFLINE = {**os.environ, "SLS_TELEMETRY_DISABLED": "1", "NODE_NO_WARNINGS": "1"}


@functools.cache
def service_dir() -> Path:
    """This process's view of the repository for `sls`: its files copied, its folders linked but ``.serverless/``.

    `sls` writes its state to ``.serverless/`` where it runs; one such folder
    per test process keeps two runs (two workers, or two checkouts' suites)
    from overwriting each other's state file.
    """
    service = Path(tempfile.mkdtemp(prefix="sls-service-"))
    atexit.register(shutil.rmtree, service, ignore_errors=True)
    for entry in ROOT.iterdir():
        if entry.is_file():  # `sls` takes a linked serverless.yml for none at all
            shutil.copy2(entry, service / entry.name)
        elif entry.name != ".serverless":
            (service / entry.name).symlink_to(entry)
    return service


def sls(*args: str, env: dict[str, str] | None = None) -> str:
    """Run the Serverless CLI on the repository's service; its output, or an assertion error with it."""
    result = subprocess.run(
        [str(SLS), *args], cwd=service_dir(), env=env or OFFLINE, capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout + result.stderr


def cfn_lint(template: Path) -> subprocess.CompletedProcess[str]:
    """cfn-lint over a template file: its exit status and what it printed."""
    return subprocess.run([str(TOOLS / "cfn-lint"), str(template)], capture_output=True, text=True, check=False)


def checkov(template: Path) -> dict[str, Any]:
    """checkov's JSON report of a CloudFormation template file (its policies as shipped, no download)."""
    result = subprocess.run([str(TOOLS / "checkov"), "-f", str(template), "--framework", "cloudformation",
                             "--skip-download", "--output", "json"], capture_output=True, text=True, check=False)
    return json.loads(result.stdout)


def schedule_of(template: dict[str, Any], function: str) -> dict[str, Any]:
    """The properties of the one EventBridge rule whose target is ``function`` (a logical id)."""
    [rule] = [r["Properties"] for r in resources_of(template, "AWS::Events::Rule").values()
              if any(t["Arn"] == {"Fn::GetAtt": [function, "Arn"]} for t in r["Properties"]["Targets"])]
    return rule


def resources_of(template: dict[str, Any], kind: str) -> dict[str, dict[str, Any]]:
    """The template's resources of one type, by logical id."""
    return {name: r for name, r in template["Resources"].items() if r["Type"] == kind}


def statements(role: dict[str, Any]) -> list[dict[str, Any]]:
    """Every statement of a role's inline policies."""
    return [s for policy in role["Properties"]["Policies"] for s in policy["PolicyDocument"]["Statement"]]


def running_emulator() -> Iterator[dict[str, str]]:
    """A moto server of our own, stopped by its PID afterwards: the environment that points `sls` at it."""
    from scripts.deploy_local import emulator_environment
    from scripts.moto_msk_server import spawn

    server, url = spawn()
    try:
        yield emulator_environment(url)
    finally:
        server.terminate()
        server.wait()
