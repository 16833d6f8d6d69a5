"""Shared fixtures: a fixed ingestion clock, MSK event builders, data lakes."""

from __future__ import annotations

import gzip
import json
import os
from collections.abc import Callable, Iterable, Iterator
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest
from hypothesis import settings

from parking.ingest.msk import msk_event, msk_record

# What serverless.yml sets for the ingest function, before handler.py builds its Logger and Metrics.
os.environ.setdefault("POWERTOOLS_SERVICE_NAME", "parking-ingest")
os.environ.setdefault("POWERTOOLS_METRICS_NAMESPACE", "ParkingPlatform")

EVENTS_DIR = Path(__file__).parent / "events"
NOW = datetime(2024, 3, 20, 12, 0, tzinfo=timezone.utc)


@pytest.fixture
def now() -> datetime:
    return NOW


@pytest.fixture
def msk_file() -> Callable[[str], dict[str, Any]]:
    """Load an MSK event stored under tests/events/."""

    def load(name: str) -> dict[str, Any]:
        return json.loads((EVENTS_DIR / name).read_text())

    return load


def batch(
    values: Iterable[Any],
    topic: str = "parking-events",
    partition: int = 0,
    first_offset: int = 0,
) -> dict[str, Any]:
    """An MSK event of one topic-partition; dicts are JSON-encoded, bytes sent as is."""
    records = []
    for offset, value in enumerate(values, start=first_offset):
        raw = value if isinstance(value, bytes) else json.dumps(value).encode()
        records.append(msk_record(topic, partition, offset, raw, timestamp_ms=1710936000000))
    return msk_event(records)


def merge(*events: dict[str, Any]) -> dict[str, Any]:
    """One MSK event holding the records of several."""
    records = [record for event in events for group in event["records"].values() for record in group]
    return msk_event(records)


def read_lines(body: bytes) -> list[dict[str, Any]]:
    return [json.loads(line) for line in gzip.decompress(body).splitlines()]


def event(spot: str = "A1", status: str = "occupied", timestamp: str = "2024-03-20T10:00:00Z", **extra: Any):
    return {"spot_id": spot, "status": status, "timestamp": timestamp, **extra}


def command_tree(group: Any, path: tuple[str, ...] = ()) -> Iterator[tuple[tuple[str, ...], Any]]:
    """Every runnable command under a click group, with the names that reach it (new commands included)."""
    import click

    for name, command in sorted(group.commands.items()):
        if isinstance(command, click.Group):
            yield from command_tree(command, (*path, name))
        else:
            yield (*path, name), command


@pytest.fixture(autouse=True, scope="session")
def _botocore_models_parsed_once() -> Iterator[None]:
    """boto3's default session shares the process's botocore data loader (``parking.aws.session``).

    moto resets boto3's default session in every ``mock_aws``, and a new
    session parses botocore's JSON models again: about 60 ms a client, a third
    of an Athena-on-moto test's time. The models are the same files; only the
    parsing is saved.
    """
    import boto3

    from parking.aws import session

    def setup_default_session(**kwargs: Any) -> None:
        boto3.DEFAULT_SESSION = session(kwargs.pop("region_name", None), kwargs.pop("profile_name", None))
        assert not kwargs, f"boto3.setup_default_session({kwargs}) is not shared"

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(boto3, "setup_default_session", setup_default_session)
        yield


@pytest.fixture(autouse=True)
def _closed_state_tables() -> Iterator[None]:
    """Each test's lakes' current-state tables closed after it: a worker would otherwise keep three
    descriptors open per lake it ever ingested into (``parking.state.update.local_state`` keeps one
    table per data directory for the process's life)."""
    yield
    from parking.state import update

    update.close_local_states()


