"""Build the Lambda artifacts: build/ingest.zip and build/zones.zip.

Each holds its entry point, the parking modules it imports, the package data
it reads, and requirements.txt built for the Lambda platform (python3.12,
x86_64 manylinux). The module list is not kept by hand: it is what the entry
point imports from ``parking``, found by following imports, so the query
engines, CLI and plots never reach a Lambda (the zones monitor takes the
section 7 SQL files and the stdlib-only modules that bind them, not pandas
or PyAthena). Entries carry a fixed date so an unchanged build is
byte-identical and Serverless skips the upload.
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
DEPENDENCIES = BUILD / "lambda-dependencies"
FIXED_DATE = (2020, 1, 1, 0, 0, 0)
PLATFORM = ("--platform", "manylinux2014_x86_64", "--implementation", "cp", "--python-version", "3.12")


@dataclass(frozen=True)
class Artifact:
    """One function's zip: its entry point and the data files it reads (path in the zip: source)."""

    name: str
    entry: str
    data: tuple[tuple[str, str], ...] = ()

    @property
    def path(self) -> Path:
        return BUILD / f"{self.name}.zip"


# queries/ is installed as the package parking.sql (pyproject's package-dir).
_SQL = tuple((f"parking/sql/{name}", f"queries/{name}") for name in ("__init__.py", "availability.sql", "overstays.sql"))
ARTIFACTS = {
    "ingest": Artifact("ingest", "handler.py"),
    "zones": Artifact("zones", "zones_handler.py", _SQL),
}
ARTIFACT = ARTIFACTS["ingest"].path  # the ingest function's, as before


def handler_modules(entry: str = "handler.py") -> list[Path]:
    """The entry point and every parking module it imports, directly or not."""
    finder = ModuleFinder(path=[str(ROOT)])
    finder.run_script(str(ROOT / entry))
    files = {Path(module.__file__) for name, module in finder.modules.items()
             if (name == "parking" or name.startswith("parking.")) and module.__file__}
    return [ROOT / entry, *sorted(files)]


def install_dependencies() -> None:
    marker = DEPENDENCIES / ".requirements"
    wanted = (ROOT / "requirements.txt").read_text()
    if marker.exists() and marker.read_text() == wanted:
        return
    subprocess.run(["rm", "-rf", str(DEPENDENCIES)], check=True)
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check", "--target",
         str(DEPENDENCIES), "--only-binary=:all:", *PLATFORM, "-r", str(ROOT / "requirements.txt")],
        check=True,
    )
    marker.write_text(wanted)


def dependency_files() -> list[Path]:
    return sorted(
        path for path in DEPENDENCIES.rglob("*")
        if path.is_file() and "__pycache__" not in path.parts
        and path.relative_to(DEPENDENCIES).parts[0] != "bin" and path.name != ".requirements"
    )


def add(archive: zipfile.ZipFile, path: Path, name: str) -> None:
    info = zipfile.ZipInfo(name, FIXED_DATE)
    info.external_attr = 0o644 << 16
    info.compress_type = zipfile.ZIP_DEFLATED
    archive.writestr(info, path.read_bytes())


def build(artifact: Artifact) -> None:
    temporary = artifact.path.with_suffix(".zip.tmp")
    modules = handler_modules(artifact.entry)
    with zipfile.ZipFile(temporary, "w") as archive:
        for path in modules:
            add(archive, path, str(path.relative_to(ROOT)))
        for name, source in artifact.data:
            add(archive, ROOT / source, name)
        for path in dependency_files():
            add(archive, path, str(path.relative_to(DEPENDENCIES)))
    temporary.replace(artifact.path)
    print(f"{artifact.path.relative_to(ROOT)}: {', '.join(str(p.relative_to(ROOT)) for p in modules)} "
          f"+ {len(artifact.data)} data files + {len(dependency_files())} dependency files, "
          f"{artifact.path.stat().st_size / 1e6:.1f} MB")


def main(names: list[str]) -> None:
    install_dependencies()
    BUILD.mkdir(exist_ok=True)
    for name in names or list(ARTIFACTS):
        build(ARTIFACTS[name])


if __name__ == "__main__":
    main(sys.argv[1:])
