"""``parking-cli serve``: the live page, the API and the feeds over the data directory or a bucket (issue 26).

Registered on the group by ``cli/main.py``. FastAPI and uvicorn load
inside the command, so the CLI starts as fast as before.
"""

from __future__ import annotations

import errno
import ipaddress
import re
import signal
import socket
from typing import Any

import click

from parking.cli.context import check_aws, check_lake, cli_context
from parking.cli.options import Integer, lookback_option, place_options

_HOSTNAME = re.compile(r"(?=.{1,253}$)([A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*")


class Host(click.ParamType):
    """An IP address or a host name to listen on."""

    name = "host"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> str:
        text = str(value).strip()
        try:
            return str(ipaddress.ip_address(text))
        except ValueError:
            if _HOSTNAME.fullmatch(text):
                return text
        self.fail(f"{text[:80]!r} is not an IP address or a host name", param, ctx)


def is_loopback(host: str) -> bool:
    """Whether only this machine can reach ``host``."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@click.command()
@click.option("--host", type=Host(), default="127.0.0.1", show_default=True,
              help="Address to listen on; the default lets only this machine in.")
@click.option("--port", type=Integer(0, 65535), default=8000, show_default=True,
              help="TCP port (0: any free one, said on start).")
@place_options("The lake and catalog in this S3 bucket instead, queried with Athena.")
@lookback_option
@click.pass_context
def serve(ctx: click.Context, host: str, port: int, data_dir: str | None, bucket: str | None,
          lookback_hours: float | None) -> None:
    """Serve the live page, the live API and the open feeds until Ctrl+C or SIGTERM.

    GET / is the page (it updates itself each second); /api/v1/status,
    /api/v1/availability?by=zone|level|bay_type, /api/v1/overstays,
    /api/v1/alerts?threshold=0.9 and /api/v1/forecast?hours=6 the live answers
    (/api/v1/page what the page draws); /feeds/parkapi.json and
    /feeds/datex2.xml the open feeds; /docs the API's documentation.
    """
    import uvicorn

    from parking.live.app import create_app
    from parking.live.feeds import FeedSettings
    from parking.live.server import LiveServer

    source, where = live_source(ctx, data_dir, bucket, cli_context(ctx).lookback(lookback_hours))
    listening = listen(host, port)  # a host that is not here: exit 2; a port taken: exit 1; before any warning
    app = create_app(source, feed_settings=FeedSettings.from_env())
    config = uvicorn.Config(app, log_level="warning", access_log=False, lifespan="off", http="httptools")
    if not is_loopback(host):
        click.echo(f"Warning: listening on {host}: anyone who can reach it sees the live answers, "
                   "with no sign-in (deploy with sls for an authorizer)", err=True)
    shown = f"[{host}]" if ":" in host else host
    said = (f"serving {where} on http://{shown}:{listening.getsockname()[1]}/  (API docs /docs, feeds "
            "/feeds/parkapi.json and /feeds/datex2.xml; Ctrl+C stops)")
    server = LiveServer(config, on_started=lambda: click.echo(said))
    server.run(sockets=[listening])
    stopped: dict[int, str] = {signal.SIGINT: "Ctrl-C (SIGINT)", signal.SIGTERM: "SIGTERM"}
    click.echo(f"stopped cleanly on {stopped.get(server.stopped_by or 0, 'request')}", err=True)


def listen(host: str, port: int) -> socket.socket:
    """A socket bound to ``host``:``port``, as uvicorn would bind it; one line and the right exit status if not."""
    try:
        [(family, kind, protocol, _, address), *_] = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM,
                                                                         flags=socket.AI_PASSIVE)
    except socket.gaierror as error:
        raise click.BadParameter(f"{host!r} is not an address of this machine ({error.strerror})",
                                 param_hint="'--host'") from None
    listening = socket.socket(family, kind, protocol)
    listening.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        listening.bind(address)
    except OSError as error:
        listening.close()
        if error.errno == errno.EADDRNOTAVAIL:
            raise click.BadParameter(f"{host!r} is not an address of this machine", param_hint="'--host'") from None
        raise click.ClickException(f"cannot listen on {host} port {port}: {error.strerror}"
                                   + (" (another program uses it: choose another --port)"
                                      if error.errno == errno.EADDRINUSE else "")) from None
    return listening


def live_source(ctx: click.Context, data_dir: str | None, bucket: str | None, hours: float) -> tuple[Any, str]:
    """The live answers' source: the local lake, or the bucket through Athena; and where that is."""
    from parking.analytics.catalog import CatalogStore
    from parking.analytics.engines import engine_from_settings
    from parking.live.answers import LiveSource

    run = cli_context(ctx)
    if bucket:
        from parking.ingest.sinks import s3_client

        settings = run.settings("athena", data_dir)
        check_aws(settings)
        store = CatalogStore(bucket=bucket, client=s3_client(settings.region, settings.profile))
        source = LiveSource(engine_from_settings(settings), store, hours, settings=settings)
        return source, f"s3://{bucket}"
    settings = run.settings("local", data_dir)
    check_lake(settings)
    source = LiveSource(engine_from_settings(settings), CatalogStore(settings.data_dir), hours,
                        data_dir=settings.data_dir, data_prefix=settings.data_prefix, settings=settings)
    return source, f"{settings.data_dir}/"
