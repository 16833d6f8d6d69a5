"""The query side: windows, engines (DuckDB and Athena) and plots.

``windows`` is light (the CLI parses arguments with it at start-up); the
engines import pandas, DuckDB and PyAthena, and plots matplotlib, only when
used. The public query API is :mod:`parking.queries`.
"""
