"""Storage maintenance of the lake the ingester writes: checks and repairs (compaction will live here too)."""
