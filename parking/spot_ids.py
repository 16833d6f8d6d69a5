"""What a spot id may be (docs/METRICS.md section 1): 1 to 128 characters, none of them a control character.

The ingester refuses an event whose ``spot_id`` breaks this rule, and the
spot catalog a row, so that every id the catalog holds can match an event;
the rule lives here once for both.
"""

from __future__ import annotations

import re

MAX_SPOT_ID_LENGTH = 128
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f]")  # Unicode's control characters (category Cc): C0, DEL and C1


def length_problem(spot_id: str) -> str | None:
    """Why ``spot_id``'s length is not allowed, in words both callers show; None when it is."""
    if 0 < len(spot_id) <= MAX_SPOT_ID_LENGTH:
        return None
    return f"spot_id must be 1-{MAX_SPOT_ID_LENGTH} characters, got {len(spot_id)}"


def has_control(text: str) -> bool:
    """Whether ``text`` holds a control character (a spot id may not; nor a catalog's zone or level)."""
    return _CONTROL.search(text) is not None
