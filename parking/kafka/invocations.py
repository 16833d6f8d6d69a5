"""Handler invocations for the Kafka consumer, one partition's batch each, several at once.

Lambda reads each partition in order but invokes the function for different
partitions at the same time. An :class:`Invoker` does that here: each call
builds a partition batch's MSK event and runs it through a handler,
:func:`parking.ingest.ingest_batch` (the Lambda's own code) unless another
module-level function with its signature is given. With one worker
the calls run in a thread beside the Kafka poller; with more, in worker
processes, which is what lets ingest use more than one core.

Worker processes are started with ``spawn``, so they inherit no Kafka client
threads. They ignore Ctrl-C and SIGTERM: the consumer decides when to stop,
and lets running batches finish first. They exit if the consumer dies.
"""

from __future__ import annotations

import gc
import multiprocessing
import os
import signal
import threading
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import Future, ProcessPoolExecutor, ThreadPoolExecutor
from contextlib import contextmanager
from functools import partial
from multiprocessing.connection import wait
from typing import Any

from parking.config import Settings
from parking.ingest.batch import BatchResult, ingest_batch
from parking.ingest.msk import PartitionRecords
from parking.ingest.sinks import Sink

# One Python thread polls Kafka and feeds the handlers at about 0.6 us a record,
# each handler ingesting at about 2.5 us (each measured alone): more than four
# would wait for it.
MAX_DEFAULT_WORKERS = 4

# What Lambda calls: an MSK event in, what was stored out. A worker process
# receives it by reference, so it must be a module-level function.
Handler = Callable[[Mapping[str, Any], Sink, Settings], BatchResult]


def default_workers() -> int:
    """One handler per core, up to what one poller can feed."""
    return max(1, min(os.cpu_count() or 1, MAX_DEFAULT_WORKERS))


def invoke(records: PartitionRecords, sink: Sink, settings: Settings, handler: Handler = ingest_batch) -> BatchResult:
    """One handler call on the records' MSK event, built here as Lambda's runtime would hand it over."""
    with paused_gc():
        return handler(records.event(), sink, settings)


class Invoker:
    """Runs handler calls on up to ``workers`` batches at a time; each returns a future."""

    def __init__(self, sink: Sink, settings: Settings, workers: int, handler: Handler = ingest_batch) -> None:
        if workers < 1:
            raise ValueError(f"workers must be at least 1, got {workers}")
        if workers == 1:
            self._pool: ThreadPoolExecutor | ProcessPoolExecutor = ThreadPoolExecutor(1, thread_name_prefix="handler")
            self._call: Callable[[PartitionRecords], BatchResult] = partial(
                invoke, sink=sink, settings=settings, handler=handler
            )
            return
        self._pool = ProcessPoolExecutor(
            workers, mp_context=multiprocessing.get_context("spawn"), initializer=_adopt, initargs=(sink, settings, handler)
        )
        self._call = _invoke_adopted
        for _ in range(workers):  # start every process now, while the consumer joins its group
            self._pool.submit(_started)

    def submit(self, records: PartitionRecords) -> Future[BatchResult]:
        return self._pool.submit(self._call, records)

    def close(self, cancel: bool = False) -> None:
        """Wait for the calls under way; with ``cancel``, drop those not yet started."""
        self._pool.shutdown(wait=True, cancel_futures=cancel)


@contextmanager
def paused_gc() -> Iterator[None]:
    """Suspend the cycle collector while thousands of objects that form no cycles are alive.

    A handled batch's record dicts, or the messages one poll returns, would each
    count toward collections that scan them all for nothing. Reference counting
    still frees them as soon as they are dropped.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


# A worker process's sink, settings and handler, set once by the pool's initializer.
_adopted: tuple[Sink, Settings, Handler] | None = None


def _adopt(sink: Sink, settings: Settings, handler: Handler) -> None:
    global _adopted
    _adopted = (sink, settings, handler)
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, signal.SIG_IGN)
    parent = multiprocessing.parent_process()
    if parent is not None:
        threading.Thread(target=_exit_with, args=(parent.sentinel,), daemon=True).start()


def _exit_with(parent_sentinel: int) -> None:
    """Exit once the consumer is gone; a batch cut short was never committed."""
    wait([parent_sentinel])
    os._exit(1)


def _invoke_adopted(records: PartitionRecords) -> BatchResult:
    assert _adopted is not None, "called outside a worker process"
    return invoke(records, *_adopted)


def _started() -> None:
    """Nothing: submitting it makes the pool start a process."""
