"""Load on the live API: ``/api/v1/availability`` of a 10,000-bay garage, 50 concurrent clients, 30 s.

Builds two days of a simulated garage up to now in a temporary lake, starts
``parking-cli serve`` on it (a subprocess on 127.0.0.1, a free port, as an
operator runs it), then runs CLIENTS clients at once, each with one keep-alive
connection (asyncio, so the clients cost the machine little), asking again
and again for SECONDS. Prints p50, p95,
requests per second and errors; exits 1 when p95 is above 100 ms or any
request failed. Bounded (at most 200 clients, 300 s, 100,000 bays) and loopback
only: it never reaches another machine.

Run: ``.venv/bin/python bench/serve.py [--bays N] [--clients N] [--seconds S]``.
"""

from __future__ import annotations

import argparse
import asyncio
import http.client
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from tests.live_support import make_garage  # noqa: E402

TARGET_P95_MS = 100.0
PATH = "/api/v1/availability"
CLI = str(Path(sys.executable).with_name("parking-cli"))


async def client(port: int, until: float, latencies: list[float], errors: list[str]) -> None:
    """Ask for PATH on one keep-alive HTTP/1.1 connection until ``until`` (monotonic seconds)."""
    request = f"GET {PATH} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n\r\n".encode()
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        while time.monotonic() < until:
            start = time.perf_counter()
            try:
                writer.write(request)
                head = await reader.readuntil(b"\r\n\r\n")
                status = int(head.split(b" ", 2)[1])
                length = next(int(line.split(b":", 1)[1]) for line in head.split(b"\r\n")
                              if line.lower().startswith(b"content-length:"))
                body = await reader.readexactly(length)
            except (OSError, ValueError, StopIteration, asyncio.IncompleteReadError) as exc:
                errors.append(repr(exc))
                writer.close()
                reader, writer = await asyncio.open_connection("127.0.0.1", port)
                continue
            if status != 200 or not body.startswith(b'{"at": '):
                errors.append(f"{status}: {body[:80]!r}")
                continue
            latencies.append(time.perf_counter() - start)
    finally:
        writer.close()


async def load(port: int, clients: int, seconds: float) -> tuple[list[float], list[str], float]:
    """CLIENTS clients at once for SECONDS: the latencies, the errors and the time taken."""
    latencies: list[float] = []
    errors: list[str] = []
    began = time.monotonic()
    await asyncio.gather(*(client(port, began + seconds, latencies, errors) for _ in range(clients)))
    return latencies, errors, time.monotonic() - began


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bays", type=int, default=10_000, choices=range(1, 100_001), metavar="1-100000")
    parser.add_argument("--clients", type=int, default=50, choices=range(1, 201), metavar="1-200")
    parser.add_argument("--seconds", type=float, default=30.0)
    options = parser.parse_args()
    if not 1 <= options.seconds <= 300:
        parser.error("--seconds must be from 1 to 300")
    with tempfile.TemporaryDirectory(prefix="bench-serve-") as temp:
        lake = Path(temp) / "lake"
        started = time.monotonic()
        make_garage(lake, options.bays, days=2)
        print(f"garage: {options.bays:,} bays, two days to now ({time.monotonic() - started:.1f} s to build)")
        server = subprocess.Popen([CLI, "serve", "--data-dir", str(lake), "--port", "0"], stdout=subprocess.PIPE,
                                  text=True, env={**os.environ, "PYTHONUNBUFFERED": "1"})
        try:
            line = server.stdout.readline()
            if " on http://127.0.0.1:" not in line:
                print(f"the server did not start: {line!r}", file=sys.stderr)
                return 1
            port = int(line.split(" on http://127.0.0.1:")[1].split("/")[0])
            warm = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
            warm.request("GET", PATH)
            warm.getresponse().read()  # the first answer is computed before the clock starts
            latencies, errors, elapsed = asyncio.run(load(port, options.clients, options.seconds))
        finally:
            server.terminate()
            server.wait(30)
    if not latencies:
        print(f"no request succeeded; errors: {errors[:3]}", file=sys.stderr)
        return 1
    cuts = statistics.quantiles(latencies, n=100, method="inclusive")
    p50, p95 = cuts[49] * 1000, cuts[94] * 1000
    print(f"{PATH}: {options.clients} clients for {options.seconds:g} s: {len(latencies):,} requests, "
          f"{len(errors):,} errors")
    print(f"p50 {p50:.1f} ms  p95 {p95:.1f} ms  {len(latencies) / elapsed:,.0f} requests/s  "
          f"(target p95 <= {TARGET_P95_MS:g} ms, no error)")
    return 0 if p95 <= TARGET_P95_MS and not errors else 1


if __name__ == "__main__":
    sys.exit(main())
