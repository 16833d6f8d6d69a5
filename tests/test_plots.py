"""Pictures: rendered headless from generated data, checked on the figure itself."""

from __future__ import annotations

import struct
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from parking import queries
from parking.analytics.engines import DuckDBEngine
from parking.analytics.plots import FORMATS, occupancy_bars, occupancy_line, patterns_heatmap, save
from parking.cli.main import cli
from parking.cli.options import PICTURE_FORMATS
from parking.errors import InvalidArgument
from parking.ingest.files import ingest_lines
from parking.simulate import lines, plan

NOW = datetime(2024, 4, 1, tzinfo=timezone.utc)


def png_size(path: Path) -> tuple[int, int]:
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR", "a PNG file"
    return struct.unpack(">II", data[16:24])


@pytest.fixture(scope="module")
def lake(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("plots")
    stream = lines(plan(40, 14, datetime(2024, 3, 18).date(), seed=9, now=NOW))
    from parking.ingest.sinks import LocalSink

    ingest_lines((line.encode() for line in stream), LocalSink(root), now=NOW)
    return root


def test_heatmap_has_a_cell_per_weekday_and_hour(lake: Path, tmp_path: Path) -> None:
    frame = queries.patterns("2024-03-18", "2024-03-31", tz="Europe/Paris", engine=DuckDBEngine(lake), now=NOW)
    figure = patterns_heatmap(frame, "Occupancy by weekday and hour, 2024-03-18 to 2024-03-31 (Europe/Paris)")
    axes, colorbar_axes = figure.axes
    [image] = axes.get_images()
    grid = image.get_array()
    assert grid.shape == (7, 24)
    monday_nine = frame.set_index(["day_of_week", "hour"]).loc[(1, 9), "occupancy_rate"]
    assert grid[0, 9] == pytest.approx(monday_nine * 100), "Monday on top, in percent"
    assert [label.get_text() for label in axes.get_yticklabels()] == ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"]
    assert [label.get_text() for label in axes.get_xticklabels()] == [f"{h:02d}" for h in range(24)]
    assert colorbar_axes.get_ylabel() == "occupancy (%)"
    assert image.get_clim() == (0, 100)
    assert "Europe/Paris" in axes.get_title() and "2024-03-18 to 2024-03-31" in axes.get_title()
    assert png_size(save(figure, tmp_path / "heatmap.png")) == (1200, 420)


def test_heatmap_leaves_unobserved_cells_blank() -> None:
    frame = pd.DataFrame({"day_of_week": [1, 7], "hour": [0, 23], "occupancy_rate": [0.5, np.nan]})
    [image] = patterns_heatmap(frame, "sparse").axes[0].get_images()
    grid = image.get_array()
    assert grid[0, 0] == 50 and grid.mask[6, 23] and grid.mask[3, 12]


@pytest.mark.parametrize(("day", "zone", "bars"), [("2024-03-28", "UTC", 24), ("2024-03-31", "Europe/Paris", 23)])
def test_occupancy_has_a_bar_per_local_hour(lake: Path, tmp_path: Path, day: str, zone: str, bars: int) -> None:
    frame = queries.occupancy(day, tz=zone, engine=DuckDBEngine(lake), now=NOW)
    figure = occupancy_bars(frame, f"Hourly occupancy, {day} ({zone})")
    [axes] = figure.axes
    heights = [patch.get_height() for patch in axes.patches]
    assert len(heights) == bars
    assert heights == pytest.approx((frame["occupancy_rate"].fillna(0) * 100).tolist())
    assert axes.get_ylim() == (0, 100)
    assert png_size(save(figure, tmp_path / "bars.png")) == (1200, 420)


@pytest.mark.parametrize(
    "args",
    [
        ["plot", "patterns", "--from", "2024-03-18", "--to", "2024-03-24", "--tz", "Europe/Paris"],
        ["plot", "occupancy", "--date", "2024-03-20"],
    ],
)
def test_plot_commands_write_a_png(lake: Path, tmp_path: Path, args: list[str]) -> None:
    out = tmp_path / "picture.png"
    result = CliRunner().invoke(cli, [*args, "--data-dir", str(lake), "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == f"wrote {out}"
    assert png_size(out) == (1200, 420)


def test_plot_needs_an_output_file() -> None:
    result = CliRunner().invoke(cli, ["plot", "occupancy", "--date", "2024-03-20"])
    assert result.exit_code == 2 and "Missing option '--out'" in result.stderr


def test_the_cli_and_the_plots_agree_on_picture_formats() -> None:
    assert PICTURE_FORMATS == FORMATS


@pytest.mark.parametrize(("suffix", "magic"), [(".png", b"\x89PNG\r\n\x1a\n"), (".svg", b"<?xml"), (".pdf", b"%PDF-"),
                                               (".PDF", b"%PDF-")])
def test_plot_writes_the_format_its_suffix_names(lake: Path, tmp_path: Path, suffix: str, magic: bytes) -> None:
    out = tmp_path / f"day{suffix}"
    result = CliRunner().invoke(cli, ["plot", "occupancy", "--date", "2024-03-20", "--data-dir", str(lake), "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert out.read_bytes().startswith(magic)
    if suffix == ".svg":
        assert b"<svg" in out.read_bytes()[:1000]


def test_save_refuses_a_format_it_does_not_write(tmp_path: Path) -> None:
    frame = pd.DataFrame({"day_of_week": [1], "hour": [0], "occupancy_rate": [0.5]})
    with pytest.raises(InvalidArgument, match=r"\.png, \.svg, \.pdf"):
        save(patterns_heatmap(frame, "x"), tmp_path / "x.gif")
    assert not (tmp_path / "x.gif").exists()


@pytest.mark.parametrize(
    "args",
    [
        ["plot", "patterns", "--from", "2025-01-06", "--to", "2025-01-12"],
        ["plot", "occupancy", "--date", "2025-01-06"],
        ["plot", "occupancy", "--date", "2099-01-06"],
    ],
)
def test_plot_of_nothing_observed_says_so_and_draws_nothing(lake: Path, tmp_path: Path, args: list[str]) -> None:
    out = tmp_path / "picture.png"
    result = CliRunner().invoke(cli, [*args, "--data-dir", str(lake), "--out", str(out)])
    assert result.exit_code == 3
    assert result.stdout == ""
    [line] = result.stderr.splitlines()
    assert line.startswith("Nothing observed: ") and line.endswith("nothing written.")
    assert not out.exists()


def test_occupancy_line_spans_the_window_with_gaps_where_nothing_was_observed(lake: Path) -> None:
    days = [queries.occupancy(f"2024-03-{day}", tz="Europe/Paris", engine=DuckDBEngine(lake), now=NOW) for day in (30, 31)]
    frame = pd.concat(days, ignore_index=True)
    figure = occupancy_line(frame, "two days")
    [axes] = figure.axes
    [line] = axes.get_lines()
    assert len(line.get_ydata()) == 24 + 23, "the day the clocks change has 23 hours"
    assert line.get_ydata() == pytest.approx(frame["occupancy_rate"].to_numpy() * 100, nan_ok=True)
    assert axes.get_ylim() == (0, 100)


def test_a_failed_write_is_one_line_and_exit_1(lake: Path, tmp_path: Path) -> None:
    out = tmp_path / "day.png"
    out.symlink_to("/dev/full")  # every write to it fails: no space left on device
    result = CliRunner().invoke(cli, ["plot", "occupancy", "--date", "2024-03-20", "--data-dir", str(lake),
                                      "--out", str(out)])
    assert result.exit_code == 1, result.output
    [line] = result.stderr.splitlines()
    assert line.startswith("Error: ") and "No space left on device" in line
