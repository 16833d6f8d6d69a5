"""What a look at the lake's folders shows to be damaged, before a local query answers from it.

Issue 23 (README, "Two tiers"): a query does not answer from a tier it can
cheaply see is damaged. The look opens no file; it must stay cheap while the
kept sources grow by every object ever folded, since every local query runs it.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from parking.lake.compaction.dayfiles import day_file_name, file_hour
from parking.layout import COMPACTED_PREFIX, COMPACTED_SOURCES_PREFIX, DATA_PREFIX

# The folders of a tier, one pattern a level: a data object (and a kept source) lies in an hour folder, a
# compacted file in a day folder; any other place is one the layout never uses. Digits are [0-9]: Python's \d
# matches every script's, and DuckDB reads a folder 'hour=1\u0663' as an hour no query window holds.
_DAY_LEVELS = (re.compile(r"year=[0-9]{4}"), re.compile(r"month=(0[1-9]|1[0-2])"),
               re.compile(r"day=(0[1-9]|[12][0-9]|3[01])"))
_HOUR_LEVELS = (*_DAY_LEVELS, re.compile(r"hour=([01][0-9]|2[0-3])"))


def layout_damage(data_dir: Path, data_prefix: str = DATA_PREFIX) -> str | None:
    """One line naming what a walk of the lake's folders shows to be damaged, with the repair; None if nothing.

    What it finds without reading a file (README, "Two tiers"): a file under
    the data prefix, ``parking-compacted/`` or ``parking-compacted-sources/``
    in a place the layout never uses (``hour=10/sub/x.json.gz``, a file beside
    the ``year=`` folders), which no query reads; and kept sources of an hour
    that no day file of its day and no hour file of that hour holds (their
    events are nowhere a query reads). Hidden names (``.x``, ``_x``) are
    skipped, as every reader skips them. An hour folder with no subfolder is
    looked into only when no compacted file holds its hour, so the cost grows
    with the folders, not with the objects in them (:func:`_walk`).
    """
    root = Path(data_dir)
    misplaced: list[str] = []
    tiers: list[tuple[str, tuple[re.Pattern[str], ...]]] = [(data_prefix, _HOUR_LEVELS)]
    if data_prefix == DATA_PREFIX:
        # Kept sources before the compacted tier: compaction writes a file before it moves the sources in, so a
        # source seen was held by a file then (a walk the other way round could see a fold half done).
        tiers += [(COMPACTED_SOURCES_PREFIX, _HOUR_LEVELS), (COMPACTED_PREFIX, _DAY_LEVELS)]
    holding: set[tuple[str, str | None]] = set()  # (day folder, None) for a day file, (day folder, hour) an hour file
    kept: dict[str, list[str]] = {}  # hour folder of kept sources: its names ([]: not looked into)
    for prefix, levels in tiers:
        astray, placed = _walk(root / prefix, levels, every_name=prefix == COMPACTED_PREFIX)
        misplaced += [f"{root / prefix / relative}" for relative in astray]
        if prefix == COMPACTED_PREFIX:
            for folder, names in placed.items():
                for name in names:
                    key = f"{COMPACTED_PREFIX}{folder}{name}"
                    if day_file_name(key) is not None:  # a day or hour file compact wrote
                        held = file_hour(key)
                        holding.add((folder.rstrip("/"), None if held is None else f"{held:02d}"))
        elif prefix == COMPACTED_SOURCES_PREFIX:
            kept = placed
    unheld: set[tuple[str, str]] = set()  # (day folder, hour) of kept sources no day or hour file holds
    for folder, names in kept.items():
        day, hour = folder.rsplit("/", 2)[0], folder.rsplit("/", 2)[1].removeprefix("hour=")
        if (day, None) not in holding and (day, hour) not in holding and (
                names or _first_visible(str(root / COMPACTED_SOURCES_PREFIX / folder)) is not None):
            unheld.add((day, hour))
    with_files = {day for day, _ in holding}
    lost = [f"{root / COMPACTED_PREFIX / day}/ has no day file, though that day's kept sources exist"
            for day in sorted({day for day, _ in unheld} - with_files)]
    lost += [f"{root / COMPACTED_PREFIX / day}/ has no file holding hour {hour}, though its kept sources exist"
             for day, hour in sorted(unheld) if day in with_files]
    if misplaced:
        what = f"{misplaced[0]} is a file where the lake's layout puts none, so no query reads it"
        count = len(misplaced) + len(lost)
    elif lost:
        what, count = lost[0], len(lost)
    else:
        return None
    more = f" ({count - 1} more such)" if count > 1 else ""
    return f"the lake is damaged: {what}{more}; run `parking-cli lake check --repair`"


def _walk(base: Path, levels: tuple[re.Pattern[str], ...],
          every_name: bool = True) -> tuple[list[str], dict[str, list[str]]]:
    """A tier whose files lie in folders named by ``levels``: (its misplaced files, {folder: its files' names}).

    Paths are relative to ``base``, a folder's ending in ``/``; hidden names
    are left out. Without ``every_name``, a leaf folder that has no
    subfolder is not looked into (its names are ``[]``, an empty folder's
    too): whatever lies in it is placed.
    """
    misplaced: list[str] = []
    placed: dict[str, list[str]] = {}
    stack = [("", str(base), 0)]
    while stack:
        relative, folder, depth = stack.pop()
        leaf = depth == len(levels)
        if leaf and not every_name and _has_no_subfolder(folder):
            placed[relative] = []  # not looked into
            continue
        try:
            entries = os.scandir(folder)
        except (FileNotFoundError, NotADirectoryError):
            continue
        names = []
        with entries:
            for entry in entries:
                name = entry.name
                if name.startswith((".", "_")):
                    continue
                if entry.is_dir(follow_symlinks=True):
                    if not leaf and levels[depth].fullmatch(name):
                        stack.append((f"{relative}{name}/", entry.path, depth + 1))
                    else:
                        misplaced += [f"{relative}{name}/{below}" for below in _visible_files(Path(entry.path))]
                elif leaf:
                    names.append(name)
                else:
                    misplaced.append(f"{relative}{name}")
        if names:
            placed[relative] = names
    return misplaced, placed


def _has_no_subfolder(folder: str) -> bool:
    """True when ``folder``'s link count shows it has no subfolder: 2 (itself and its ``.``).

    Linux's local file systems (ext4, xfs, tmpfs) count a folder's
    subfolders in its links; those that do not (btrfs says 1) never say 2,
    so the caller then looks at every entry. A symbolic link to a folder is
    not counted: it is taken for a file of the folder.
    """
    try:
        return os.stat(folder).st_nlink == 2
    except OSError:
        return False


def _first_visible(folder: str) -> str | None:
    """The first name in ``folder`` that is not hidden, None when there is none (or no folder)."""
    try:
        with os.scandir(folder) as entries:
            return next((entry.name for entry in entries if not entry.name.startswith((".", "_"))), None)
    except (FileNotFoundError, NotADirectoryError):
        return None


def _visible_files(base: Path) -> list[str]:
    """Every file below ``base`` (paths relative to it), hidden names and folders left out."""
    found: list[str] = []
    stack = [("", str(base))]
    while stack:
        relative, folder = stack.pop()
        try:
            entries = list(os.scandir(folder))
        except (FileNotFoundError, NotADirectoryError):
            continue
        for entry in entries:
            if entry.name.startswith((".", "_")):
                continue
            name = f"{relative}{entry.name}"
            if entry.is_dir(follow_symlinks=True):
                stack.append((name + "/", entry.path))
            else:
                found.append(name)
    return found
