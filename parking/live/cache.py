"""The live answers kept while nothing they depend on changed (docs/CHOICES.md, "The live surfaces").

An answer is computed again when the source's :meth:`~parking.live.answers.LiveSource.version`
changes (an object landed, the catalog was loaded) or when it is older than
``max_age`` seconds (time passing turns a silent sensor unknown and a stay
longer). Checking the version is throttled to once per ``check_every``
seconds, so a burst of requests costs one check. One computation runs at a
time per key; meanwhile callers get the answer it replaces.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

T = TypeVar("T")


@dataclass
class _Entry(Generic[T]):
    value: T
    version: Any
    made: float


class LiveCache:
    """Values by key, made by a function, kept while the version is unchanged and they are young."""

    def __init__(self, version: Callable[[], Any], *, max_age: float = 5.0, check_every: float = 0.2,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._version_of = version
        self.max_age = max_age
        self.check_every = check_every
        self._clock = clock
        self._entries: dict[Hashable, _Entry[Any]] = {}
        self._locks: dict[Hashable, threading.Lock] = {}
        self._guard = threading.Lock()
        self._version: Any = None
        self._checked = -float("inf")

    def version(self) -> Any:
        """The source's version, looked at most once per ``check_every`` seconds."""
        now = self._clock()
        with self._guard:
            if now - self._checked < self.check_every:
                return self._version
        current = self._version_of()
        with self._guard:
            self._version, self._checked = current, now
        return current

    def peek(self, key: Hashable) -> Any:
        """The kept value of ``key`` when it is current, else None; never makes one (cheap: for an event loop)."""
        entry = self._entries.get(key)
        return entry.value if entry is not None and self._current(entry, self.version()) else None

    def get(self, key: Hashable, make: Callable[[], T]) -> T:
        """The value of ``key``: the kept one while current, else ``make()``'s (one maker at a time)."""
        version = self.version()
        entry = self._entries.get(key)
        if entry is not None and self._current(entry, version):
            return entry.value
        with self._guard:
            lock = self._locks.setdefault(key, threading.Lock())
        if entry is not None and not lock.acquire(blocking=False):
            return entry.value  # another caller is making it; the kept answer holds until then
        if entry is None:
            lock.acquire()
        try:
            entry = self._entries.get(key)
            if entry is not None and self._current(entry, self.version()):
                return entry.value
            version = self.version()
            value = make()
            self._entries[key] = _Entry(value, version, self._clock())
            return value
        finally:
            lock.release()

    def _current(self, entry: _Entry[Any], version: Any) -> bool:
        return entry.version == version and self._clock() - entry.made < self.max_age
