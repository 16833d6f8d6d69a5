"""Progress on stderr: a live display on a terminal (rich), plain lines or nothing otherwise.

One :class:`Terminal` per stream holds the live display, so a report's bar
and the Athena query it is waiting for share it; its lines disappear when the
work ends, leaving only what the command prints. Nothing live is written when
stderr is not a terminal (a pipe, a file, a CI log).
"""

from __future__ import annotations

import json
import signal
import sys
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import IO, TYPE_CHECKING, Any

import click
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

if TYPE_CHECKING:
    from parking.analytics.engines import QueryProgress, QueryStats
    from parking.kafka.consumer import ConsumeProgress


class Terminal:
    """The live lines of one command on ``stream``, drawn by rich; inert when ``stream`` is not a terminal.

    Each line is a task keyed by a name: with a ``total`` it is a bar
    (``done`` of ``total``), without one a spinner and its text. :meth:`echo`
    prints a lasting line above the live ones.
    """

    def __init__(self, stream: IO[str]) -> None:
        self.stream = stream
        self.live = stream.isatty()
        self._progress: Progress | None = None
        self._tasks: dict[str, Any] = {}

    def show(self, key: str, text: str, done: int | None = None, total: int | None = None) -> None:
        """Add or change the live line ``key``."""
        if not self.live:
            return
        if self._progress is None:
            console = Console(file=self.stream, highlight=False)
            self._progress = Progress(SpinnerColumn(), TextColumn("{task.description}"), BarColumn(),
                                      MofNCompleteColumn(), TimeElapsedColumn(), console=console, transient=True)
            self._progress.start()
        if key not in self._tasks:
            self._tasks[key] = self._progress.add_task(text, total=total, completed=done or 0)
        self._progress.update(self._tasks[key], description=text, total=total, completed=done or 0)

    def done(self, key: str) -> None:
        """Take the live line ``key`` away; the display ends with its last line."""
        task = self._tasks.pop(key, None)
        if self._progress is None:
            return
        if task is not None:
            self._progress.remove_task(task)
        if not self._tasks:
            self.close()

    def echo(self, text: str) -> None:
        """A lasting line, above the live ones when there are any."""
        if self._progress is not None:
            self._progress.console.print(text, markup=False, highlight=False, soft_wrap=True)
        else:
            click.echo(text, file=self.stream)

    def close(self) -> None:
        """End the live display, erasing its lines (also when Ctrl-C came while it was drawn)."""
        progress, self._progress = self._progress, None
        self._tasks.clear()
        if progress is not None:
            progress.stop()


_terminals: dict[int, Terminal] = {}


def close_terminals() -> None:
    """End every live display, before a command's last line (an error, Ctrl-C) is printed under it."""
    for live in list(_terminals.values()):
        live.close()


def terminal(stream: IO[str] | None = None) -> Terminal:
    """The one :class:`Terminal` of ``stream`` (default: the current stderr)."""
    stream = stream if stream is not None else sys.stderr
    found = _terminals.get(id(stream))
    if found is None or found.stream is not stream:
        found = _terminals[id(stream)] = Terminal(stream)
    return found


@contextmanager
def steps(label: str, stream: IO[str] | None = None) -> Iterator[Callable[[str, int, int], None]]:
    """Yield ``advance(what, done, total)``: a bar with ``label`` on a terminal, nothing otherwise."""
    live = terminal(stream)

    def advance(what: str, done: int, total: int) -> None:
        live.show(label, f"{label}: {what}", done, total)

    try:
        yield advance
    finally:
        live.done(label)


class AthenaProgress:
    """Shows a running query's state and elapsed time, then what it scanned and cost.

    After a command that ran more than one query, :meth:`summary` prints one
    total (queries, MB billed, dollars).
    """

    def __init__(self, stream: IO[str]) -> None:
        self.stream = stream
        self.terminal = terminal(stream)
        self.live = self.terminal.live
        self.last_state: str | None = None
        self.queries = 0
        self.reused = 0
        self.billed_megabytes = 0
        self.cost_usd = 0.0

    def update(self, progress: QueryProgress) -> None:
        line = f"athena {progress.query_id}: {progress.state} {progress.elapsed_seconds:.1f}s"
        if self.live:
            self.terminal.show("athena", line)
        elif progress.state != self.last_state:
            click.echo(line, file=self.stream)
        self.last_state = progress.state

    def finish(self, stats: QueryStats) -> None:
        self.terminal.done("athena")
        self.last_state = None
        self.queries += 1
        self.reused += stats.reused_result
        self.billed_megabytes += stats.billed_megabytes
        self.cost_usd += stats.cost_usd
        self.terminal.echo(f"athena: {cost_line(stats)}")

    def summary(self) -> None:
        """One total line when more than one query ran (nothing for one: its own line says it)."""
        self.terminal.done("athena")
        if self.queries < 2:
            return
        reused = f", {self.reused:,} answered from reused results" if self.reused else ""
        self.terminal.echo(
            f"athena: {self.queries:,} queries{reused}: billed {self.billed_megabytes:,} MB in total, "
            f"cost ${self.cost_usd:.6f} at $5/TB"
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
def ingest_progress(total_bytes: int | None) -> Iterator[Callable[[Iterable[bytes]], Iterator[bytes]]]:
    """Yield a function that iterates a file's lines, advancing a bar on a terminal.

    With a known size the bar counts bytes; from a pipe (no size) it counts lines.
    """
    stderr = sys.stderr
    if not stderr.isatty():
        yield lambda file: iter(file)
        return
    if total_bytes is None:

        def count(file: Iterable[bytes]) -> Iterator[bytes]:
            with click.progressbar(file, label="ingesting (lines)", file=stderr, update_min_steps=1000) as bar:
                yield from bar

        yield count
        return
    with click.progressbar(length=total_bytes, label="ingesting", file=stderr) as bar:

        def advance(file: Iterable[bytes]) -> Iterator[bytes]:
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
        self.terminal = terminal(stream)
        self.live = self.terminal.live

    def update(self, progress: ConsumeProgress) -> None:
        lag = "?" if progress.lag is None else f"{progress.lag:,}"
        line = (
            f"consumed {progress.records:,} (stored {progress.totals.stored:,}, "
            f"quarantined {progress.totals.quarantined:,}), "
            f"lag {lag}, {progress.rate:,.0f} records/s, partitions {sorted(progress.assigned)}"
        )
        if self.live:
            self.terminal.show("consume", line)
        else:
            click.echo(line, file=self.stream)

    def close(self) -> None:
        self.terminal.done("consume")


class Stop:
    """Which signal asked a command to stop, if one did."""

    signal_name: str | None = None

    @property
    def reason(self) -> str:
        return {"SIGINT": "Ctrl-C (SIGINT)"}.get(self.signal_name or "", self.signal_name or "")


@contextmanager
def stop_on_signals(stop: Callable[[], None]) -> Iterator[Stop]:
    """Ctrl-C and SIGTERM ask for a clean stop instead of killing mid-batch; the yielded :class:`Stop` says which."""
    asked = Stop()

    def handler(number: int, frame: Any) -> None:
        asked.signal_name = signal.Signals(number).name
        stop()

    previous = {sig: signal.signal(sig, handler) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield asked
    finally:
        for sig, previous_handler in previous.items():
            signal.signal(sig, previous_handler)
