"""Every command's help ends with an example; Athena-only options come last.

:func:`finish_help` is applied to the whole command tree when the CLI starts,
so a command registered anywhere (its own module, a one-line
``cli.add_command``) is covered: its example is its entry in
:data:`EXAMPLES`, keyed by its path of names, and a test checks that every
command has one.
"""

from __future__ import annotations

from collections.abc import Iterator

import click

# Options that only Athena reads: listed after every other option of a command.
ATHENA_ONLY = ("reuse_minutes",)

EXAMPLES: dict[str, str] = {
    "": "parking-cli --format csv status > status.csv",
    "status": "parking-cli status --tz Europe/Paris",
    "occupancy": "parking-cli occupancy --date yesterday --tz Europe/Paris --by zone",
    "utilization": "parking-cli utilization --from -7d --to yesterday --by level",
    "patterns": "parking-cli patterns --from -28d --to yesterday --tz Europe/Paris",
    "turnover": "parking-cli turnover --from -7d --to yesterday --zone 'Level 0 North'",
    "dwell": "parking-cli dwell --from -7d --to yesterday --by zone --format ndjson | jq .",
    "health": "parking-cli health --flagged --tz Europe/Paris",
    "ingest": "parking-cli ingest events.jsonl.gz --data-dir ./data",
    "replay": "parking-cli replay --data-dir ./data",
    "simulate": "parking-cli simulate --spots 300 --days 7 --seed 1 --catalog spots.csv --out events.jsonl",
    "consume": "parking-cli consume --bootstrap-servers localhost:9092 --until-idle 10",
    "plot": "parking-cli plot occupancy --date yesterday --out occupancy.png",
    "plot patterns": "parking-cli plot patterns --from -28d --to yesterday --out patterns.svg",
    "plot occupancy": "parking-cli plot occupancy --date yesterday --tz Europe/Paris --out occupancy.png",
    "plot availability": "parking-cli plot availability --by level --out availability.png",
    "spots": "parking-cli spots load spots.csv",
    "spots load": "parking-cli spots load spots.csv --data-dir ./data",
    "spots show": "parking-cli spots show --format csv > spots.csv",
    "availability": "parking-cli availability --by level",
    "overstays": "parking-cli overstays --at 2026-11-29T18:00",
    "alerts": ("parking-cli alerts --threshold 0.9; [ $? -eq 3 ] && echo 'a zone is full'   "
               "# 0 none, 3 some, 1 or 2 failed"),
    "report": "parking-cli report --from -28d --to yesterday --tz Europe/Paris --out report.html",
    "lake": "parking-cli lake check --repair",
    "lake check": "parking-cli lake check --bucket my-parking-lake",
    "lake replay-failed": "parking-cli lake replay-failed s3://my-failures/batch-0001.json --bucket my-parking-lake",
    "compact": "parking-cli compact --data-dir ./data",
    "forecast": "parking-cli forecast --by zone --hours 6 --tz Europe/Paris",
    "forecast backtest": "parking-cli forecast backtest --days 28 --by level",
    "serve": "parking-cli serve --port 8000 --data-dir ./data   # then open http://127.0.0.1:8000/",
}


def commands(group: click.Command, path: tuple[str, ...] = ()) -> Iterator[tuple[str, click.Command]]:
    """Every command of the tree under ``group`` (itself first), with its path of names."""
    yield " ".join(path), group
    if isinstance(group, click.Group):
        for name, command in group.commands.items():
            yield from commands(command, (*path, name))


def finish_help(group: click.Group) -> None:
    """Give every command its example (as the help's last lines) and put Athena-only options last."""
    for path, command in commands(group):
        example = EXAMPLES.get(path)
        if example and not command.epilog:
            command.epilog = f"\b\nExample:\n  {example}"
        athena = [param for param in command.params if param.name in ATHENA_ONLY]
        if athena:
            command.params = [param for param in command.params if param.name not in ATHENA_ONLY] + athena
