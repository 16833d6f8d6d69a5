"""What needs a visit at the window's end: stays to enforce (an officer's) and sensors to check (a technician's).

Kept apart as METRICS.md section 7 says: an overstay on a flagged sensor
may be the sensor's fault.
"""

from __future__ import annotations

import pandas as pd

from parking import queries
from parking.analytics.registry import FLAPPING_CHANGES, HEALTH_WINDOW, STUCK_HOURS
from parking.analytics.report.inputs import ReportInputs
from parking.analytics.report.page import Section, Table
from parking.analytics.report.tables import frame_section, time_cell
from parking.text import duration


def overstays_section(inputs: ReportInputs) -> Section:
    """The overstays at the window's end, in two tables kept apart (docs/METRICS.md section 7's
    ``sensor_flags``): to enforce (the sensor looks healthy) and to check the sensor; says so
    when nobody overstayed."""
    frame = inputs.overstays
    at = time_cell(pd.Timestamp(inputs.end), inputs.tz)
    if frame.empty:
        return Section(f"Overstays at {at}",
                       note="No car had stayed longer than its bay allows (bays with a maximum stay only).")
    enforce, check = queries.to_enforce(frame), queries.to_check(frame)
    tables = []
    for caption, rows in (("To enforce (the sensor looks healthy)", enforce.drop(columns="sensor_flags")),
                          ("To check the sensor (sensor health flags it)", check)):
        section = frame_section(caption, rows, inputs.tz)
        if section is not None:
            tables += [Table(f"{caption}: {table.caption}", table.columns, table.rows) for table in section.tables]
    return Section(f"Overstays at {at}",
                   facts=(("To enforce", f"{len(enforce):,}"), ("To check the sensor", f"{len(check):,}")),
                   tables=tables, note="A stay whose sensor health flags it (stuck, flapping, silent) may be the "
                                       "sensor's fault: a technician's visit before an officer's.")


def health_section(inputs: ReportInputs) -> Section | None:
    """The sensors with a flag at the window's end: the ones that need a visit."""
    frame = inputs.health
    if frame.empty:
        return None
    flagged = inputs.flagged.sort_values(["flags", "spot_id"])
    at = pd.Timestamp(inputs.health_at)
    rows = [
        [row.spot_id, row.flags, time_cell(row.last_event, inputs.tz), duration(row.silent_hours * 60),
         f"{row.changes_24h:,}", duration(row.state_hours * 60)]
        for row in flagged.itertuples()
    ]
    return Section(
        "Sensors to check",
        facts=((f"sensors seen in the {HEALTH_WINDOW.days} days before", f"{len(frame):,}"),
               ("with a flag", f"{len(flagged):,}")),
        tables=(Table(f"Flagged at {time_cell(at, inputs.tz)} ({inputs.tz})",
                      ("bay", "flags", "last event", "silent for", "changes in 24 h", "in this state for"), rows),)
        if rows else (),
        note=f"silent: no event for longer than the lookback; flapping: {FLAPPING_CHANGES} or more changes in 24 "
             f"hours; stuck: occupied without a break for more than {STUCK_HOURS:g} hours.",
    )
