"""uvicorn's server as ``parking-cli serve`` runs it: it says when it listens, and a signal ends it cleanly.

uvicorn shuts down gracefully on SIGINT or SIGTERM and then raises the
signal again, so the process dies of it (SIGTERM: no exit status, no last
word). :class:`LiveServer` keeps the graceful shutdown, remembers the signal
in :attr:`LiveServer.stopped_by` and returns, so the command can say how it
stopped and exit 0.
"""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Callable, Iterator
from typing import Any

import uvicorn


class LiveServer(uvicorn.Server):
    """A uvicorn server that calls ``on_started`` once it listens and returns after a signal."""

    def __init__(self, config: uvicorn.Config, *, on_started: Callable[[], None] = lambda: None) -> None:
        super().__init__(config)
        self.on_started = on_started
        self.stopped_by: int | None = None

    async def startup(self, sockets: Any = None) -> None:
        await super().startup(sockets)
        if not self.should_exit:
            self.on_started()

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        """uvicorn's own, less the signal raised again at the end (signals reach the main thread only)."""
        if threading.current_thread() is not threading.main_thread():
            yield
            return
        original = {sig: signal.signal(sig, self.handle_exit) for sig in (signal.SIGINT, signal.SIGTERM)}
        try:
            yield
        finally:
            for sig, handler in original.items():
                signal.signal(sig, handler)
        self.stopped_by = self._captured_signals[0] if self._captured_signals else None
