"""Whether the process that wrote a file still runs: a temporary file's writer, a query's copy of the hot tier.

Linux's /proc tells a process's state and start; elsewhere only that a
process of the id exists.
"""

from __future__ import annotations

import os
from pathlib import Path

#: Seconds a process may seem to have started after a file it wrote last changed: /proc's boot time is whole
#: seconds (the start read from it is up to 1 s early), a file's change time is the kernel's coarse clock.
_STARTED_SLACK = 1.0


def process_alive(pid: int, since: float | None = None) -> bool:
    """Whether a process of this id runs on this machine, and with ``since`` (a time.time()) had started by then.

    A zombie (ended, not yet reaped by its parent) does not run. Where there
    is no ``/proc`` (not Linux) the start and zombie state are not known,
    and a process of that id is taken to be the one.
    """
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except (ProcessLookupError, OverflowError):
        return False
    except PermissionError:  # another user's process
        pass
    started = _process_start(pid)
    if started is None:
        return True
    state, start = started
    if state in ("Z", "X"):
        return False
    return since is None or start <= since + _STARTED_SLACK


def _process_start(pid: int) -> tuple[str, float] | None:
    """The state letter and start time (seconds since the epoch) of process ``pid`` from /proc, else None."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        boot = _boot_time()
    except (OSError, ValueError):
        return None
    fields = stat[stat.rindex(")") + 2:].split()  # after the name, which may hold spaces and ')'
    return fields[0], boot + int(fields[19]) / os.sysconf("SC_CLK_TCK")  # proc(5): fields 3 (state), 22 (start)


def _boot_time() -> float:
    """When this machine started, seconds since the epoch (/proc/stat's btime)."""
    for line in Path("/proc/stat").read_text().splitlines():
        if line.startswith("btime "):
            return float(line.split()[1])
    raise ValueError("no btime in /proc/stat")
