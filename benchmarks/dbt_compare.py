"""The shop's gold layer built by millpond and by dbt-duckdb: wall time and equal outputs.

In a fresh copy of the reference workspace, generate the shop at ``--scale`` (seed 42) and
run ``millpond run shop`` once, through silver to the reports. Copy the warehouse file for
dbt, whose project ``benchmarks/dbt_shop/`` holds the same gold models and the same checks
(see its README), reading the same ``silver.*`` tables and writing schema ``dbt_gold``.

For each ``--jobs`` value, after one untimed warm-up of each (dbt's first build of
``fct_orders`` is a full one, its later ones incremental like millpond's), ``--repeat``
alternating rounds time two whole processes:

A. ``millpond run shop --force -s <each gold stage> -s check_gold --jobs N``: the six gold
   stages, the marketing mart and the gold checks, with everything the runner does for
   them (fingerprints, contracts, versions, lake publishing, monitors, executed notebooks);
B. ``dbt build --threads N``: the seven models and their data tests (parsing is partial
   after the warm-up, as on a developer's machine).

Then every gold table of dbt must equal millpond's: the same column names and types, and
the same rows as multisets (``EXCEPT ALL`` both ways, so decimals and timestamps compare
exactly); no column is cast. The script prints each round, the medians, their ratio
millpond / dbt and the median of each round's own ratio (the two runs of a round are back
to back, so it is the figure least moved by the machine's drift; the target is 0.8 or
less), then where the time of the last round of each
went; it exits 1 when an output differs.

dbt is installed only in its own venv (``--dbt-venv``, created and filled from the package
index on first use: ``dbt-core`` and ``dbt-duckdb`` 1.11, ``duckdb`` 1.5), never in ``.venv``.

    .venv/bin/python benchmarks/dbt_compare.py [--scale 1] [--repeat 3] [--jobs 1 2] [--keep]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import duckdb
from timing import median, timed

REPO = Path(__file__).resolve().parents[1]
MILLPOND = str(Path(sys.executable).parent / "millpond")
PROJECT = REPO / "benchmarks" / "dbt_shop"
DBT_VENV = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "millpond-bench" / "dbt-venv"
DBT_REQUIREMENTS = ["dbt-core>=1.11,<1.12", "dbt-duckdb>=1.11,<1.12", "duckdb>=1.5,<2"]
GOLD_STAGES = [
    "build_dim_customer",
    "build_dim_product",
    "build_dim_date",
    "build_fct_orders",
    "build_fct_order_lines",
    "build_mart_daily_revenue",
    "build_mart_revenue_by_country",
    "check_gold",
]
GOLD_TABLES = [
    "dim_customer",
    "dim_product",
    "dim_date",
    "fct_orders",
    "fct_order_lines",
    "mart_daily_revenue",
    "mart_revenue_by_country",
]


def run_or_exit(cmd: list[str], what: str, **kwargs) -> subprocess.CompletedProcess:
    """Run ``cmd`` capturing its output; on failure exit with its last lines."""
    done = subprocess.run(cmd, capture_output=True, text=True, **kwargs)
    if done.returncode != 0:
        sys.exit(f"{what} failed ({done.returncode}): {' '.join(cmd)}\n{done.stdout[-4000:]}\n{done.stderr[-2000:]}")
    return done


def dbt_executable(venv: Path) -> Path:
    """``dbt`` of the benchmark's own venv, created and installed there on first use."""
    dbt = venv / "bin" / "dbt"
    if not dbt.exists():
        print(f"installing {', '.join(DBT_REQUIREMENTS)} into {venv} (once)")
        venv.parent.mkdir(parents=True, exist_ok=True)
        run_or_exit([sys.executable, "-m", "venv", "--clear", str(venv)], "creating the dbt venv")
        run_or_exit([str(venv / "bin" / "pip"), "install", "--quiet", *DBT_REQUIREMENTS], "installing dbt")
    return dbt


