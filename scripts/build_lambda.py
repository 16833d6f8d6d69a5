"""Build build/ingest.zip: the handler, the parking modules it imports, and
requirements.txt built for the Lambda platform (python3.12, x86_64 manylinux).

The module list is not kept by hand: it is what ``handler.py`` imports from
``parking``, found by following imports, so the query engines, CLI and plots
never reach the Lambda. Entries carry a fixed date so an unchanged build is
byte-identical and Serverless skips the upload.
"""

from __future__ import annotations

import subprocess
import sys
import zipfile
from modulefinder import ModuleFinder
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BUILD = ROOT / "build"
DEPENDENCIES = BUILD / "lambda-dependencies"
ARTIFACT = BUILD / "ingest.zip"
FIXED_DATE = (2020, 1, 1, 0, 0, 0)
PLATFORM = ("--platform", "manylinux2014_x86_64", "--implementation", "cp", "--python-version", "3.12")


def handler_modules() -> list[Path]:
    """handler.py and every parking module it imports, directly or not."""
    finder = ModuleFinder(path=[str(ROOT)])
    finder.run_script(str(ROOT / "handler.py"))
    files = {Path(module.__file__) for name, module in finder.modules.items()
             if (name == "parking" or name.startswith("parking.")) and module.__file__}
    return [ROOT / "handler.py", *sorted(files)]


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


def main() -> None:
    install_dependencies()
    BUILD.mkdir(exist_ok=True)
    temporary = ARTIFACT.with_suffix(".zip.tmp")
    with zipfile.ZipFile(temporary, "w") as archive:
        for path in handler_modules():
            add(archive, path, str(path.relative_to(ROOT)))
        for path in dependency_files():
            add(archive, path, str(path.relative_to(DEPENDENCIES)))
    temporary.replace(ARTIFACT)
    print(f"{ARTIFACT.relative_to(ROOT)}: {', '.join(str(p.relative_to(ROOT)) for p in handler_modules())} "
          f"+ {len(dependency_files())} dependency files, {ARTIFACT.stat().st_size / 1e6:.1f} MB")


if __name__ == "__main__":
    main()
