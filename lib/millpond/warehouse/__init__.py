"""The warehouse: connecting through Ibis, the DuckDB lease, reading raw files, materializing."""
