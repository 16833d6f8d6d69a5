"""Build the Lambda artifacts: build/ingest.zip, build/zones.zip, build/compact.zip and build/live.zip.

Each holds its entry point, the parking modules it imports, the package data
it reads, and its locked requirements installed for the Lambda platform
(python3.12, x86_64 manylinux) by uv with every hash checked: requirements.txt
(Powertools, orjson, isal) for ingest, requirements-zones.txt (Powertools,
orjson, PyAthena) for the zones monitor, requirements-compact.txt (DuckDB,
orjson) for the compaction function, requirements-live.txt (FastAPI, Mangum,
pandas, PyAthena, DuckDB) for the live functions (each compiled from its .in
file by `make lock`). The module list is not kept by hand: it is what the
entry point imports from ``parking``, found by following imports, so the
query engines, CLI and plots never reach a Lambda (the zones monitor takes
the section 7 SQL files, the stdlib-only modules that bind them and the one
Athena client, which runs PyAthena's plain cursor: no pandas). Entries carry
a fixed date so an unchanged build is byte-identical and Serverless skips
the upload. A build fails when the unzipped function would exceed Lambda's
250 MB limit.

Run: ``python scripts/build_lambda.py [ingest|zones|compact|live ...]`` (none: all).
"""

from __future__ import annotations

import subprocess
import sys
import zipfile
from dataclasses import dataclass
from modulefinder import ModuleFinder
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BUILD = ROOT / "build"
FIXED_DATE = (2020, 1, 1, 0, 0, 0)
LAMBDA_UNZIPPED_LIMIT = 250 * 1024 * 1024


@dataclass(frozen=True)
class Dependencies:
    """A requirements file installed for the Lambda platform into its own folder under build/."""

    requirements: str
    folder: str

    @property
    def target(self) -> Path:
        return BUILD / self.folder

    def install(self) -> None:
        """Install the locked requirements for python3.12 x86_64, unless the folder already holds them."""
        marker = self.target / ".requirements"
        wanted = (ROOT / self.requirements).read_text()
        if marker.exists() and marker.read_text() == wanted:
            return
        subprocess.run(["rm", "-rf", str(self.target)], check=True)
        from uv import find_uv_bin

        subprocess.run(
            [find_uv_bin(), "pip", "install", "--no-config", "--quiet", "--target", str(self.target), "--only-binary", ":all:",
             "--python-platform", LAMBDA_PLATFORM, "--python-version", "3.12", "--require-hashes", "--no-deps",
             "-r", str(ROOT / self.requirements)],
            check=True,
        )
        marker.write_text(wanted)

    def files(self) -> list[Path]:
        """The installed files the function needs (no scripts, caches, marker or uv's lock file)."""
        return sorted(
            path for path in self.target.rglob("*")
            if path.is_file() and "__pycache__" not in path.parts
            and path.relative_to(self.target).parts[0] not in ("bin", ".requirements", ".lock")
        )


# DuckDB's wheels need glibc 2.28 (manylinux_2_28); Lambda's python3.12 runs on Amazon Linux 2023 (glibc 2.34).
LAMBDA_PLATFORM = "x86_64-manylinux_2_28"
LAMBDA_DEPENDENCIES = Dependencies("requirements.txt", "lambda-dependencies")
ZONES_DEPENDENCIES = Dependencies("requirements-zones.txt", "zones-dependencies")
COMPACT_DEPENDENCIES = Dependencies("requirements-compact.txt", "compact-dependencies")
LIVE_DEPENDENCIES = Dependencies("requirements-live.txt", "live-dependencies")


@dataclass(frozen=True)
class Artifact:
    """One function's zip: its entry point, the data files it reads (path in the zip: source), its dependencies."""

    name: str
    entry: str
    data: tuple[tuple[str, str], ...] = ()
    dependencies: Dependencies = LAMBDA_DEPENDENCIES

    @property
    def path(self) -> Path:
        return BUILD / f"{self.name}.zip"


def _queries_of(module: str, name: str) -> tuple[str, ...]:
    """The named queries a function runs, as the module that runs them lists them (no copy kept here)."""
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    from importlib import import_module

    return tuple(getattr(import_module(module), name))


ZONES_QUERIES = _queries_of("parking.analytics.zone_report", "ZONES_QUERIES")  # what zones_handler.py runs
LIVE_QUERIES = _queries_of("parking.live.answers", "LIVE_ANSWERS")  # the four live answers