def make_workspace(root: Path, scale: float) -> None:
    """A copy of the reference workspace with the shop at ``scale``, built once by millpond."""
    from shop.generate import generate

    for name in ("millpond.yml", "pipelines", "notebooks"):
        src = REPO / name
        (shutil.copytree if src.is_dir() else shutil.copy2)(src, root / name)
    manifest = generate(root / "data" / "raw", seed=42, scale=scale)
    t0 = time.perf_counter()
    run_or_exit([MILLPOND, "run", "shop", "--jobs", "2", "--plain", "-C", str(root)], "the first millpond run")
    print(
        f"scale {scale:g}: {manifest.valid_rows['orders']:,} valid orders, "
        f"{manifest.valid_rows['order_lines']:,} order lines; first full `millpond run shop` "
        f"{time.perf_counter() - t0:.1f} s"
    )


def commands(root: Path, dbt: Path, jobs: int) -> dict[str, list[str]]:
    """The two timed commands, each a whole process."""
    stages = [arg for stage in GOLD_STAGES for arg in ("-s", stage)]
    return {
        "millpond": [MILLPOND, "run", "shop", "--force", *stages, "--jobs", str(jobs), "--plain", "-C", str(root)],
        "dbt": [
            str(dbt),
            "build",
            "--project-dir",
            str(PROJECT),
            "--profiles-dir",
            str(PROJECT),
            "--target-path",
            str(root / "dbt" / "target"),
            "--log-path",
            str(root / "dbt" / "logs"),
            "--threads",
            str(jobs),
        ],
    }


def compare(warehouse: Path, dbt_file: Path) -> list[str]:
    """Each gold table of dbt against millpond's: one line per table, ``!`` marking a difference."""
    con = duckdb.connect()
    con.execute(f"ATTACH '{warehouse}' AS mp (READ_ONLY)")
    con.execute(f"ATTACH '{dbt_file}' AS dbt (READ_ONLY)")
    lines = []
    for table in GOLD_TABLES:
        ours, theirs = f"mp.gold.{table}", f"dbt.dbt_gold.{table}"
        columns = [con.execute(f"DESCRIBE {name}").fetchall() for name in (ours, theirs)]
        columns = [[(c[0], c[1]) for c in described] for described in columns]
        if columns[0] != columns[1]:
            lines.append(f"! {table}: columns differ: millpond {columns[0]} dbt {columns[1]}")
            continue
        only_ours, only_theirs = (
            con.execute(f"SELECT count(*) FROM (FROM {a} EXCEPT ALL FROM {b})").fetchone()[0]
            for a, b in ((ours, theirs), (theirs, ours))
        )
        rows = con.execute(f"SELECT count(*) FROM {ours}").fetchone()[0]
        mark = "!" if only_ours or only_theirs else " "
        lines.append(
            f"{mark} {table:<26}{rows:>10,} rows, {len(columns[0])} columns of the same types; "
            f"only in millpond {only_ours}, only in dbt {only_theirs}"
        )
    con.close()
    return lines


def millpond_breakdown(root: Path) -> list[str]:
    """Where the last millpond run spent its time: the run, and each stage it recorded."""
    store = sqlite3.connect(next((root / "data" / ".millpond" / "warehouses").glob("*/prod/meta.sqlite")))
    run_id, started, finished = store.execute(
        "SELECT run_id, started_at, finished_at FROM runs ORDER BY started_at DESC LIMIT 1"
    ).fetchone()
    stages = store.execute(
        "SELECT stage, started_at - ?, finished_at - started_at FROM stage_runs WHERE run_id = ? ORDER BY started_at",
        (started, run_id),
    ).fetchall()
    store.close()
    lines = [f"millpond run {run_id}: {finished - started:.2f} s from run start to end; stages (start, wall s):"]
    lines += [f"  {stage:<32}{start:6.2f}{seconds:8.2f}" for stage, start, seconds in stages]
    lines.append(f"  sum of stage walls {sum(s for _, _, s in stages):.2f} s")
    return lines


