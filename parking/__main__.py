"""``python -m parking``: the same as ``parking-cli``."""

from parking.cli.main import cli

cli(prog_name="parking-cli")
