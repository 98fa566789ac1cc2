"""What quality costs: checks and monitors of pipelines/shop.yml as a share of its build.

Copies the reference workspace to a temporary folder, generates the sample data at
``--scale``, builds it once with `millpond run shop`, then measures, in this process,
``--repeat`` times each:

A. (once, from the run's records) the build: the sum of the materialization times of
   every table, without kernel start-up, so a stricter denominator than the run's wall time;
B. every declared check of every stage, built and run as the runner does
   (``stage/checks.py``), plus the gold checks of the ``check_gold`` stage;
C. the monitors: one profile query per produced table, as ``ctx.materialize`` runs it
   in the stage's kernel right after the build (``quality/monitors.py``).

It prints medians and the ratios B / A, C / A, (B + C) / A and (B + C) / whole run.

    .venv/bin/python benchmarks/checks_cost.py [--scale 4] [--repeat 5]
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from timing import median

REPO = Path(__file__).resolve().parents[1]
MILLPOND = str(Path(sys.executable).parent / "millpond")


def _copy_workspace(root: Path) -> None:
    for name in ("millpond.yml", "pipelines", "notebooks"):
        src = REPO / name
        (shutil.copytree if src.is_dir() else shutil.copy2)(src, root / name)


def _quality_seconds(ws, pipeline, store) -> tuple[float, float]:
    """Seconds of every declared check (plus the gold checks) and of every stage's monitors."""
    from millpond.quality.basic import run_check
    from millpond.quality.monitors import profile_table
    from millpond.stage_api.checks import run_stage_checks
    from millpond.warehouse.connect import Warehouse
    from millpond.warehouse.sql import split_name
    from shop.checks import gold_checks

    t0 = time.perf_counter()
    for stage in pipeline.spec.stages:
        if stage.checks:
            run_stage_checks(ws, stage, None, store)
    warehouse = Warehouse(ws, "benchmark: gold checks")
    try:
        con = warehouse.hold()
        for check in gold_checks(lambda name: con.table(split_name(name)[1], database=split_name(name)[0])):
            run_check(check)
    finally:
        warehouse.close()
    checks = time.perf_counter() - t0
    warehouse = Warehouse(ws, "benchmark: monitors")
    try:  # as ctx.materialize does in each stage's kernel, on the connection it holds
        con = warehouse.hold()
        t0 = time.perf_counter()
        for stage in pipeline.spec.stages:
            for name in stage.produces:
                profile_table(con.table(split_name(name)[1], database=split_name(name)[0]), name)
        return checks, time.perf_counter() - t0
    finally:
        warehouse.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scale", type=float, default=4.0)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()

    from millpond.pipeline.load import load_pipeline
    from millpond.run.runner import open_store
    from millpond.store.metadata import MetadataStore
    from millpond.workspace import Workspace

    root = Path(tempfile.mkdtemp(prefix="millpond-checks-"))
    _copy_workspace(root)
    subprocess.run([MILLPOND, "generate", "--scale", str(args.scale)], cwd=root, check=True, stdout=subprocess.DEVNULL)
    t0 = time.perf_counter()
    subprocess.run([MILLPOND, "run", "shop", "--plain"], cwd=root, check=True, stdout=subprocess.DEVNULL)
    whole_run = time.perf_counter() - t0

    ws = Workspace(root)
    pipeline = load_pipeline(ws, "shop")
    history = open_store(ws)
    run_id = history.runs(1)[0]["run_id"]
    built = history.materializations(run_id)
    build = sum(m["duration"] for m in built)
    scratch = MetadataStore(root / "data/.millpond/benchmark.sqlite")  # keeps the real history clean
    _quality_seconds(ws, pipeline, scratch)  # warm-up
    checks, monitors = [], []
    for _ in range(args.repeat):
        c, m = _quality_seconds(ws, pipeline, scratch)
        checks.append(c)
        monitors.append(m)
    quality = median(checks) + median(monitors)
    rows = sum(m["rows"] or 0 for m in built)
    print(f"pipelines/shop.yml at scale {args.scale:g}: {len(built)} tables, {rows:,} rows built")
    print(f"  whole first run ({len(pipeline.spec.stages)} stages, 1 job)   {whole_run:7.2f} s")
    print(f"  A. build (recorded materializations) {build:7.2f} s")
    print(f"  B. declared + gold checks            {median(checks):7.2f} s   (median of {args.repeat})")
    print(f"  C. monitors (one profile per table)  {median(monitors):7.2f} s   (median of {args.repeat})")
    print(f"  B / A  (declared checks vs build)   = {median(checks) / build:6.1%}")
    print(f"  C / A  (monitors vs build)          = {median(monitors) / build:6.1%}")
    print(f"  (B + C) / A          = {quality / build:6.1%}")
    print(f"  (B + C) / whole run  = {quality / whole_run:6.1%}")
    shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
