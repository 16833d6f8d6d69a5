"""The current-state table: per spot what the live answers need (METRICS.md section 8).

- :mod:`parking.state.spot`: a spot's recent instants and the answers they give at an instant (pure);
- :mod:`parking.state.stores`: where the table lives (DynamoDB; SQLite under a local data directory);
- :mod:`parking.state.update`: the ingest path's write into it, once a batch is stored;
- :mod:`parking.state.answers`: the live rows from the table (standard library: the zones Lambda);
- :mod:`parking.state.live`: :func:`parking.state.live.live_answer`, the DataFrames the live surfaces show;
- :mod:`parking.state.rebuild`: filling the table in from the events.

Nothing here is imported by ``import parking.state``: each module imports what it needs.
"""
