"""Local files written whole or not at all: a hidden temporary file beside the target, flushed, then put in place.

Readers list a folder at any moment (the local query engine, ``lake check``),
so a file must never be seen half written: it is made under a hidden name,
flushed to disk, then renamed (or linked) to its own. The ingest sink, the
lake's local store and the spot catalog all write this way, so the rule and
the temporary name (which ``lake check`` knows a killed writer's leftover
by, :data:`parking.lake.stores.WRITER_TEMP`) live here once.
"""

from __future__ import annotations

import errno
import os
import stat
import threading
from collections.abc import Callable

TEMP_NAME_HEAD = 128  # characters of a file's name its temporary file keeps (the name stays within 255 bytes)


def temp_beside(path: str) -> str:
    """The temporary name for ``path``: ``.<name head>.<pid>.<thread>.tmp``, hidden and unique to this thread."""
    folder, name = os.path.split(path)
    return os.path.join(folder, f".{name[:TEMP_NAME_HEAD]}.{os.getpid()}.{threading.get_ident()}.tmp")


def place(path: str, fill: Callable[[str], bool], *, replace: bool = True) -> None:
    """Create ``path`` whole: ``fill(temp)`` makes the temporary file, then it is put in place.

    ``fill`` returns whether it wrote bytes that still need flushing (a hard
    link or a file it flushed itself needs none). With ``replace`` the file
    is renamed over ``path``; without, it is linked to ``path``, which fails
    if the name exists, so an existing file is never replaced (on a file
    system without hard links it is renamed into place when the name is
    free). The temporary file is gone afterwards, whatever happened.

    A ``path`` that is a device or a pipe (``/dev/stdout``, ``/dev/null``, a
    FIFO) is written through, as a shell's ``>`` would: renaming over it would
    replace the device itself (as root, ``/dev/null`` for everyone).
    """
    if replace and _special(path):
        fill(path)
        return
    os.makedirs(os.path.dirname(path), exist_ok=True)
    temp = temp_beside(path)
    try:
        if os.path.lexists(temp):  # a leftover of a crashed process that had this id
            os.unlink(temp)
        if fill(temp):
            with open(temp, "rb") as handle:
                os.fsync(handle.fileno())
        if replace:
            os.replace(temp, path)
        else:
            _link(temp, path)
    finally:
        if os.path.lexists(temp):  # linked, or a hard link of the very file (rename(2) leaves both names)
            os.unlink(temp)


def _special(path: str) -> bool:
    """Whether ``path`` (its symbolic links followed) is there and neither a regular file nor a folder."""
    try:
        mode = os.stat(path).st_mode
    except OSError:
        return False
    return not (stat.S_ISREG(mode) or stat.S_ISDIR(mode))


def place_written(path: str, write: Callable[[int], None], *, replace: bool = True) -> None:
    """:func:`place` with ``write(fd)`` filling the temporary file through its descriptor, then flushed."""

    def fill(temp: str) -> bool:
        fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        try:
            write(fd)
            os.fsync(fd)
        finally:
            os.close(fd)
        return False  # flushed already

    place(path, fill, replace=replace)


def write_fully(fd: int, body: bytes | bytearray | memoryview) -> None:
    """Write every byte: ``os.write`` may write fewer than asked (a full disk, a file size limit).

    Raises :class:`OSError` when the system refuses the rest, so a short write
    is never taken for a complete one.
    """
    view = memoryview(body)
    while view:
        written = os.write(fd, view)
        if written <= 0:
            raise OSError(errno.EIO, f"write stored nothing, {len(view)} bytes left")
        view = view[written:]


def _link(temp: str, path: str) -> None:
    """Link ``temp`` to ``path`` unless the name exists (atomic); rename where hard links are not supported."""
    try:
        os.link(temp, path)
    except FileExistsError:
        pass  # the same content, stored before: names are derived from what a file holds
    except OSError as error:
        if error.errno not in (errno.EPERM, errno.ENOTSUP, errno.EXDEV):
            raise
        if not os.path.lexists(path):  # a file system without hard links
            os.replace(temp, path)
