"""The reference pipeline at ``--scale`` times the sample data with DuckDB held to ``--memory-limit``.

In a fresh copy of the reference workspace: generate the shop at ``--scale`` (default 10:
about 50,000 orders), set ``resources: {memory_limit, threads, temp_directory}`` in its
``millpond.yml``, and time ``millpond run shop --jobs 2`` as a whole process. It then checks
the gold tables against the generator's truth (orders in ``fct_orders``, total revenue
and days in ``mart_daily_revenue``), prints the resources the run recorded, the wall time
of each stage that ran, and how much DuckDB spilled to the temp directory at its peak
(sampled every 0.2 s).

    .venv/bin/python benchmarks/scale_memory.py [--scale 10] [--memory-limit 2GB] [--threads 2]
"""

from __future__ import annotations

import argparse
import json
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from decimal import Decimal
from pathlib import Path

import duckdb
import yaml

REPO = Path(__file__).resolve().parents[1]
MILLPOND = str(Path(sys.executable).parent / "millpond")


def folder_size(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file()) if path.exists() else 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=float, default=10.0)
    parser.add_argument("--memory-limit", default="2GB")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--keep", action="store_true", help="keep the workspace and print its path")
    args = parser.parse_args()
    from shop.generate import generate

    root = Path(tempfile.mkdtemp(prefix="millpond-scale-"))
    for name in ("millpond.yml", "pipelines", "notebooks"):
        src = REPO / name
        (shutil.copytree if src.is_dir() else shutil.copy2)(src, root / name)
    spec = yaml.safe_load((root / "millpond.yml").read_text())
    spec["resources"] = {"memory_limit": args.memory_limit, "threads": args.threads, "temp_directory": "data/tmp"}
    (root / "millpond.yml").write_text(yaml.safe_dump(spec, sort_keys=False))
    t0 = time.perf_counter()
    manifest = generate(root / "data" / "raw", seed=42, scale=args.scale)
    print(
        f"generated scale {args.scale:g} in {time.perf_counter() - t0:.1f} s: "
        f"{manifest.valid_rows['orders']:,} valid orders"
    )

    spill = {"peak": 0}
    done = threading.Event()

    def watch() -> None:
        while not done.wait(0.2):
            spill["peak"] = max(spill["peak"], folder_size(root / "data" / "tmp"))

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    t0 = time.perf_counter()
    run = subprocess.run(
        [MILLPOND, "run", "shop", "--jobs", "2", "--plain", "-C", str(root)], capture_output=True, text=True
    )
    wall = time.perf_counter() - t0
    done.set()
    if run.returncode != 0:
        sys.exit(f"the run failed ({run.returncode}):\n{run.stdout[-4000:]}\n{run.stderr[-2000:]}")

    con = duckdb.connect(str(root / "data" / "warehouse.duckdb"), read_only=True)
    orders = con.execute("SELECT count(*) FROM gold.fct_orders").fetchone()[0]
    revenue = {d: r for d, r in con.execute("SELECT date, revenue FROM gold.mart_daily_revenue").fetchall()}
    con.close()
    assert orders == manifest.valid_rows["orders"], (orders, manifest.valid_rows["orders"])
    assert revenue == manifest.revenue_by_day, "daily revenue differs from the generator's"
    store = sqlite3.connect(next((root / "data" / ".millpond" / "warehouses").glob("*/prod/meta.sqlite")))
    run_id, resources = store.execute("SELECT run_id, resources FROM runs ORDER BY started_at DESC LIMIT 1").fetchone()
    stages = store.execute(
        "SELECT stage, finished_at - started_at, rows_written FROM stage_runs WHERE run_id = ?"
        " AND status = 'success' ORDER BY finished_at - started_at DESC",
        (run_id,),
    ).fetchall()
    store.close()
    total = sum(revenue.values(), Decimal(0))
    print(
        f"scale {args.scale:g}, memory_limit {args.memory_limit}, threads {args.threads}: "
        f"`millpond run shop --jobs 2` took {wall:.1f} s and completed"
    )
    print(
        f"gold.fct_orders: {orders:,} orders = the generator's; mart revenue {total:,} over {len(revenue)} days = "
        "the generator's"
    )
    print(f"peak spill in data/tmp: {spill['peak'] / 1e6:.1f} MB")
    print(f"resources recorded with run {run_id}: {json.loads(resources)}")
    print("slowest stages (wall s, rows written):")
    for stage, seconds, rows in stages[:6]:
        print(f"  {stage:<32}{seconds:8.1f}{'' if rows is None else f'{rows:>12,}'}")
    if args.keep:
        print(f"workspace kept at {root}")
    else:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
