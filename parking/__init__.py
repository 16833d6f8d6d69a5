"""Smart parking data platform: ingest parking events, answer operators' questions.

Kept import-light on purpose: the Lambda imports ``parking.ingest`` and must
not pay for pandas or DuckDB. The query API lives in :mod:`parking.queries`.
"""

__version__ = "0.1.0"
