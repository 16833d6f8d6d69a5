"""The live API under load (issue 26): bench/serve.py's run, shorter, as a check of `make test`:
/api/v1/availability of a 10,000-bay garage, 50 concurrent clients, p95 at most 100 ms, no error.

Three seconds of load are some 10,000 requests even on a busy machine (2,800 a second at a load
average of 10): enough for a p95; the garage takes longer to build than that."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_availability_at_10000_bays_holds_p95_under_100_ms_for_50_clients() -> None:
    result = subprocess.run([sys.executable, str(ROOT / "bench" / "serve.py"), "--bays", "10000", "--clients", "50",
                             "--seconds", "3"], capture_output=True, text=True, timeout=300, cwd=ROOT)
    lines = result.stdout.splitlines()
    assert result.returncode == 0, result.stdout + result.stderr[-2000:]
    assert lines[-2].endswith(", 0 errors") and lines[-1].startswith("p50 "), lines
    p95 = float(lines[-1].split("p95 ")[1].split(" ms")[0])
    assert p95 <= 100, lines[-1]
