"""The reference pipeline on DuckDB and on PySpark, side by side, and their gold tables compared.

Two fresh copies of the reference workspace with the same generated data (seed 42,
``--scale``): one on the embedded DuckDB default, one with ``warehouse:
pyspark://local[2]``. For each, ``millpond run shop --jobs 2 --force`` is timed as a
whole process, ``--repeat`` times, alternating DuckDB and Spark. The Spark Connect
server is started once beforehand (``millpond spark start``, timed on its own: it is a
once-per-workspace cost, like starting a database server). Afterwards every gold table
is compared, types and rows (:func:`millpond.warehouse.compare.table_differences`); the
script exits 1 if any differs.

    .venv/bin/python benchmarks/spark_vs_duckdb.py [--scale 1] [--repeat 1]
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from timing import median, timed

REPO = Path(__file__).resolve().parents[1]
MILLPOND = str(Path(sys.executable).parent / "millpond")
GOLD = (
    "dim_customer",
    "dim_date",
    "dim_product",
    "fct_order_lines",
    "fct_orders",
    "mart_daily_revenue",
    "mart_revenue_by_country",
)


def workspace(root: Path, scale: float, warehouse: str | None) -> Path:
    from shop.generate import generate

    root.mkdir(parents=True)
    for name in ("millpond.yml", "pipelines", "notebooks"):
        src = REPO / name
        (shutil.copytree if src.is_dir() else shutil.copy2)(src, root / name)
    if warehouse:
        spec = root / "millpond.yml"
        spec.write_text(re.sub(r"(?m)^warehouse: .*$", f"warehouse: {warehouse}", spec.read_text()))
    generate(root / "data" / "raw", seed=42, scale=scale)
    return root


def compare(duck_root: Path, spark_root: Path) -> list[str]:
    import ibis

    from millpond.warehouse.compare import table_differences
    from millpond.warehouse.connect import connect
    from millpond.workspace import Workspace

    spark = connect(Workspace(spark_root))
    duck = ibis.duckdb.connect(str(duck_root / "data" / "warehouse.duckdb"), read_only=True)
    found = []
    for name in GOLD:
        rows = duck.table(name, database="gold").count().execute()
        problems = table_differences(duck.table(name, database="gold"), spark.table(name, database="gold"))
        print(f"  gold.{name:<24} {rows:>7,} rows  {'same' if not problems else '; '.join(problems)}")
        found += problems
    spark.disconnect()
    duck.disconnect()
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=float, default=1.0)
    parser.add_argument("--repeat", type=int, default=1)
    args = parser.parse_args()
    base = Path(tempfile.mkdtemp(prefix="millpond-spark-"))
    duck_root = workspace(base / "duckdb", args.scale, None)
    spark_root = workspace(base / "spark", args.scale, "pyspark://local[2]")
    try:
        started = timed([MILLPOND, "spark", "start", "-C", str(spark_root)], spark_root)
        print(f"Spark Connect server started in {started:.1f} s (once per workspace)")
        run = [MILLPOND, "run", "shop", "--jobs", "2", "--force", "--plain", "-C"]
        samples: dict[str, list[float]] = {"duckdb": [], "pyspark": []}
        for _ in range(args.repeat):
            samples["duckdb"].append(timed([*run, str(duck_root)], duck_root))
            samples["pyspark"].append(timed([*run, str(spark_root)], spark_root))
        for engine, values in samples.items():
            print(
                f"{engine:<8} millpond run shop --jobs 2: {', '.join(f'{v:.1f}' for v in values)} s "
                f"(median {median(values):.1f} s)"
            )
        print(f"ratio pyspark / duckdb: {median(samples['pyspark']) / median(samples['duckdb']):.1f}x")
        t0 = time.perf_counter()
        problems = compare(duck_root, spark_root)
        print(
            f"compared in {time.perf_counter() - t0:.1f} s: "
            f"{'every gold table is the same' if not problems else f'{len(problems)} difference(s)'}"
        )
    finally:
        subprocess.run([MILLPOND, "spark", "stop", "-C", str(spark_root)], capture_output=True)
        shutil.rmtree(base, ignore_errors=True)
    sys.exit(1 if problems else 0)


if __name__ == "__main__":
    main()
