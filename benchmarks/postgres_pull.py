"""PostgreSQL -> warehouse pull: the ``postgres_table`` source against dlt, side by side.

Starts a throwaway PostgreSQL server (tests/support/postgres.py), fills ``public.orders``
with ``--rows`` rows, then, alternating and each into a fresh DuckDB file:

A. millpond: ``ctx.load`` of a ``postgres_table`` source (cursor ``updated_at``, lookback
   1 minute, merged on ``id``), read as Arrow by ADBC;
B. dlt: ``sql_table(..., backend="pyarrow")`` with ``dlt.sources.incremental("updated_at")``,
   ``write_disposition="merge"`` on ``id``, into DuckDB: dlt's fastest path, run in dlt's own
   venv (created on first use under ~/.cache/millpond-bench/dlt-venv; never in .venv).

Each side first loads the whole table, then, after ``--changed`` rows were updated and as
many inserted, pulls the changes incrementally. Times are taken inside each process, around
the load only (the libraries imported before; opening the warehouse inside, on both sides),
and printed as rows/s and ratios.

    .venv/bin/python benchmarks/postgres_pull.py [--rows 1000000] [--changed 50000] [--repeat 3]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

import psycopg
import yaml

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))
from support.postgres import ThrowawayPostgres  # noqa: E402

DLT_VENV = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "millpond-bench" / "dlt-venv"
DLT_REQUIREMENTS = ["dlt[duckdb,sql_database,parquet]==1.31.0", "sqlalchemy>=2", "psycopg2-binary"]

MILLPOND = textwrap.dedent(
    """
    import json, os, sys, time
    os.environ["MILLPOND_ENV"] = "prod"
    import millpond as mp
    import adbc_driver_postgresql.dbapi, millpond.sources, millpond.stage_api.build  # imported before t0, as dlt's are
    ctx = mp.stage(sys.argv[1])
    t0 = time.perf_counter()
    loaded = ctx.load("orders")
    seconds = time.perf_counter() - t0
    ctx.close()
    print(json.dumps({"seconds": seconds, "rows": loaded.counts["rows read"]}))
    """
)
DLT = textwrap.dedent(
    """
    import json, sys, time
    import dlt
    from dlt.sources.sql_database import sql_table
    url, folder = sys.argv[1], sys.argv[2]
    table = sql_table(credentials=url, table="orders", schema="public", backend="pyarrow",
                      incremental=dlt.sources.incremental("updated_at"))
    pipeline = dlt.pipeline(pipeline_name="pull", destination=dlt.destinations.duckdb(folder + "/dlt.duckdb"),
                            dataset_name="bronze", pipelines_dir=folder + "/pipelines")
    t0 = time.perf_counter()
    info = pipeline.run(table, write_disposition="merge", primary_key="id")
    seconds = time.perf_counter() - t0
    rows = pipeline.last_trace.last_normalize_info.row_counts.get("orders", 0)
    print(json.dumps({"seconds": seconds, "rows": rows}))
    """
)


def dlt_python() -> Path:
    python = DLT_VENV / "bin" / "python"
    if not python.exists():
        print(f"installing {', '.join(DLT_REQUIREMENTS)} into {DLT_VENV} (once)")
        subprocess.run([sys.executable, "-m", "venv", "--clear", str(DLT_VENV)], check=True)
        subprocess.run([str(python), "-m", "pip", "install", "-q", *DLT_REQUIREMENTS], check=True)
    return python


def run_json(cmd: list[str]) -> dict:
    done = subprocess.run(cmd, capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"{cmd[0]} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def workspace(root: Path, url: str) -> None:
    (root / "pipelines").mkdir(parents=True, exist_ok=True)
    (root / "millpond.yml").write_text("name: pull\n")
    source = {
        "kind": "postgres_table",
        "target": "bronze.orders",
        "options": {
            "url": url,
            "table": "public.orders",
            "primary_key": ["id"],
            "cursor": "updated_at",
            "lookback": "1m",
        },
    }
    stage = {
        "name": "ingest",
        "notebook": "ingest.ipynb",
        "produces": ["bronze.orders"],
        "tables": {"bronze.orders": {"retain": 1}},
    }
    (root / "pipelines/pull.yml").write_text(yaml.safe_dump({"sources": {"orders": source}, "stages": [stage]}))


def fill(url: str, rows: int) -> None:
    with psycopg.connect(url, autocommit=True) as db:
        db.execute("DROP TABLE IF EXISTS public.orders")
        db.execute(
            "CREATE TABLE public.orders (id bigint PRIMARY KEY, customer_id integer, status text, "
            "amount numeric(12, 2), updated_at timestamp NOT NULL)"
        )
        db.execute(
            "INSERT INTO public.orders SELECT g, g % 100000, (ARRAY['placed','shipped','delivered'])[1 + g % 3], "
            f"(g % 100000) / 100.0, TIMESTAMP '2024-01-01' + g * INTERVAL '1 second' FROM generate_series(1, {rows}) g"
        )


def change(url: str, rows: int, changed: int, round_: int) -> None:
    with psycopg.connect(url, autocommit=True) as db:
        db.execute(f"UPDATE public.orders SET status = 'returned', updated_at = now() WHERE id <= {changed}")
        first = rows + round_ * changed + 1
        db.execute(
            f"INSERT INTO public.orders SELECT g, g % 100000, 'placed', 1.00, now() "
            f"FROM generate_series({first}, {first + changed - 1}) g"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--changed", type=int, default=50_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    dlt = dlt_python()
    samples: dict[str, list[float]] = {k: [] for k in ("mp full", "dlt full", "mp incr", "dlt incr")}
    with ThrowawayPostgres(database="bench") as pg:
        url = pg.url.replace("postgres://", "postgresql://")
        dlt_url = url.replace("postgresql://", "postgresql+psycopg2://")  # the driver of its venv
        for round_ in range(args.repeat):
            fill(url, args.rows)
            root = Path(tempfile.mkdtemp(prefix="millpond-pull-"))
            workspace(root, url)
            folder = Path(tempfile.mkdtemp(prefix="dlt-pull-"))
            full_mp = run_json([sys.executable, "-c", MILLPOND, str(root)])
            full_dlt = run_json([str(dlt), "-c", DLT, dlt_url, str(folder)])
            change(url, args.rows, args.changed, 0)
            incr_mp = run_json([sys.executable, "-c", MILLPOND, str(root)])
            incr_dlt = run_json([str(dlt), "-c", DLT, dlt_url, str(folder)])
            assert full_mp["rows"] == args.rows, full_mp
            samples["mp full"].append(args.rows / full_mp["seconds"])
            samples["dlt full"].append(args.rows / full_dlt["seconds"])
            samples["mp incr"].append(incr_mp["rows"] / incr_mp["seconds"])
            samples["dlt incr"].append(incr_dlt["rows"] / incr_dlt["seconds"])
            shutil.rmtree(root, ignore_errors=True)
            shutil.rmtree(folder, ignore_errors=True)
    med = {k: statistics.median(v) for k, v in samples.items()}
    print(
        f"public.orders, {args.rows:,} rows; then {args.changed:,} updated and {args.changed:,} inserted; median of {args.repeat}"
    )
    print(
        f"  whole table   millpond {med['mp full']:>10,.0f} rows/s   dlt {med['dlt full']:>10,.0f} rows/s   ratio {med['mp full'] / med['dlt full']:.2f}x"
    )
    print(
        f"  incremental   millpond {med['mp incr']:>10,.0f} rows/s   dlt {med['dlt incr']:>10,.0f} rows/s   ratio {med['mp incr'] / med['dlt incr']:.2f}x"
    )
    print("  (rows/s of the rows each read; millpond's incremental read includes the 1-minute lookback's overlap)")


if __name__ == "__main__":
    main()
