"""Backtest the forecast on real car-park occupancy: Münster's garages (issue 27).

Run by hand; CI cannot fetch the data. Commit no data.

**The data.** https://github.com/defgsus/parking-data (the GitHub user defgsus's export
of the same user's `parking-scraper`, which has read the free spaces that German cities
and operators publish on their parking-guidance websites since 2020-03-24; the
repository states no licence). One CSV a UTC day, `csv/YYYY/YYYY-MM/DATE.csv`:
a `timestamp` column (UTC), then one column per car park holding its number
of free spaces, empty when unchanged since the row before (each day's first
row states every car park); readings every 15 minutes, every 5 from 6:00 to
20:00 Europe/Berlin. `meta-data.csv` names each car park's city and
capacity (`num_all`). Fetch it with (some 625 MB checked out)::

    git clone --depth 1 https://github.com/defgsus/parking-data /tmp/parking-data

The default city, Münster (the city's own guidance system,
`stadt-muenster-parken`), has 16 car parks with a capacity for each and no
reading outside [0, capacity] in 2023.

**The conversion** (METRICS.md sections 1, 3 and 7). A car park of capacity
C is C bays, `<car park>-0001` ... `<car park>-C`, all in one zone named
after the car park (catalog: `spots.csv`); with O = C - free cars parked
(free clamped to [0, C], counted in the summary), bays 1..O are occupied and
the rest free. An event is written only where a bay's status changes: when O
rises from a to b, bays a+1..b become `occupied` at the reading's timestamp;
when it falls, bays b+1..a become `free`. The first reading states every bay.
So each zone's occupancy rate at any instant is exactly the car park's
occupied / capacity. Because a state is believed for the lookback only (24 h
by default), a bay whose last event is `--heartbeat-hours` (12) old or more
is stated again (its unchanged status) at the next row in which the source
reported: an empty cell in such a row means "unchanged", like a sensor's
heartbeat. A source silent for over a day makes its bays unknown, as it
should.

**The run.** In WORKDIR: `events.jsonl.gz` and `spots.csv`, then
`parking-cli ingest`, `spots load`, `compact` and
`forecast backtest --days DAYS --by zone --at END --format csv` on the lake
`WORKDIR/data`, where END is the midnight (UTC) after `--to`. The table is
printed and saved as `WORKDIR/backtest.csv`, with each step's time.

    python scripts/real_backtest.py /tmp/parking-data /tmp/real-backtest

Options: `--city` (meta-data's `city_name`, default Münster), `--from` and
`--to` (UTC dates, both included; default 2023-04-01 to 2023-06-30: 13
weeks with no change of daylight-saving time, which moves every car park's
day by an hour in UTC), `--days` (28), `--tz` (the clock the forecast's
weekly profile follows: Europe/Berlin, the car parks' own; UTC keys it on
UTC hours, as before issue 27's DST fix), `--cli` (the `parking-cli` to run;
default the one beside this Python).
"""

from __future__ import annotations

import argparse
import csv
import gzip
import json
import shutil
import subprocess
import sys
import time
from datetime import date, datetime, timedelta, timezone
from pathlib import Path


def _iso(ts: datetime) -> str:
    return ts.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def load_places(root: Path, city: str) -> dict[str, tuple[str, int]]:
    """place_id -> (zone name, capacity) for the city's car parks with a capacity."""
    places: dict[str, tuple[str, int]] = {}
    with open(root / "meta-data.csv", newline="", encoding="utf-8") as handle:
        for row in csv.DictReader(handle):
            if row["city_name"] != city or not row.get("num_all"):
                continue
            capacity = int(float(row["num_all"]))
            if capacity <= 0:
                continue
            zone = row["place_id"].removeprefix(row["source_id"] + "-") or row["place_id"]
            places[row["place_id"]] = (zone[:64], capacity)
    if not places:
        raise SystemExit(f"no car park of {city!r} with a capacity in {root / 'meta-data.csv'}")
    return places


def day_files(root: Path, first: date, last: date) -> list[Path]:
    files = []
    day = first
    while day <= last:
        path = root / "csv" / f"{day:%Y}" / f"{day:%Y-%m}" / f"{day:%Y-%m-%d}.csv"
        if path.exists():
            files.append(path)
        else:
            print(f"  missing day file {path}", file=sys.stderr)
        day += timedelta(days=1)
    return files