def dbt_breakdown(root: Path) -> list[str]:
    """Where the last dbt build spent its time: models and tests, from ``run_results.json``."""
    results = json.loads((root / "dbt" / "target" / "run_results.json").read_text())
    by_kind: dict[str, float] = {}
    for node in results["results"]:
        kind = node["unique_id"].split(".")[0]
        by_kind[kind] = by_kind.get(kind, 0.0) + node["execution_time"]
    parts = ", ".join(f"{kind}s {seconds:.2f} s" for kind, seconds in sorted(by_kind.items()))
    return [f"dbt build: {results['elapsed_time']:.2f} s running nodes ({parts}, summed over threads)"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scale", type=float, default=1.0, help="generator scale (1 = 5,000 orders)")
    parser.add_argument("--repeat", type=int, default=3, help="timed rounds per --jobs value")
    parser.add_argument(
        "--jobs", type=int, nargs="+", default=[1, 2], help="millpond --jobs and dbt --threads (each value timed)"
    )
    parser.add_argument("--dbt-venv", type=Path, default=DBT_VENV, help=f"dbt's own venv (default {DBT_VENV})")
    parser.add_argument("--keep", action="store_true", help="keep the workspace and print its path")
    args = parser.parse_args()

    dbt = dbt_executable(args.dbt_venv)
    root = Path(tempfile.mkdtemp(prefix="millpond-dbt-"))
    make_workspace(root, args.scale)
    warehouse, dbt_file = root / "data" / "warehouse.duckdb", root / "data" / "dbt.duckdb"
    shutil.copy2(warehouse, dbt_file)
    os.environ.update(DBT_SHOP_DUCKDB=str(dbt_file), DBT_SEND_ANONYMOUS_USAGE_STATS="false", DBT_VERSION_CHECK="false")
    version = run_or_exit([str(dbt), "--version"], "dbt --version").stdout
    print(
        f"dbt {version.split('installed:')[1].split()[0]} from {args.dbt_venv}; "
        f"millpond stages: {', '.join(GOLD_STAGES)}"
    )

    summary = []
    for jobs in args.jobs:
        cmds = commands(root, dbt, jobs)
        for name, cmd in cmds.items():  # warm-up, with its output kept for a failure
            run_or_exit(cmd, f"the {name} warm-up", cwd=root)
        samples: dict[str, list[float]] = {name: [] for name in cmds}
        print(f"\n--jobs / --threads {jobs}: whole-process wall seconds, alternating")
        for round_no in range(1, args.repeat + 1):
            for name, cmd in cmds.items():
                samples[name].append(timed(cmd, root))
            print(f"  round {round_no}: " + "  ".join(f"{name} {samples[name][-1]:6.2f}" for name in cmds))
        mp, db = median(samples["millpond"]), median(samples["dbt"])
        # each round's two runs are back to back, so their ratio is robust to the machine's drift
        paired = median([m / d for m, d in zip(samples["millpond"], samples["dbt"])])
        print(
            f"  median:  millpond {mp:6.2f}  dbt {db:6.2f}  ratio of medians {mp / db:.2f}; "
            f"median of the rounds' ratios {paired:.2f} (target <= 0.80)"
        )
        summary.append(f"jobs {jobs}: millpond {mp:.2f} s, dbt {db:.2f} s, ratio {mp / db:.2f} (paired {paired:.2f})")
        for line in millpond_breakdown(root) + dbt_breakdown(root):
            print(f"  {line}")

    print("\noutputs: gold.<table> (millpond) against dbt_gold.<table> (dbt)")
    lines = compare(warehouse, dbt_file)
    print("\n".join(lines))
    equal = not any(line.startswith("!") for line in lines)
    print(
        f"\nscale {args.scale:g}, {args.repeat} rounds: "
        + "; ".join(summary)
        + f"; outputs {'equal' if equal else 'DIFFER'}"
    )
    if args.keep:
        print(f"workspace kept at {root}")
    else:
        shutil.rmtree(root, ignore_errors=True)
    sys.exit(0 if equal else 1)


if __name__ == "__main__":
    main()