@pytest.fixture(autouse=True)
def _short_kafka_sessions(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests marked ``kafka`` give their consumers (and the `consume` processes they start) a 2 s group session.

    Tansu holds a group's forming for half the session timeout, at least 1 s:
    each join takes 1 s instead of the 3 s of the default 6 s, and a killed
    member's partitions pass on after 2 s instead of 6.
    """
    if request.node.get_closest_marker("kafka") is not None:
        monkeypatch.setenv("PARKING_KAFKA_SESSION_TIMEOUT_SECONDS", "2")


@pytest.fixture(scope="session")
def package_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """What `sls package --stage dev` writes, packaged once for every infra test."""
    from tests.cloudformation import sls

    out = tmp_path_factory.mktemp("sls-package")
    sls("package", "--stage", "dev", "--package", str(out))
    return out


@pytest.fixture(scope="session")
def packaged(package_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Every template the infra tests lint, by name: ``default`` and each of ``tests.cloudformation.VARIANTS``."""
    from tests.cloudformation import TEMPLATE, VARIANTS, package_variants

    return {"default": package_dir / TEMPLATE, **package_variants(tmp_path_factory.mktemp("sls-variants"), VARIANTS)}


@pytest.fixture(scope="session")
def scanned(packaged: dict[str, Path]) -> tuple[dict[str, list[str]], dict[str, dict[str, list[dict[str, Any]]]]]:
    """cfn-lint's findings for each packaged template and checkov's checks for each but ``trigger-bounds``
    (its parameters change no resource checkov looks at): one run of each, both at once."""
    from tests.cloudformation import lint_and_check

    return lint_and_check(packaged, {name: path for name, path in packaged.items() if name != "trigger-bounds"})


@pytest.fixture(scope="session")
def linted(scanned: tuple[dict[str, list[str]], Any]) -> dict[str, list[str]]:
    """cfn-lint's findings for each packaged template."""
    return scanned[0]


@pytest.fixture(scope="session")
def checked(scanned: tuple[Any, dict[str, dict[str, list[dict[str, Any]]]]]) -> dict[str, dict[str, list[dict[str, Any]]]]:
    """checkov's failed and skipped checks for each packaged template but ``trigger-bounds``."""
    return scanned[1]


@pytest.fixture(scope="session")
def template(package_dir: Path) -> dict[str, Any]:
    """The packaged CloudFormation template."""
    return json.loads((package_dir / "cloudformation-template-update-stack.json").read_text())


@pytest.fixture(scope="session")
def emulator() -> Iterator[dict[str, str]]:
    """A moto server of our own for the deploy rehearsals, shared by all of them."""
    from tests.cloudformation import running_emulator

    yield from running_emulator()


@pytest.fixture(scope="session")
def deployed(emulator: dict[str, str]) -> dict[str, str]:
    """The stack deployed once, for every rehearsal, by the real `sls deploy`."""
    from scripts.deploy_local import STACK
    from tests.cloudformation import sls

    assert f"Service deployed to stack {STACK}" in sls("deploy", "--stage", "dev", env=emulator)
    return emulator


# Hypothesis: one profile for the suite, stated here. Each property test states its own
# max_examples where it differs from the default 100; the suite's run is derandomized, so CI
# repeats the same examples and a failure reproduces. HYPOTHESIS_PROFILE=thorough runs 10x more,
# freshly random, to hunt for new cases by hand.
settings.register_profile("suite", deadline=None, derandomize=True, database=None, print_blob=True)
settings.register_profile("thorough", deadline=None, max_examples=1000, print_blob=True)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "suite"))


def pytest_collection_finish(session: pytest.Session) -> None:
    """Stop at once if xdist's groups are not in effect: their tests would be spread over the workers,
    each building the shared lakes, templates and deployments again (pytest 9.2 ignored xdist 3.8's
    group suffix, pytest-dev/pytest-xdist#1386: every group quietly split)."""
    if not getattr(session.config.option, "loadgroup", False):
        return  # not a worker of a --dist loadgroup run
    lost = [item.nodeid for item in session.items if item.get_closest_marker("xdist_group") and "@" not in item.nodeid]
    if lost:
        raise pytest.UsageError(f"xdist's loadgroup did not take: {lost[0]} has no group suffix; see tests/conftest.py")


@pytest.hookimpl(tryfirst=True)  # before xdist's own hook reads the groups (--dist loadgroup)
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """A module's tests that share a module-scoped fixture of that module run on one worker: it is built once.

    Without this, each of the two workers builds the same lake, server or
    wheel for the share of the module's tests it was given.
    """
    for item in items:
        module = item.getparent(pytest.Module)
        info = getattr(item, "_fixtureinfo", None)
        if module is None or info is None or item.get_closest_marker("xdist_group"):
            continue
        shared = any(definition.scope == "module" and definition.baseid == module.nodeid
                     for definitions in info.name2fixturedefs.values() for definition in definitions)
        if shared:
            item.add_marker(pytest.mark.xdist_group(module.name))