def convert(root: Path, work: Path, city: str, first: date, last: date, heartbeat_hours: float) -> dict:
    """Write WORKDIR/events.jsonl.gz and WORKDIR/spots.csv; return a summary."""
    places = load_places(root, city)
    heartbeat = timedelta(hours=heartbeat_hours)
    with open(work / "spots.csv", "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["spot_id", "zone", "bay_type"])
        for zone, capacity in places.values():
            for bay in range(1, capacity + 1):
                writer.writerow([f"{zone}-{bay:04d}", zone, "standard"])

    occupied: dict[str, int] = {}  # place -> cars parked now
    stated: dict[str, list[datetime]] = {p: [] for p in places}  # place -> last event time per bay
    oldest: dict[str, datetime] = {}  # place -> a lower bound of its bays' last event times
    summary = {"events": 0, "heartbeat_events": 0, "readings": 0, "rows": 0, "clamped": 0, "first": None, "last": None}
    with gzip.open(work / "events.jsonl.gz", "wt", encoding="utf-8", compresslevel=3) as out:

        def emit(zone: str, bay: int, status: str, ts: str) -> None:
            out.write(json.dumps({"spot_id": f"{zone}-{bay:04d}", "status": status, "timestamp": ts}) + "\n")

        for path in day_files(root, first, last):
            with open(path, newline="", encoding="utf-8") as handle:
                reader = csv.reader(handle)
                header = next(reader)
                columns = [(i, header[i]) for i in range(1, len(header)) if header[i] in places]
                for row in reader:
                    values = [(p, row[i]) for i, p in columns if i < len(row) and row[i] != ""]
                    if not values:
                        continue  # the city's source did not answer at this row
                    ts = datetime.fromisoformat(row[0]).astimezone(timezone.utc)
                    stamp = _iso(ts)
                    summary["rows"] += 1
                    summary["first"] = summary["first"] or stamp
                    summary["last"] = stamp
                    for place, text in values:
                        zone, capacity = places[place]
                        free = int(float(text))
                        if not 0 <= free <= capacity:
                            summary["clamped"] += 1
                            free = min(max(free, 0), capacity)
                        summary["readings"] += 1
                        now, before = capacity - free, occupied.get(place)
                        times = stated[place]
                        if before is None:  # first reading: state every bay
                            for bay in range(1, capacity + 1):
                                emit(zone, bay, "occupied" if bay <= now else "free", stamp)
                            stated[place] = [ts] * capacity
                            oldest[place] = ts
                            summary["events"] += capacity
                        elif now > before:
                            for bay in range(before + 1, now + 1):
                                emit(zone, bay, "occupied", stamp)
                                times[bay - 1] = ts
                            summary["events"] += now - before
                        elif now < before:
                            for bay in range(now + 1, before + 1):
                                emit(zone, bay, "free", stamp)
                                times[bay - 1] = ts
                            summary["events"] += before - now
                        occupied[place] = now
                    # heartbeat: the source answered, so a car park without a new
                    # value is unchanged; restate bays whose last event is old
                    for place, (zone, capacity) in places.items():
                        times = stated[place]
                        if not times or ts - oldest.get(place, ts) < heartbeat:
                            continue  # (bays' times only grow, so a stale minimum is safe)
                        cars = occupied[place]
                        for bay in range(1, capacity + 1):
                            if ts - times[bay - 1] >= heartbeat:
                                emit(zone, bay, "occupied" if bay <= cars else "free", stamp)
                                times[bay - 1] = ts
                                summary["heartbeat_events"] += 1
                        oldest[place] = min(times)
    summary["zones"] = len(places)
    summary["bays"] = sum(c for _, c in places.values())
    return summary


def run(cmd: list[str], log: list) -> str:
    start = time.monotonic()
    done = subprocess.run(cmd, capture_output=True, text=True)
    seconds = time.monotonic() - start
    log.append((" ".join(w for w in cmd[1:] if w.isalpha()), seconds))
    print(f"$ {' '.join(cmd)}  ({seconds:.1f} s)", file=sys.stderr)
    if done.returncode != 0:
        sys.stderr.write(done.stdout + done.stderr)
        raise SystemExit(f"failed ({done.returncode}): {' '.join(cmd)}")
    return done.stdout


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("input", type=Path, help="a checkout of github.com/defgsus/parking-data")
    parser.add_argument("workdir", type=Path, help="where to write the events, catalog and lake (data/)")
    parser.add_argument("--city", default="Münster")
    parser.add_argument("--from", dest="first", type=date.fromisoformat, default=date(2023, 4, 1))
    parser.add_argument("--to", dest="last", type=date.fromisoformat, default=date(2023, 6, 30))
    parser.add_argument("--days", type=int, default=28, help="days of origins for the backtest")
    parser.add_argument("--heartbeat-hours", type=float, default=12.0)
    parser.add_argument("--tz", default="Europe/Berlin",
                        help="the clock the forecast's weekly profile follows (the car parks': Germany's)")
    parser.add_argument("--cli", default=str(Path(sys.executable).with_name("parking-cli")))
    args = parser.parse_args()
    if not Path(args.cli).exists():
        args.cli = shutil.which("parking-cli") or args.cli

    work = args.workdir
    data = work / "data"
    if data.exists():
        shutil.rmtree(data)
    work.mkdir(parents=True, exist_ok=True)
    log: list[tuple[str, float]] = []

    start = time.monotonic()
    summary = convert(args.input, work, args.city, args.first, args.last, args.heartbeat_hours)
    log.append(("convert", time.monotonic() - start))
    print(json.dumps(summary), file=sys.stderr)

    end = datetime.combine(args.last + timedelta(days=1), datetime.min.time()).strftime("%Y-%m-%dT%H:%M:%SZ")
    cli, where = args.cli, ["--data-dir", str(data)]
    run([cli, "ingest", str(work / "events.jsonl.gz"), *where], log)
    run([cli, "spots", "load", str(work / "spots.csv"), *where], log)
    run([cli, "compact", *where], log)
    table = run(
        [cli, "--format", "csv", "forecast", "backtest", "--days", str(args.days), "--by", "zone", "--at", end,
         "--tz", args.tz, *where],
        log,
    )
    (work / "backtest.csv").write_text(table, encoding="utf-8")
    print(table, end="")
    for step, seconds in log:
        print(f"  {step:<28} {seconds:7.1f} s", file=sys.stderr)


if __name__ == "__main__":
    main()
