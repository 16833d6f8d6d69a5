"""What an Athena query costs: its progress and statistics, and Athena's billing rule.

Kept apart from the engines so the CLI's progress display and any report of
cost read one rule (bytes rounded up to the megabyte, 10 MB at least, $5 a
TB) without loading an engine.
"""

from __future__ import annotations

from dataclasses import dataclass

USD_PER_TB_SCANNED = 5.0
MEGABYTE = 2**20  # AWS bills in binary units: 1 TB = 2**20 MB
BILLED_MINIMUM_MB = 10


@dataclass(frozen=True, slots=True)
class QueryProgress:
    """One poll of a running Athena query."""

    query_id: str
    state: str
    elapsed_seconds: float


@dataclass(frozen=True, slots=True)
class QueryStats:
    """What an Athena query that reached an end (``state``) scanned and cost."""

    query_id: str
    data_scanned_bytes: int
    engine_milliseconds: int
    reused_result: bool
    state: str = "SUCCEEDED"  # or CANCELLED, FAILED

    @property
    def billed(self) -> bool:
        """Whether Athena bills the query: not for a reused result, nor for a failed query."""
        return not self.reused_result and self.state != "FAILED"

    @property
    def billed_megabytes(self) -> int:
        """What Athena bills: bytes scanned rounded up to the megabyte, at least 10 MB a query.

        A query answered from a reused result scans nothing and is not billed;
        a failed query is not billed; a cancelled one is, for what it scanned.
        """
        if not self.billed:
            return 0
        return max(BILLED_MINIMUM_MB, -(-self.data_scanned_bytes // MEGABYTE))

    @property
    def cost_usd(self) -> float:
        """What the user pays for the query, in US dollars, at $5 per TB billed."""
        return self.billed_megabytes / MEGABYTE * USD_PER_TB_SCANNED
