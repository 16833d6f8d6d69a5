"""The ingest path: what the Lambda runs on each MSK batch, and the tools that feed it.

``events`` (one record's validation), ``batch`` (one MSK batch in, objects
out) and ``sinks`` ship in the ingest Lambda; they import orjson and isal,
never pandas, DuckDB, PyAthena, matplotlib or confluent-kafka. ``msk`` builds
MSK-shaped batches, and ``files`` (loading a JSON-lines file, plain or gzip),
``replay`` (quarantine back through the path) and ``failed`` (a batch the MSK
trigger gave up on) drive the same code from the command line.
"""
