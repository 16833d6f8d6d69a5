"""Progress on stderr: a live line on a terminal, plain lines otherwise."""

from __future__ import annotations

import signal
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import IO, TYPE_CHECKING, BinaryIO

import click

if TYPE_CHECKING:
    from parking.analytics.engines import QueryProgress, QueryStats
    from parking.kafka.consumer import ConsumeProgress


class AthenaProgress:
    """Shows a running query's state and elapsed time, then what it scanned and cost."""

    def __init__(self, stream: IO[str]) -> None:
        self.stream = stream
        self.live = stream.isatty()
        self.last_state: str | None = None

    def update(self, progress: QueryProgress) -> None:
        line = f"athena {progress.query_id}: {progress.state} {progress.elapsed_seconds:.1f}s"
        if self.live:
            click.echo(f"\r{line}\033[K", file=self.stream, nl=False)
        elif progress.state != self.last_state:
            click.echo(line, file=self.stream)
        self.last_state = progress.state

    def finish(self, stats: QueryStats) -> None:
        if self.live:
            click.echo("\r\033[K", file=self.stream, nl=False)
        reused = " (reused result)" if stats.reused_result else ""
        click.echo(
            f"athena: scanned {stats.data_scanned_bytes / 2**20:,.2f} MB, billed {stats.billed_megabytes:,} MB "
            f"(rounded up, 10 MB minimum), cost ${stats.cost_usd:.6f} at $5/TB, "
            f"{stats.engine_milliseconds / 1000:.1f}s{reused}",
            file=self.stream,
        )


@contextmanager
def ingest_progress(total_bytes: int | None) -> Iterator[Callable[[BinaryIO], Iterator[bytes]]]:
    """Yield a function that iterates a file's lines, advancing a bar on a terminal."""
    stderr = sys.stderr
    if not stderr.isatty():
        yield lambda file: iter(file)
        return
    with click.progressbar(length=total_bytes, label="ingesting", file=stderr) as bar:

        def advance(file: BinaryIO) -> Iterator[bytes]:
            for line in file:
                bar.update(len(line))
                yield line

        yield advance


class ConsumeReporter:
    """Records, stored, quarantined, lag and rate: a live line on a terminal, log lines otherwise."""

    def __init__(self, stream: IO[str]) -> None:
        self.stream = stream
        self.live = stream.isatty()

    def update(self, progress: ConsumeProgress) -> None:
        lag = "?" if progress.lag is None else f"{progress.lag:,}"
        line = (
            f"consumed {progress.records:,} (stored {progress.totals.stored:,}, "
            f"quarantined {progress.totals.quarantined:,}), "
            f"lag {lag}, {progress.rate:,.0f} records/s, partitions {sorted(progress.assigned)}"
        )
        click.echo(f"\r{line}\033[K" if self.live else line, file=self.stream, nl=not self.live)


@contextmanager
def stop_on_signals(stop: Callable[[], None]) -> Iterator[None]:
    """Ctrl-C and SIGTERM ask for a clean stop instead of killing mid-batch."""
    previous = {sig: signal.signal(sig, lambda *_: stop()) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
