"""Build build/compact.zip: the compaction Lambda's own artifact.

compact_handler.py, the parking modules it imports (found by following its
imports, as for the ingest Lambda), and requirements-compact.txt (DuckDB,
orjson) built for python3.12 x86_64 manylinux. Fails when the unzipped
function would exceed Lambda's 250 MB limit.
"""

from __future__ import annotations

import subprocess
import sys
import zipfile
from modulefinder import ModuleFinder
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from scripts.build_lambda import add  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
BUILD = ROOT / "build"
ENTRY = ROOT / "compact_handler.py"
REQUIREMENTS = ROOT / "requirements-compact.txt"
DEPENDENCIES = BUILD / "compact-dependencies"
ARTIFACT = BUILD / "compact.zip"
LAMBDA_UNZIPPED_LIMIT = 250 * 1024 * 1024
# DuckDB's wheels need glibc 2.28 (manylinux_2_28); Lambda's python3.12 runs on Amazon Linux 2023 (glibc 2.34).
PLATFORM = ("--platform", "manylinux_2_28_x86_64", "--platform", "manylinux2014_x86_64",
            "--implementation", "cp", "--python-version", "3.12")


def handler_modules() -> list[Path]:
    """compact_handler.py and every parking module it imports, directly or not."""
    finder = ModuleFinder(path=[str(ROOT)])
    finder.run_script(str(ENTRY))
    files = {Path(module.__file__) for name, module in finder.modules.items()
             if (name == "parking" or name.startswith("parking.")) and module.__file__}
    return [ENTRY, *sorted(files)]


def install_dependencies() -> None:
    marker = DEPENDENCIES / ".requirements"
    wanted = REQUIREMENTS.read_text()
    if marker.exists() and marker.read_text() == wanted:
        return
    subprocess.run(["rm", "-rf", str(DEPENDENCIES)], check=True)
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check", "--target",
         str(DEPENDENCIES), "--only-binary=:all:", *PLATFORM, "-r", str(REQUIREMENTS)],
        check=True,
    )
    marker.write_text(wanted)


def dependency_files() -> list[Path]:
    return sorted(
        path for path in DEPENDENCIES.rglob("*")
        if path.is_file() and "__pycache__" not in path.parts
        and path.relative_to(DEPENDENCIES).parts[0] != "bin" and path.name != ".requirements"
    )


def main() -> None:
    install_dependencies()
    BUILD.mkdir(exist_ok=True)
    files = [(path, str(path.relative_to(ROOT))) for path in handler_modules()]
    files += [(path, str(path.relative_to(DEPENDENCIES))) for path in dependency_files()]
    unzipped = sum(path.stat().st_size for path, _ in files)
    if unzipped > LAMBDA_UNZIPPED_LIMIT:
        sys.exit(f"{ARTIFACT.name}: {unzipped / 2**20:.0f} MiB unzipped, above Lambda's 250 MB limit")
    temporary = ARTIFACT.with_suffix(".zip.tmp")
    with zipfile.ZipFile(temporary, "w") as archive:
        for path, name in files:
            add(archive, path, name)
    temporary.replace(ARTIFACT)
    print(f"{ARTIFACT.relative_to(ROOT)}: {', '.join(name for _, name in files[:len(handler_modules())])} "
          f"+ {len(dependency_files())} dependency files, {ARTIFACT.stat().st_size / 1e6:.1f} MB zipped, "
          f"{unzipped / 2**20:.0f} MiB unzipped (limit 250 MB)")


if __name__ == "__main__":
    main()
