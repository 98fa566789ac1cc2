"""The ``files`` source against DuckDB's own readers of the same files (the floor).

Writes ``--files`` CSV (or Parquet) files of ``--rows`` rows each under a temporary
workspace that declares one ``files`` source, then times in this process, alternating
(A B A B ...), each on a fresh warehouse file:

A. ``ctx.load("orders")`` from scratch: hash every file, read them (CSV as text), stage,
   commit rows and state in one transaction, record the build and its version;
B. the floor: DuckDB's ``CREATE TABLE ... AS SELECT * FROM read_csv([...], all_varchar=true,
   filename=true)`` (or ``read_parquet``) into a fresh DuckDB file.

Then, on a loaded warehouse, one new file: C. ``ctx.load`` (reads only the new file)
against D. DuckDB inserting that one file; and E. ``ctx.load`` when nothing changed.
All of it twice: with the table's versions kept (the default ``retain: 3``, so an incremental
load first copies the live table for time travel) and with ``retain: 1`` (no copy).

    .venv/bin/python benchmarks/file_source.py [--files 20] [--rows 50000] [--format csv] [--repeat 3]
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import statistics
import tempfile
import time
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import yaml

os.environ["MILLPOND_ENV"] = "prod"  # the loads below build production tables, as a run would

import millpond as mp  # noqa: E402


def _write_files(folder: Path, files: int, rows: int, fmt: str, first: int = 0) -> list[Path]:
    rng = random.Random(first)
    paths = []
    for n in range(first, first + files):
        table = pa.table(
            {
                "order_id": list(range(n * rows, (n + 1) * rows)),
                "customer_id": [rng.randrange(100_000) for _ in range(rows)],
                "order_ts": [f"2024-01-{1 + i % 28:02d} 12:{i % 60:02d}:00" for i in range(rows)],
                "status": [rng.choice(("placed", "shipped", "delivered")) for _ in range(rows)],
                "amount": [f"{rng.randrange(100, 99999) / 100:.2f}" for _ in range(rows)],
            }
        )
        path = folder / f"orders_{n:04d}.{fmt}"
        pacsv.write_csv(table, path) if fmt == "csv" else pq.write_table(table, path)
        paths.append(path)
    return paths


def _workspace(root: Path, fmt: str, retain: int) -> None:
    (root / "pipelines").mkdir(parents=True, exist_ok=True)
    (root / "millpond.yml").write_text("name: bench\n")
    stage = {"name": "ingest", "notebook": "ingest.ipynb", "produces": ["bronze.orders"]}
    stage["tables"] = {"bronze.orders": {"retain": retain}}
    spec = {
        "sources": {"orders": {"kind": "files", "target": "bronze.orders", "options": {"path": f"data/in/*.{fmt}"}}},
        "stages": [stage],
    }
    (root / "pipelines/bench.yml").write_text(yaml.safe_dump(spec))


def _fresh(root: Path) -> None:
    for name in ("warehouse.duckdb", "warehouse.duckdb.wal", "warehouse.duckdb.lease", ".millpond"):
        target = root / "data" / name
        shutil.rmtree(target, ignore_errors=True) if target.is_dir() else target.unlink(missing_ok=True)


def _load(root: Path) -> float:
    t0 = time.perf_counter()
    ctx = mp.stage(root)
    try:
        ctx.load("orders")
    finally:
        ctx.close()
    return time.perf_counter() - t0


def _floor(path: Path, files: list[Path], fmt: str, *, insert: bool = False) -> float:
    reader = (
        f"read_csv({[str(f) for f in files]}, all_varchar=true, filename=true)"
        if fmt == "csv"
        else f"read_parquet({[str(f) for f in files]}, filename=true)"
    )
    t0 = time.perf_counter()
    con = duckdb.connect(str(path))
    if insert:
        con.execute(f"INSERT INTO orders SELECT * FROM {reader}")
    else:
        con.execute(f"CREATE TABLE orders AS SELECT * FROM {reader}")
    con.close()
    return time.perf_counter() - t0


def _measure(root: Path, args: argparse.Namespace) -> None:
    folder = root / "data/in"
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    files = _write_files(folder, args.files, args.rows, args.format)
    floor_db = root / "floor.duckdb"
    full: dict[str, list[float]] = {"ctx.load": [], "duckdb": []}
    for _ in range(args.repeat + 1):  # the first round warms the caches and is not counted
        _fresh(root)
        floor_db.unlink(missing_ok=True)
        full["ctx.load"].append(_load(root))
        full["duckdb"].append(_floor(floor_db, files, args.format))
    full = {k: v[1:] for k, v in full.items()}
    more: dict[str, list[float]] = {"ctx.load": [], "duckdb": [], "unchanged": []}
    for round_ in range(args.repeat):
        (new,) = _write_files(folder, 1, args.rows, args.format, first=args.files + round_)
        more["ctx.load"].append(_load(root))
        more["duckdb"].append(_floor(floor_db, [new], args.format, insert=True))
        more["unchanged"].append(_load(root))
    total = args.files * args.rows
    a, b = statistics.median(full["ctx.load"]), statistics.median(full["duckdb"])
    print(
        f"  from scratch  ctx.load {a:6.2f} s ({total / a:,.0f} rows/s)   duckdb floor {b:6.2f} s   ratio {a / b:.2f}x"
    )
    c, d = statistics.median(more["ctx.load"]), statistics.median(more["duckdb"])
    print(f"  one new file  ctx.load {c:6.2f} s   duckdb floor {d:6.2f} s   ratio {c / d:.2f}x")
    print(f"  nothing new   ctx.load {statistics.median(more['unchanged']):6.2f} s (hashes every file, builds nothing)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--files", type=int, default=20)
    parser.add_argument("--rows", type=int, default=50_000)
    parser.add_argument("--format", choices=("csv", "parquet"), default="csv")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="millpond-files-"))
    total = args.files * args.rows
    print(
        f"{args.files} {args.format} files of {args.rows:,} rows ({total:,} rows); median of {args.repeat}, alternating"
    )
    for retain, what in ((3, "versions kept (retain 3, the default): a load first copies the table"), (1, "retain 1")):
        print(f" {what}")
        _workspace(root, args.format, retain)
        _measure(root, args)
    shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
