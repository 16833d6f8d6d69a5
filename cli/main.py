"""parking-cli: a thin click layer over :mod:`parking`; this module is the group and its list of commands.

Each command parses its arguments, calls one library function and renders
the DataFrame it returns; they live in modules by topic (cli/queries.py,
ingest.py, zones.py, pictures.py, forecast.py, lake.py, compact.py,
serve.py), none of which imports this one. The options given before a
command's name are kept in one :class:`~parking.cli.context.CliContext`
(cli/context.py) that every command reads. Errors and exit codes:
cli/errors.py.
"""

from __future__ import annotations

import click

from parking.cli import ingest, pictures, queries, zones
from parking.cli.compact import compact
from parking.cli.context import CliContext
from parking.cli.errors import DEBUG_VARIABLE, OneLineErrors, remember_debug
from parking.cli.forecast import forecast
from parking.cli.lake import lake
from parking.cli.options import lookback_option, output_options, reuse_option
from parking.cli.serve import serve


@click.group(cls=OneLineErrors, context_settings={"help_option_names": ["-h", "--help"]})
@output_options
@lookback_option
@reuse_option
@click.option("--debug", is_flag=True, expose_value=False, callback=remember_debug,
              help=f"Print the traceback behind an error, for a bug report [env {DEBUG_VARIABLE}=1].")
@click.version_option(package_name="parking-platform")
@click.pass_context
def cli(ctx: click.Context, engine: str | None, data_dir: str | None, output_format: str | None,
        lookback_hours: float | None) -> None:
    """Smart parking data: ingest sensor events and answer operators' questions.

    Queries run on an embedded DuckDB over ./data by default, or on Athena
    with --engine athena. Settings fall back to PARKING_* environment
    variables (see README).
    """
    ctx.obj = CliContext(engine, data_dir, output_format, lookback_hours)


for command in (
    *queries.COMMANDS,  # sections 4-6: status, occupancy, utilization, patterns, turnover, dwell, health
    *ingest.COMMANDS,  # ingest, replay, simulate, consume
    *pictures.COMMANDS,  # plot (patterns, occupancy, availability), report
    zones.spots, zones.availability, zones.overstays, zones.alerts,  # section 7
    lake, forecast, compact, serve,
):
    cli.add_command(command)

if __name__ == "__main__":  # pragma: no cover
    cli()
