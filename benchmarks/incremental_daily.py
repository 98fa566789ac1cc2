"""The daily run with one new day of data: does its cost grow with the history kept?

For each history length H (``--histories``, default 30 and 365 days) in a fresh copy of
the reference workspace:

1. generate a shop of ``H + 1`` days at the reference's daily volume
   (``scale = (H + 1) / 31``: about 161 orders a day, as at scale 1 over 31 days);
2. keep only what had arrived by day ``H`` (orders and payments up to that day, their
   lines, the event files of those days; customers and products whole) and build
   everything with ``millpond run shop -p run_date=<day H>`` (not timed);
3. put the full files back, so the raw data gains exactly one day, and time the daily
   run ``millpond run shop -p run_date=<day H+1>`` as a whole process (``--repeat``
   times, restoring the day-``H`` warehouse and metadata before each);
4. for comparison, time the same run with ``--force`` (every stage rebuilt, the
   incremental tables still merged) once.

It prints the daily run's median per history and the ratio of the longest history to
the shortest (the issue's aim: under 1.5).

    .venv/bin/python benchmarks/incremental_daily.py [--histories 30 365] [--repeat 3] [--jobs 2]
"""

from __future__ import annotations

import argparse
import datetime as dt
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from timing import median

REPO = Path(__file__).resolve().parents[1]
MILLPOND = str(Path(sys.executable).parent / "millpond")
START = dt.date(2024, 1, 1)


def _copy_workspace(root: Path) -> None:
    for name in ("millpond.yml", "pipelines", "notebooks"):
        src = REPO / name
        (shutil.copytree if src.is_dir() else shutil.copy2)(src, root / name)


def _millpond(root: Path, *args: str) -> float:
    started = time.perf_counter()
    done = subprocess.run([MILLPOND, *args, "-C", str(root)], capture_output=True, text=True)
    elapsed = time.perf_counter() - started
    if done.returncode != 0:
        sys.exit(f"millpond {' '.join(args)} failed ({done.returncode}):\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}")
    return elapsed


def _keep_until(full: Path, raw: Path, last_day: dt.date) -> None:
    """Write to ``raw`` what of ``full`` had arrived by the end of ``last_day``.

    Rows whose date does not parse (the generator's dirt) arrive with the first day.
    """
    import duckdb

    raw.mkdir(parents=True)
    cutoff = f"TIMESTAMP '{last_day + dt.timedelta(days=1)} 00:00:00'"
    con = duckdb.connect()

    def arrived(column: str) -> str:
        return f"coalesce(try_cast({column} AS TIMESTAMP) < {cutoff}, true)"

    for name in ("customers.csv", "products.parquet", "_manifest.json"):
        shutil.copy2(full / name, raw / name)
    csv = "read_csv('{}', all_varchar = true, header = true)"
    con.execute(
        f"COPY (SELECT * FROM {csv.format(full / 'orders.csv')} WHERE {arrived('order_ts')}) "
        f"TO '{raw / 'orders.csv'}' (HEADER, DELIMITER ',')"
    )
    con.execute(
        f"COPY (SELECT * FROM {csv.format(full / 'payments.csv')} WHERE {arrived('paid_ts')}) "
        f"TO '{raw / 'payments.csv'}' (HEADER, DELIMITER ',')"
    )
    kept = f"SELECT try_cast(order_id AS BIGINT) FROM {csv.format(raw / 'orders.csv')}"
    con.execute(
        f"COPY (SELECT * FROM read_parquet('{full / 'order_lines.parquet'}') "
        f"WHERE try_cast(order_id AS BIGINT) IN ({kept}) OR try_cast(order_id AS BIGINT) IS NULL) "
        f"TO '{raw / 'order_lines.parquet'}' (FORMAT parquet, COMPRESSION zstd)"
    )
    (raw / "events").mkdir()
    for path in sorted((full / "events").glob("events_*.jsonl")):
        if dt.date.fromisoformat(path.stem.removeprefix("events_")) <= last_day:
            shutil.copy2(path, raw / "events" / path.name)


def measure(history: int, repeat: int, jobs: int, work: Path) -> dict[str, float]:
    from shop.generate import generate

    root = work / f"h{history}"
    root.mkdir()
    _copy_workspace(root)
    full = work / f"full{history}"
    manifest = generate(full, seed=42, scale=(history + 1) / 31, start=START, days=history + 1)
    yesterday, today = START + dt.timedelta(days=history - 1), START + dt.timedelta(days=history)
    raw = root / "data" / "raw"
    _keep_until(full, raw, yesterday)
    print(
        f"history {history} days: {manifest.valid_rows['orders']:,} orders in all; building up to {yesterday}",
        flush=True,
    )
    build = _millpond(root, "run", "shop", "-p", f"run_date={yesterday}", "--jobs", str(jobs))
    saved = work / f"saved{history}"
    shutil.copytree(root / "data", saved, symlinks=True)  # the lake's links stay links

    def restore() -> None:
        shutil.rmtree(root / "data")
        shutil.copytree(saved, root / "data", symlinks=True)
        shutil.rmtree(raw)
        shutil.copytree(full, raw)  # the new day arrives

    daily = []
    for _ in range(repeat):
        restore()
        daily.append(_millpond(root, "run", "shop", "-p", f"run_date={today}", "--jobs", str(jobs)))
    restore()
    forced = _millpond(root, "run", "shop", "-p", f"run_date={today}", "--jobs", str(jobs), "--force")
    result = {"build": build, "daily": median(daily), "daily_max": max(daily), "forced": forced}
    print(
        f"  initial build {build:6.1f} s   daily run median {result['daily']:6.1f} s "
        f"(max {result['daily_max']:.1f}, n={repeat})   daily --force {forced:6.1f} s",
        flush=True,
    )
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--histories", type=int, nargs="+", default=[30, 365])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--jobs", type=int, default=2)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="millpond-incremental-") as tmp:
        results = {h: measure(h, args.repeat, args.jobs, Path(tmp)) for h in args.histories}
    short, long = min(results), max(results)
    print(
        f"\ndaily run with one new day, {long} vs {short} days of history: "
        f"{results[long]['daily']:.1f} s / {results[short]['daily']:.1f} s = "
        f"{results[long]['daily'] / results[short]['daily']:.2f}x (aim < 1.5)"
    )
    print(f"initial build, {long} vs {short} days: {results[long]['build'] / results[short]['build']:.2f}x")


if __name__ == "__main__":
    main()
