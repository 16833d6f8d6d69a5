"""Progress on stderr: a live line on a terminal, plain lines otherwise."""

from __future__ import annotations

import json
import signal
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import IO, TYPE_CHECKING, BinaryIO

import click

if TYPE_CHECKING:
    from parking.analytics.engines import QueryProgress, QueryStats
    from parking.kafka.consumer import ConsumeProgress


class AthenaProgress:
    """Shows a running query's state and elapsed time, then what it scanned and cost.

    After a command that ran more than one query, :meth:`summary` prints one
    total (queries, MB billed, dollars).
    """

    def __init__(self, stream: IO[str]) -> None:
        self.stream = stream
        self.live = stream.isatty()
        self.last_state: str | None = None
        self.queries = 0
        self.reused = 0
        self.billed_megabytes = 0
        self.cost_usd = 0.0

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
        self.last_state = None
        self.queries += 1
        self.reused += stats.reused_result
        self.billed_megabytes += stats.billed_megabytes
        self.cost_usd += stats.cost_usd
        click.echo(f"athena: {cost_line(stats)}", file=self.stream)

    def summary(self) -> None:
        """One total line when more than one query ran (nothing for one: its own line says it)."""
        if self.queries < 2:
            return
        reused = f", {self.reused:,} answered from reused results" if self.reused else ""
        click.echo(
            f"athena: {self.queries:,} queries{reused}: billed {self.billed_megabytes:,} MB in total, "
            f"cost ${self.cost_usd:.6f} at $5/TB",
            file=self.stream,
        )


def cost_line(stats: QueryStats) -> str:
    """What one query scanned and what Athena bills for it, in words (README "Athena")."""
    seconds = f"{stats.engine_milliseconds / 1000:.1f}s"
    scanned = f"{stats.data_scanned_bytes / 2**20:,.2f} MB"
    if stats.reused_result:
        return f"reused the result of an earlier run: nothing scanned, nothing billed ($0), {seconds}"
    if stats.state == "FAILED":
        return f"the query failed after scanning {scanned}: failed queries are not billed ($0)"
    billed = (f"billed {stats.billed_megabytes:,} MB (rounded up, 10 MB minimum), "
              f"cost ${stats.cost_usd:.6f} at $5/TB")
    if stats.state == "CANCELLED":
        return f"the query was cancelled after scanning {scanned}: {billed}"
    return f"scanned {scanned}, {billed}, {seconds}"


@contextmanager
def ingest_progress(total_bytes: int | None) -> Iterator[Callable[[BinaryIO], Iterator[bytes]]]:
    """Yield a function that iterates a file's lines, advancing a bar on a terminal.

    With a known size the bar counts bytes; from a pipe (no size) it counts lines.
    """
    stderr = sys.stderr
    if not stderr.isatty():
        yield lambda file: iter(file)
        return
    if total_bytes is None:

        def count(file: BinaryIO) -> Iterator[bytes]:
            with click.progressbar(file, label="ingesting (lines)", file=stderr, update_min_steps=1000) as bar:
                yield from bar

        yield count
        return
    with click.progressbar(length=total_bytes, label="ingesting", file=stderr) as bar:

        def advance(file: BinaryIO) -> Iterator[bytes]:
            for line in file:
                bar.update(len(line))
                yield line

        yield advance


def simulate_progress(lines: Iterator[str], start: datetime, end: datetime, show: bool) -> Iterator[str]:
    """The simulated lines, advancing a bar over simulated time on a terminal when ``show``."""
    stderr = sys.stderr
    if not show or not stderr.isatty() or end <= start:
        yield from lines
        return
    total = int((end - start).total_seconds())
    with click.progressbar(length=total, label="simulating", file=stderr) as bar:
        done = 0
        for number, line in enumerate(lines):
            if number % 2000 == 0:
                reached = _simulated_seconds(line, start)
                if reached is not None and reached > done:
                    bar.update(min(reached, total) - done)
                    done = min(reached, total)
            yield line
        bar.update(total - done)


def _simulated_seconds(line: str, start: datetime) -> int | None:
    """Seconds from ``start`` to a simulated event's timestamp (None for a broken record)."""
    try:
        stamp = datetime.fromisoformat(json.loads(line)["timestamp"])
        return int((stamp - start).total_seconds())
    except (ValueError, KeyError, TypeError):
        return None


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
