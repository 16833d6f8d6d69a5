"""`make demo` (scripts/demo.py) cuts a long table to its first rows and counts the rest right."""

from __future__ import annotations

import pytest

from scripts.demo import trimmed

HEADER = "spot_id   status"
ROWS = [f"  A-{n:03d}     free" for n in range(1, 301)]
FOOTER = "300 spots: 200 free, 99 occupied, 1 stale (state unknown)"

# (the lines printed, rows shown, footer lines, what the demo shows)
CASES = [
    ([HEADER, *ROWS, FOOTER], 12, 1, [HEADER, *ROWS[:12], "... 288 more rows", FOOTER]),  # it said 289
    ([HEADER, *ROWS], 12, 0, [HEADER, *ROWS[:12], "... 288 more rows"]),
    ([HEADER, *ROWS[:13]], 12, 0, [HEADER, *ROWS[:12], "... 1 more row"]),
    ([HEADER, *ROWS[:12], FOOTER], 12, 1, [HEADER, *ROWS[:12], FOOTER]),  # all shown: nothing to count
    ([HEADER, *ROWS[:12]], 12, 0, [HEADER, *ROWS[:12]]),
    ([HEADER, *ROWS[:3]], 12, 0, [HEADER, *ROWS[:3]]),
    ([], 12, 1, []),  # nothing observed: no table (the line says so on stderr)
]


@pytest.mark.parametrize(("lines", "rows", "footer", "shown"), CASES,
                         ids=[f"{len(c[0])} lines, {c[1]} rows, footer {c[2]}" for c in CASES])
def test_a_table_is_cut_to_its_first_rows_and_the_rest_counted(lines: list[str], rows: int, footer: int,
                                                               shown: list[str]) -> None:
    assert trimmed(lines, rows, footer) == shown
