"""``parking-cli serve``: the live page, the API and the feeds over the data directory or a bucket (issue 26).

Registered on the group by ``cli/main.py``. FastAPI and uvicorn load
inside the command, so the CLI starts as fast as before.
"""

from __future__ import annotations

import ipaddress
import re
from typing import Any

import click

from parking.cli.context import check_aws, check_lake, cli_context
from parking.cli.options import lookback_option, place_options

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
@click.option("--port", type=click.IntRange(0, 65535), default=8000, show_default=True,
              help="TCP port (0: any free one, said on start).")
@place_options("The lake and catalog in this S3 bucket instead, queried with Athena.")
@lookback_option
@click.pass_context
def serve(ctx: click.Context, host: str, port: int, data_dir: str | None, bucket: str | None,
          lookback_hours: float | None) -> None:
    """Serve the live page, the live API and the open feeds until Ctrl+C.

    GET / is the page (it updates itself each second); /api/v1/status,
    /api/v1/availability?by=zone|level|bay_type, /api/v1/overstays and
    /api/v1/alerts?threshold=0.9 the live answers; /feeds/parkapi.json and
    /feeds/datex2.xml the open feeds; /docs the API's documentation.
    """
    import uvicorn

    from parking.live.app import create_app
    from parking.live.feeds import FeedSettings

    source, where = live_source(ctx, data_dir, bucket, cli_context(ctx).lookback(lookback_hours))
    app = create_app(source, feed_settings=FeedSettings.from_env())
    config = uvicorn.Config(app, host=host, port=port, log_level="warning", access_log=False, lifespan="off",
                            http="httptools")
    if not is_loopback(host):
        click.echo(f"Warning: listening on {host}: anyone who can reach it sees the live answers, "
                   "with no sign-in (deploy with sls for an authorizer)", err=True)

    class Announcing(uvicorn.Server):
        async def startup(self, sockets: Any = None) -> None:
            await super().startup(sockets)  # a port it cannot bind: uvicorn says so in one line, exit 1
            bound = self.servers[0].sockets[0].getsockname()[1] if self.servers else port
            shown = f"[{host}]" if ":" in host else host
            click.echo(f"serving {where} on http://{shown}:{bound}/  (API docs /docs, feeds /feeds/; Ctrl+C stops)")

    try:
        Announcing(config).run()
    except KeyboardInterrupt:
        pass


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
