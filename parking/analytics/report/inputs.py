"""What a report asks of the engine: each query over the report's window, asked once and kept.

Every section reads its answers from one :class:`ReportInputs`, so two
sections over the same answer cost one query.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from functools import cached_property
from typing import TYPE_CHECKING, Any

import pandas as pd

from parking import queries
from parking.analytics.windows import zone

if TYPE_CHECKING:
    from parking.analytics.engines import Engine


FORECAST_HOURS = 6  # the report's forecast: the hours after the window's end


@dataclass
class ReportInputs:
    """The window and engine of one report, and the answers asked so far (each asked once)."""

    first: date
    last: date
    tz: str
    lookback_hours: float | None  # None: the deployment's (PARKING_LOOKBACK_HOURS)
    engine: Engine | None
    now: datetime

    @property
    def window_text(self) -> str:
        return f"{self.first} to {self.last} ({self.tz})"

    def options(self) -> dict[str, Any]:
        """The keyword arguments every ``parking.queries`` function takes: lookback, engine, now."""
        return {"lookback_hours": self.lookback_hours, "engine": self.engine, "now": self.now}

    on_step: Callable[[str], None] | None = None
    _days: dict[date, pd.DataFrame] = field(default_factory=dict)
    _grouped: dict[str, pd.DataFrame] = field(default_factory=dict)

    def step(self, what: str) -> None:
        """Tell the caller what the report asks next (for progress)."""
        if self.on_step is not None:
            self.on_step(what)

    def day(self, day: date) -> pd.DataFrame:
        """``queries.occupancy`` of one local day, asked once."""
        if day not in self._days:
            self.step(f"occupancy of {day}")
            self._days[day] = queries.occupancy(day, tz=self.tz, **self.options())
        return self._days[day]

    def hourly_of(self, first: date, last: date) -> pd.DataFrame:
        """Hourly occupancy of the local days ``first`` to ``last``, in time order."""
        days = [first + timedelta(days=n) for n in range((last - first).days + 1)]
        return pd.concat([self.day(day) for day in days], ignore_index=True)

    @cached_property
    def hourly(self) -> pd.DataFrame:
        """``queries.occupancy`` of every day of the window, one after the other."""
        return self.hourly_of(self.first, self.last)

    def grouped(self, name: str, by: str) -> pd.DataFrame:
        """A window query (utilization, turnover, dwell) by ``by``, over the report's local days, asked once."""
        key = f"{name}:{by}"
        if key not in self._grouped:
            self.step(f"{name} by {by.replace('_', ' ')}")
            query = getattr(queries, name)
            self._grouped[key] = query(self.first, self.last, by=by, tz=self.tz, **self.options())
        return self._grouped[key]

    def available(self, by: str) -> pd.DataFrame:
        """Availability by ``by`` at the window's end, asked once."""
        key = f"availability:{by}"
        if key not in self._grouped:
            self.step(f"availability by {by.replace('_', ' ')}")
            self._grouped[key] = queries.availability(self.end, by=by, **self.options())
        return self._grouped[key]

    @cached_property
    def observed(self) -> pd.DataFrame:
        """The hours of :attr:`hourly` in which some spot's state was known."""
        return self.hourly.dropna(subset=["occupancy_rate"])

    @property
    def peak(self) -> pd.Series:
        """The busiest observed hour (the first of equals)."""
        return self.observed.loc[self.observed["occupancy_rate"].idxmax()]

    @cached_property
    def last_day(self) -> pd.DataFrame:
        hourly = self.hourly
        return hourly[hourly["hour"].dt.date == self.last].reset_index(drop=True)

    def _over_window(self, name: str, what: str) -> pd.DataFrame:
        """The window query ``name`` over the report's local days (not UTC days: the page follows ``tz``)."""
        self.step(what)
        return getattr(queries, name)(self.first, self.last, tz=self.tz, **self.options())

    @cached_property
    def patterns(self) -> pd.DataFrame:
        return self._over_window("patterns", "weekday by hour")

    @cached_property
    def utilization(self) -> pd.DataFrame:
        """Per bay."""
        return self._over_window("utilization", "utilization of each bay")

    @cached_property
    def turnover(self) -> pd.DataFrame:
        return self._over_window("turnover", "turnover")

    @cached_property
    def dwell(self) -> pd.DataFrame:
        return self._over_window("dwell", "dwell")

    @property
    def end(self) -> datetime:
        """The instant the questions asked about one instant are asked at: :attr:`health_at`."""
        return self.health_at

    @cached_property
    def health_at(self) -> datetime:
        """The end of the window, or now when the window has not ended."""
        end = datetime.combine(self.last + timedelta(days=1), datetime.min.time(), tzinfo=zone(self.tz))
        return min(end.astimezone(timezone.utc) - timedelta(milliseconds=1), self.now)

    @cached_property
    def forecast(self) -> pd.DataFrame:
        """The next :data:`FORECAST_HOURS` hours per zone from the window's end (METRICS.md section 8)."""
        self.step("forecast of the next hours")
        return queries.forecast(self.end, by="zone", hours=FORECAST_HOURS, tz=self.tz, **self.options())

    @cached_property
    def health(self) -> pd.DataFrame:
        self.step("sensor health")
        return queries.health(self.health_at, **self.options())

    @cached_property
    def overstays(self) -> pd.DataFrame:
        self.step("overstays")
        return queries.overstays(self.end, **self.options())

    @cached_property
    def flagged(self) -> pd.DataFrame:
        """The sensors with a health flag at the window's end: the ones to check."""
        health = self.health
        return health[health["flags"] != ""]
