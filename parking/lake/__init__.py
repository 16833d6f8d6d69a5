"""The stored lake as a whole: its two tiers (hourly JSON, daily Parquet), checks, repairs and compaction."""
