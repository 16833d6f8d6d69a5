"""moto's server, plus one test-only addition (MSK event source mappings) and one speed-up (routing).

moto 5.2.5 rejects a Kafka ARN in ``CreateEventSourceMapping`` ("Invalid
EventSourceArn": it knows SQS, DynamoDB and Kinesis only), so the real
``sls deploy`` of our MSK trigger cannot complete against it. This script
lets ``arn:aws:kafka:`` mappings be created, read, updated and deleted like
any other (with every property the bounded trigger of infra/trigger.yml
sets: retries, batch splitting, provisioned pollers, the S3 on-failure
destination, which moto stores and returns as given). And moto's server
lists its own package directory (some 170 ``isdir`` calls) on every request
to find the service it is for; this script lists it once (a quarter of a
request's time: the S3 compaction tests make thousands). Nothing else is
changed. It patches moto internals, so it runs only on the moto version it
was written for.

Usage: ``python scripts/moto_msk_server.py [--host 127.0.0.1] [--port 0]``.
Prints ``listening on http://HOST:PORT`` when ready, then serves until
terminated. Used by the deploy rehearsal test and ``make deploy-local``.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path
from typing import Any

import moto
from moto import backends
from moto.awslambda import models
from moto.moto_server.werkzeug_app import DomainDispatcherApplication, MotoRequestHandler, create_backend_app
from werkzeug.serving import make_server

PATCHED_MOTO_VERSION = "5.2.5"
KAFKA_BATCH_SIZES = (100, 10000)  # Lambda's default and maximum for MSK


def accept_msk_mappings() -> None:
    """Teach moto's Lambda backend the MSK event source type."""
    if moto.__version__ != PATCHED_MOTO_VERSION:
        sys.exit(f"moto_msk_server patches moto {PATCHED_MOTO_VERSION}, found {moto.__version__}")
    mapping = models.EventSourceMapping
    arn_property, size_property = mapping.event_source_arn, mapping.batch_size

    def set_arn(self: Any, arn: str) -> None:
        if arn.startswith("arn:aws:kafka:"):
            self._event_source_arn = arn
        else:
            arn_property.fset(self, arn)

    def set_batch_size(self: Any, size: int | None) -> None:
        if self._get_service_source_from_arn() != "kafka":
            size_property.fset(self, size)
        elif size is not None and not 1 <= int(size) <= KAFKA_BATCH_SIZES[1]:
            raise ValueError("InvalidParameterValueException", f"BatchSize {size} is out of range")
        else:
            self._batch_size = KAFKA_BATCH_SIZES[0] if size is None else int(size)

    mapping.event_source_arn = property(arn_property.fget, set_arn)
    mapping.batch_size = property(size_property.fget, set_batch_size)

    create = models.LambdaBackend.create_event_source_mapping

    def create_mapping(self: Any, spec: dict[str, Any]) -> Any:
        if not str(spec.get("EventSourceArn", "")).startswith("arn:aws:kafka:"):
            return create(self, spec)
        function = self._lambdas.get_function_by_name_or_arn_with_qualifier(spec.get("FunctionName", ""))
        spec.update(RegionName=self.region_name, AccountId=self.account_id, FunctionArn=function.function_arn)
        esm = models.EventSourceMapping(spec)
        self._event_source_mappings[esm.uuid] = esm
        return esm

    models.LambdaBackend.create_event_source_mapping = create_mapping


def route_without_listing() -> None:
    """Let moto's request routing (``host in backends.list_of_moto_modules()``) read the listing made once."""
    modules = tuple(backends.list_of_moto_modules())
    backends.list_of_moto_modules = lambda: modules


def spawn(host: str = "127.0.0.1") -> tuple[subprocess.Popen[str], str]:
    """Start this server in a child process on a free port; return it and its URL.

    Reads the readiness line instead of polling, so the caller never sleeps.
    Stop it with ``process.terminate()`` (by its PID).
    """
    process = subprocess.Popen(
        [sys.executable, str(Path(__file__).resolve()), "--host", host, "--port", "0"],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
    )
    line = process.stdout.readline() if process.stdout else ""
    if not line.startswith("listening on "):
        process.kill()
        raise RuntimeError(f"moto server did not start: {line!r}")
    return process, line.removeprefix("listening on ").strip()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    args = parser.parse_args()
    accept_msk_mappings()
    route_without_listing()
    server = make_server(
        args.host, args.port, DomainDispatcherApplication(create_backend_app), threaded=True,
        request_handler=MotoRequestHandler,
    )
    print(f"listening on http://{args.host}:{server.server_port}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
