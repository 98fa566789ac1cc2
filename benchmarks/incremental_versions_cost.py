"""What keeping versions costs an incremental table: a merge of 1,000 rows into 2,000,000.

With ``retain`` >= 2 each incremental build first copies the table (its previous version,
see ``warehouse/versions.py``). Builds the table in a temporary DuckDB file, merges
``--builds`` batches of 1,000 rows with retain 1 and with ``--retain``, and prints the
median build time and the file size of each.

    .venv/bin/python benchmarks/incremental_versions_cost.py [--rows 2000000] [--builds 5]
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
import time
from pathlib import Path

from timing import median


def measure(retain: int, rows: int, builds: int) -> tuple[float, float]:
    """Median seconds per merge and the file size in MB afterwards."""
    import ibis

    from millpond.store.metadata import MetadataStore
    from millpond.warehouse.incremental import Incremental
    from millpond.warehouse.materialize import materialize
    from millpond.warehouse.versions import keeping_versions, record_version

    folder = Path(tempfile.mkdtemp(prefix="millpond-incversions-"))
    con = ibis.duckdb.connect(str(folder / "w.duckdb"))
    store = MetadataStore(folder / "meta.sqlite")

    def build(expr, kind, **options) -> None:
        with keeping_versions(con, store, "gold.events", kind, retain=retain) as kept:
            result = materialize(con, expr, "gold.events", kind, **options)
        record_version(con, store, result, kept, retain=retain)

    try:
        build(con.sql(f"SELECT range AS id, md5(range::VARCHAR) AS v, range % 97 AS n FROM range({rows})"), "table")
        merge = Incremental.of("merge", unique_key="id")
        seconds = []
        for day in range(builds):
            new = con.sql(
                f"SELECT range AS id, 'day{day}' AS v, 0::BIGINT AS n FROM range({day * 1000}, {day * 1000 + 1000})"
            )
            t0 = time.perf_counter()
            build(new, "incremental", incremental=merge)
            seconds.append(time.perf_counter() - t0)
        con.raw_sql("CHECKPOINT")
        return median(seconds), os.path.getsize(folder / "w.duckdb") / 1e6
    finally:
        con.disconnect()
        shutil.rmtree(folder, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=2_000_000)
    parser.add_argument("--builds", type=int, default=5)
    parser.add_argument("--retain", type=int, default=3)
    args = parser.parse_args()
    for retain in (1, args.retain):
        seconds, size = measure(retain, args.rows, args.builds)
        print(
            f"retain {retain}: merge of 1,000 rows into {args.rows:,}: median {seconds:.2f} s per build, "
            f"file {size:.0f} MB (not compacted)"
        )


if __name__ == "__main__":
    main()
