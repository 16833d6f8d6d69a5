"""Compaction: each closed UTC hour, then each closed day, of JSON objects becomes one Parquet file.

The lake has two tiers (README, "Two tiers: hourly JSON and daily Parquet"):

    parking-data/year=/month=/day=/hour=/<object>.json.gz          landed events, gzip JSON lines
    parking-compacted/year=/month=/day=/<day>T<HH>-<digest>.parquet a closed hour, zstd Parquet
    parking-compacted/year=/month=/day=/<day>-<digest>.parquet      a closed day: its hours folded
    parking-compacted-sources/year=/month=/day=/hour=/<object>      the JSON objects folded in

An hour file lies in its day's folder and has a day file's columns, so every
query and the Glue table read it as they read a day file. The same protocol
serves both grains: an hour folds its JSON objects and its own hour files, a
day its JSON objects, its hour files and its day files.

Every query reads both tiers (the ``events`` CTE of ``queries/*.sql`` is a
``UNION ALL`` of them). That is correct at every instant of a compaction,
including after a crash, because of one rule of docs/METRICS.md section 3:
exact duplicates change nothing (every query first collapses a spot's events
to one status per distinct instant). So the protocol only has to make sure no
event is ever invisible, and it does so by order:

1. read the day's JSON objects (as text, line by line; only those ``lake check``
   finds clean, :mod:`parking.lake.objects`) and its Parquet files;
2. write their union (deduplicated on the stored line and where it came from)
   as one Parquet file, whole or not at all, named by a digest of its sources;
3. delete the day's other Parquet files (each is contained in the new one);
4. move the JSON objects it holds to ``parking-compacted-sources/`` (copy, then
   delete), where no query reads them and the lifecycle keeps them.

On S3 the deletes of steps 3 and 4 wait: an Athena query lists its objects
and reads them afterwards, so an object removed meanwhile fails it. The copy
of step 4 is made at once; a later run (:func:`.removal.remove_folded`) removes a kept
object, and a file another file holds, once both are older than the removal
delay (longer than any query runs). Until then both are read, which changes
nothing (exact duplicates).

A crash between any two steps leaves a lake whose events are a superset of
the events without duplicates, so every answer is unchanged; the next run
finds the leftovers (JSON objects of a closed day, or several Parquet files
of one day) and finishes. Running it again changes nothing. An event that
lands late for a compacted day is a new JSON object, read by the queries at
once and folded into the day's next Parquet file by the next run.

Each Parquet row keeps the whole stored line (``line``), the object it came
from (``source``, the key below the data prefix) and its line number, so a
compacted day can be turned back into the objects it came from
(:func:`.repair.source_lines`).

The modules, one job each: :mod:`.schedule` (which days and hours are closed
and pending), :mod:`.protocol` (the steps above, :func:`.protocol.compact`),
:mod:`.rows` (stored lines to rows), :mod:`.removal` (steps 3 and 4 after the
removal delay), :mod:`.tier_check` (the compacted tiers as ``lake check``
sees them), :mod:`.repair` (rebuild and restore), :mod:`.dayfiles` (names,
folders and columns of the files) and :mod:`.sql` (the DuckDB workspace).
"""