def sql_files(names: tuple[str, ...]) -> tuple[tuple[str, str], ...]:
    """(name in the zip, source) of the SQL the named queries read: their files and the parts spliced in.

    queries/ is installed as the package parking.sql (pyproject's package-dir); which
    parts a query splices in is the registry's (:attr:`NamedQuery.parts`).
    """
    from parking.analytics.registry import PARTS_FOLDER, named

    files = ["__init__.py", *(f"{name}.sql" for name in names)]
    files += sorted({f"{PARTS_FOLDER}/{part}.sql" for name in names for part in named(name).parts})
    return tuple((f"parking/sql/{name}", f"queries/{name}") for name in files)


_SQL = sql_files(ZONES_QUERIES)
# The live functions: the four live answers' SQL (with its parts), the page's files, and the CLI's JSON
# rendering (cli/ is installed as parking.cli, which the import walk cannot see from the repository).
_LIVE_SQL = sql_files(LIVE_QUERIES)
_LIVE_DATA = (*_LIVE_SQL, ("parking/cli/__init__.py", "cli/__init__.py"), ("parking/cli/render.py", "cli/render.py"),
              *((f"parking/live/static/{p.name}", f"parking/live/static/{p.name}")
                for p in sorted((ROOT / "parking" / "live" / "static").iterdir())))
ARTIFACTS = {
    "ingest": Artifact("ingest", "handler.py"),
    "zones": Artifact("zones", "zones_handler.py", _SQL, dependencies=ZONES_DEPENDENCIES),
    "compact": Artifact("compact", "compact_handler.py", dependencies=COMPACT_DEPENDENCIES),
    "live": Artifact("live", "live_handler.py", _LIVE_DATA, dependencies=LIVE_DEPENDENCIES),
}
ARTIFACT = ARTIFACTS["ingest"].path  # the ingest function's, as before


def handler_modules(entry: str = "handler.py") -> list[Path]:
    """The entry point and every parking module it imports, directly or not."""
    finder = ModuleFinder(path=[str(ROOT)])
    finder.run_script(str(ROOT / entry))
    files = {Path(module.__file__) for name, module in finder.modules.items()
             if (name == "parking" or name.startswith("parking.")) and module.__file__}
    return [ROOT / entry, *sorted(files)]


def add(archive: zipfile.ZipFile, path: Path, name: str) -> None:
    info = zipfile.ZipInfo(name, FIXED_DATE)
    info.external_attr = 0o644 << 16
    info.compress_type = zipfile.ZIP_DEFLATED
    archive.writestr(info, path.read_bytes())


def build(artifact: Artifact) -> None:
    """Write the artifact's zip in place of the old one; exit when it would not fit Lambda."""
    modules = handler_modules(artifact.entry)
    dependencies = artifact.dependencies.files()
    files = [(path, str(path.relative_to(ROOT))) for path in modules]
    files += [(ROOT / source, name) for name, source in artifact.data]
    files += [(path, str(path.relative_to(artifact.dependencies.target))) for path in dependencies]
    unzipped = sum(path.stat().st_size for path, _ in files)
    if unzipped > LAMBDA_UNZIPPED_LIMIT:
        sys.exit(f"{artifact.path.name}: {unzipped / 2**20:.0f} MiB unzipped, above Lambda's 250 MB limit")
    temporary = artifact.path.with_suffix(".zip.tmp")
    with zipfile.ZipFile(temporary, "w") as archive:
        for path, name in files:
            add(archive, path, name)
    temporary.replace(artifact.path)
    print(f"{artifact.path.relative_to(ROOT)}: {', '.join(str(p.relative_to(ROOT)) for p in modules)} "
          f"+ {len(artifact.data)} data files + {len(dependencies)} dependency files, "
          f"{artifact.path.stat().st_size / 1e6:.1f} MB zipped, {unzipped / 2**20:.0f} MiB unzipped (limit 250 MB)")


def main(names: list[str]) -> None:
    unknown = sorted(set(names) - set(ARTIFACTS))
    if unknown:
        sys.exit(f"no artifact named {', '.join(unknown)}; choose from {', '.join(ARTIFACTS)}")
    BUILD.mkdir(exist_ok=True)
    for name in names or list(ARTIFACTS):
        ARTIFACTS[name].dependencies.install()
        build(ARTIFACTS[name])


if __name__ == "__main__":
    main(sys.argv[1:])
