"""The repository's own docs: the spec copy kept in step, and every citation pointing at something real."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SPEC = ROOT.parent / "shared" / "METRICS.md"  # the team's spec, beside the repository when it is there
CITING = sorted([*ROOT.glob("parking/**/*.py"), *ROOT.glob("cli/*.py"), ROOT / "handler.py", *ROOT.glob("tests/test_[!d]*.py"),
                 *ROOT.glob("bench/*.py"), ROOT / "README.md"])


@pytest.mark.skipif(not SPEC.exists(), reason="../shared/METRICS.md is not beside this checkout")
def test_docs_metrics_is_the_spec() -> None:
    assert (ROOT / "docs" / "METRICS.md").read_text() == SPEC.read_text(), "copy ../shared/METRICS.md to docs/"


def headings(name: str) -> list[str]:
    return [line.lstrip("#").strip() for line in (ROOT / "docs" / name).read_text().splitlines()
            if line.startswith("## ")]


@pytest.mark.parametrize("path", CITING, ids=lambda path: str(path.relative_to(ROOT)))
def test_cited_sections_exist(path: Path) -> None:
    text = " ".join(path.read_text().split())  # a citation may wrap
    metrics = {heading.split(".")[0] for heading in headings("METRICS.md")}
    for cited in re.findall(r"docs/METRICS\.md sections? (\d+(?:(?:-|, | and )\d+)*)", text):  # "4, 6 and 7", "3-6"
        for number in re.findall(r"\d+", cited):
            assert number in metrics, f"docs/METRICS.md has no section {number}"
    choices = headings("CHOICES.md")
    for section in re.findall(r'docs/CHOICES\.md, "([^"]+)"', text):
        assert any(heading.startswith(section) for heading in choices), f'docs/CHOICES.md has no "{section}"'
    assert "README section" not in text or "README" in path.name, "cite docs/CHOICES.md, not a README section"
