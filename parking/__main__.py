"""``python -m parking``: the same as ``parking-cli`` (its entry point, so Ctrl-C while it loads is one line too)."""

from parking.cli.entry import main

main(prog_name="parking-cli")
