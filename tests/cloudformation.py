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
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
SLS = ROOT / "node_modules" / ".bin" / "sls"
TOOLS = ROOT / ".venv-tools" / "bin"  # cfn-lint and checkov, from requirements-tools.txt
OFFLINE = {**os.environ, "SLS_TELEMETRY_DISABLED": "1", "NODE_NO_WARNINGS": "1"}


@functools.cache
def service_dir() -> Path:
    """This process's view of the repository for `sls` (see :func:`new_service_dir`), made once."""
    return new_service_dir()


def new_service_dir() -> Path:
    """A view of the repository for `sls`: its files copied, its folders linked but ``.serverless/``.

    `sls` writes its state to ``.serverless/`` where it runs; one such folder
    per test process, and per `sls` run at once, keeps two runs (two workers,
    two checkouts' suites, two packagings) from overwriting each other's state file.
    """
    service = Path(tempfile.mkdtemp(prefix="sls-service-"))
    atexit.register(shutil.rmtree, service, ignore_errors=True)
    for entry in ROOT.iterdir():
        if entry.is_file():  # `sls` takes a linked serverless.yml for none at all
            shutil.copy2(entry, service / entry.name)
        elif entry.name != ".serverless":
            (service / entry.name).symlink_to(entry)
    return service


def sls(*args: str, env: dict[str, str] | None = None, service: Path | None = None) -> str:
    """Run the Serverless CLI on the repository's service; its output, or an assertion error with it."""
    result = subprocess.run(
        [str(SLS), *args], cwd=service or service_dir(), env=env or OFFLINE, capture_output=True, text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout + result.stderr


# Stage parameters of the templates the tests package besides the default one, by name.
VARIANTS: dict[str, tuple[str, ...]] = {
    "vpc-endpoints": ("vpcEndpoints=enabled", "vpcId=vpc-0a1b2c3d4e5f60718", "routeTableIds=rtb-0a1b2c3d4e5f60718"),
    "no-audit-trail": ("auditTrail=disabled",),
    "audit-all-data-events": ("auditDataEvents=All",),
    "audit-400-days": ("auditRetentionDays=400",),
    "public-feeds": ("publicFeeds=enabled",),
    "trigger-bounds": ("mskMaximumRetryAttempts=2", "mskBisectBatchOnFunctionError=false", "mskMinimumPollers=2",
                       "mskMaximumPollers=4"),
}
TEMPLATE = "cloudformation-template-update-stack.json"


def package(out: Path, *params: str, stage: str = "dev", service: Path | None = None) -> Path:
    """`sls package` with ``--param`` for each of ``params`` into ``out``: the template's path."""
    sls("package", "--stage", stage, "--package", str(out), *[arg for param in params for arg in ("--param", param)],
        service=service)
    return out / TEMPLATE


def package_variants(out: Path, variants: dict[str, tuple[str, ...]]) -> dict[str, Path]:
    """Each variant packaged into ``out / name``, one `sls` per core at once (each about 2 s of CPU), each
    in a service folder of its own: the templates' paths, by name."""
    with ThreadPoolExecutor(os.cpu_count() or 1) as pool:
        paths = {name: pool.submit(package, out / name, *params, service=new_service_dir())
                 for name, params in variants.items()}
        return {name: path.result() for name, path in paths.items()}


def _side_by_side(templates: dict[str, Path]) -> Path:
    """The templates copied into one new folder as ``<name>.json``, for one run of a tool over them all."""
    folder = Path(tempfile.mkdtemp(prefix="templates-"))
    atexit.register(shutil.rmtree, folder, ignore_errors=True)
    for name, path in templates.items():
        shutil.copy(path, folder / f"{name}.json")
    return folder


def cfn_lint(templates: dict[str, Path]) -> dict[str, list[str]]:
    """cfn-lint over every template in one run (it starts slowly): each template's findings, by name."""
    folder = _side_by_side(templates)
    result = subprocess.run([str(TOOLS / "cfn-lint"), "--format", "json", *(f"{name}.json" for name in templates)],
                            cwd=folder, capture_output=True, text=True, check=False)
    assert result.returncode in range(0, 16, 2), result.stderr  # odd: cfn-lint itself failed
    found: dict[str, list[str]] = {name: [] for name in templates}
    for match in json.loads(result.stdout or "[]"):
        found[match["Filename"].removesuffix(".json")].append(f"{match['Rule']['Id']} {match['Message']}")
    return found


def checkov(templates: dict[str, Path]) -> dict[str, dict[str, list[dict[str, Any]]]]:
    """checkov over every template in one run (its policies as shipped, no download): each template's
    ``failed_checks`` and ``skipped_checks``, by name."""
    folder = _side_by_side(templates)
    result = subprocess.run([str(TOOLS / "checkov"), "--framework", "cloudformation", "--skip-download",
                             "--output", "json", "-f", *(f"{name}.json" for name in templates)],
                            cwd=folder, capture_output=True, text=True, check=False)
    report = json.loads(result.stdout)
    assert report["summary"]["parsing_errors"] == 0, report["summary"]
    found: dict[str, dict[str, list[dict[str, Any]]]] = {
        name: {"failed_checks": [], "skipped_checks": [], "passed_checks": []} for name in templates}
    for kind in ("failed_checks", "skipped_checks", "passed_checks"):
        for check in report["results"][kind]:
            found[check["file_path"].strip("/").removesuffix(".json")][kind].append(check)
    assert all(found[name]["passed_checks"] for name in templates), "checkov read every template"
    return found


def lint_and_check(lint: dict[str, Path], check: dict[str, Path]) -> tuple[dict[str, list[str]],
                                                                          dict[str, dict[str, list[dict[str, Any]]]]]:
    """:func:`cfn_lint` over ``lint`` and :func:`checkov` over ``check``, both at once: each takes one core
    for 10-20 s."""
    with ThreadPoolExecutor(2) as pool:
        linted = pool.submit(cfn_lint, lint)
        checked = pool.submit(checkov, check)
        return linted.result(), checked.result()


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
