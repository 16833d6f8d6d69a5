"""How a command's answer reaches the user: rows as table, CSV or JSON; pictures; "nothing observed"."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn

import click

from parking.cli.context import cli_context
from parking.cli.options import show_all
from parking.text import plural

if TYPE_CHECKING:
    import pandas as pd
    from matplotlib.figure import Figure

NOTHING_OBSERVED = 3  # exit code of `plot` and `report` when there is nothing to draw
TABLE_ROWS = 100  # a table on a terminal shows this many rows unless --all


def on_terminal() -> bool:
    """Whether stdout is a person's terminal (a pipe or a file gets every row)."""
    return sys.stdout.isatty()


def show(ctx: click.Context, frame: pd.DataFrame, output_format: str | None, empty: str,
         footer: str | None = None, *, no_rows: str | None = None) -> None:
    """Print the answer; with nothing observed, say so on stderr (csv and json keep their rows).

    ``footer`` is a line for people, printed under a table only. ``no_rows``
    is the whole stderr line for an answer with no rows when that is news,
    not a lack of data (alerts: no zone is full).
    """
    from parking.cli.render import nothing_observed, render

    fmt = cli_context(ctx).format_for(output_format)
    if no_rows is not None and frame.empty:
        click.echo(no_rows, err=True)
        if fmt == "table":
            return
    elif nothing_observed(frame):
        click.echo(f"Nothing observed: {with_zones(ctx, empty)}.", err=True)
        if fmt == "table":
            return
    left_out = 0
    if fmt == "table" and not show_all(ctx) and len(frame) > TABLE_ROWS and on_terminal():
        left_out = len(frame) - TABLE_ROWS
        frame = frame.head(TABLE_ROWS)
    text = render(frame, fmt)
    if text or fmt != "ndjson":  # ndjson of no rows is no line at all
        click.echo(text)
    if left_out:
        click.echo(f"... and {plural(left_out, 'more row')} not shown (--all shows them, --format csv for a program)")
    if footer and fmt == "table":
        click.echo(footer)


def in_zone(frame: pd.DataFrame, tz: str) -> pd.DataFrame:
    """Every timestamp column shown in ``tz`` (the instants do not change)."""
    import pandas as pd

    shown = frame.copy()
    for column in shown.columns:
        if isinstance(shown[column].dtype, pd.DatetimeTZDtype):
            shown[column] = shown[column].dt.tz_convert(tz)
    return shown


def write_picture(figure: Figure, out: str | Path) -> Path:
    """Save a figure; a write that fails (disk full, no permission) is one line and exit 1."""
    from parking.analytics.plots import save

    try:
        return save(figure, out)
    except OSError as exc:
        raise click.ClickException(f"could not write {out}: {exc.strerror or exc}") from None


def nothing_to_draw(what: str) -> NoReturn:
    """Say that nothing was observed and stop with exit code 3, writing no file."""
    click.echo(f"Nothing observed: {with_zones(click.get_current_context(silent=True), what)}; nothing written.",
               err=True)
    sys.exit(NOTHING_OBSERVED)


def with_zones(ctx: click.Context | None, what: str) -> str:
    """``what``, plus which --zone names matched nothing observed (on Athena they are not checked first)."""
    zones = (ctx.params.get("zones") if ctx is not None else None) or ()
    if not zones:
        return what
    assert ctx is not None  # zones came from it
    names = ", ".join(repr(name.strip()) for name in zones)
    if cli_context(ctx).settings(ctx.params.get("engine")).engine != "athena":  # local: every --zone was checked
        return f"{what} (zone {names} is in the spot catalog: the window holds no events of its bays)"
    return (f"{what} (no catalogued bay of zone {names} was observed: a zone not in the spot catalog "
            "matches no bay; see the catalog Athena reads with parking-cli spots show --bucket BUCKET)")
