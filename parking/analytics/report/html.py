"""The report as one self-contained HTML page: the Jinja2 template ``report.html.j2``, autoescaped.

The template is package data of :mod:`parking.analytics` (beside the
``report`` package), where the wheel ships it.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from jinja2 import Environment, StrictUndefined

from parking.analytics.report.page import ReportContent

TEMPLATE = "report.html.j2"  # package data of parking.analytics, beside this package


def render_html(content: ReportContent) -> str:
    """The page as HTML text (Jinja2, autoescaped)."""
    environment = Environment(autoescape=True, undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True)
    template = resources.files("parking.analytics").joinpath(TEMPLATE).read_text(encoding="utf-8")
    return environment.from_string(template).render(report=content)


def write_report(content: ReportContent, out: Path | str) -> Path:
    """Write the page to ``out`` (UTF-8); ``OSError`` when it cannot be written."""
    path = Path(out)
    path.write_text(render_html(content), encoding="utf-8")
    return path
