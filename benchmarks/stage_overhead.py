"""Per-stage overhead of `millpond run` against Papermill on the same trivial notebooks.

Builds a throwaway workspace with a chain of N trivial stage notebooks (a parameters
cell and ``result = step * 2``) and runs, side by side and alternating (A B C ...):

A. `millpond run bench --force` with the warm engine (the default: kernels forked from
   one process that imported everything once, started ahead of need);
B. the same with `MILLPOND_ENGINE=papermill` (a fresh `ipykernel_launcher` per stage);
C. one Python process calling `papermill.execute_notebook` for each notebook;
D. `papermill IN OUT` once per notebook (Papermill's command line; `--skip-cli` leaves it out).

For A and B the per-stage figure is the median stage duration the run history records
(from the stage's start to its end: kernel, notebook, saving, HTML). For C it is the median
time of one `execute_notebook` call, for D the process's wall time divided by N. A trivial
stage does no work, so its duration *is* the overhead. Also prints each whole-process total.

    .venv/bin/python benchmarks/stage_overhead.py [--stages 20] [--repeat 3] [--skip-cli]
"""

from __future__ import annotations

import argparse
import json
import os
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import nbformat
import yaml
from timing import median

BIN = Path(sys.executable).parent


def make_workspace(root: Path, stages: int) -> list[Path]:
    notebooks = []
    for i in range(stages):
        params = nbformat.v4.new_code_cell(f"step = {i}")
        params.metadata["tags"] = ["parameters"]
        body = nbformat.v4.new_code_cell("result = step * 2\nresult")
        nb = nbformat.v4.new_notebook(cells=[params, body])
        nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
        path = root / "notebooks" / f"{i:02d}_step.ipynb"
        path.parent.mkdir(parents=True, exist_ok=True)
        nbformat.write(nb, path)
        notebooks.append(path)
    spec = {
        "stages": [
            {
                "name": f"s{i:02d}",
                "notebook": f"notebooks/{i:02d}_step.ipynb",
                **({"needs": [f"s{i - 1:02d}"]} if i else {}),
            }
            for i in range(stages)
        ]
    }
    (root / "pipelines").mkdir(exist_ok=True)
    (root / "pipelines" / "bench.yml").write_text(yaml.safe_dump(spec, sort_keys=False))
    (root / "millpond.yml").write_text("name: bench\n")
    return notebooks


IN_PROCESS = """
import json, logging, statistics, sys, time
import papermill
logging.disable(logging.WARNING)
times = []
for nb in sys.argv[2:]:
    t0 = time.perf_counter()
    papermill.execute_notebook(nb, sys.argv[1] + "/" + nb.split("/")[-1], kernel_name="python3", progress_bar=False)
    times.append(time.perf_counter() - t0)
print(json.dumps(times))
"""


def run_millpond(root: Path, engine: str) -> tuple[float, list[float]]:
    """Whole-process seconds of one forced run, and each stage's recorded duration."""
    env = {**os.environ, "MILLPOND_ENGINE": engine}
    t0 = time.perf_counter()
    subprocess.run(
        [str(BIN / "millpond"), "run", "bench", "--force", "--plain"],
        cwd=root,
        env=env,
        check=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    total = time.perf_counter() - t0
    con = sqlite3.connect(next((root / "data" / ".millpond" / "warehouses").glob("*/prod/meta.sqlite")))
    try:
        (run_id,) = con.execute("SELECT run_id FROM runs ORDER BY started_at DESC LIMIT 1").fetchone()
        stages = [
            end - start
            for start, end in con.execute(
                "SELECT started_at, finished_at FROM stage_runs WHERE run_id = ? AND status = 'success'", (run_id,)
            )
        ]
    finally:
        con.close()
    return total, stages


def run_in_process(root: Path, notebooks: list[Path]) -> tuple[float, list[float]]:
    t0 = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-c", IN_PROCESS, str(root / "out"), *map(str, notebooks)],
        cwd=root,
        check=True,
        capture_output=True,
        text=True,
    )
    return time.perf_counter() - t0, json.loads(done.stdout.strip().splitlines()[-1])


def run_cli(root: Path, notebooks: list[Path]) -> tuple[float, list[float]]:
    times = []
    for nb in notebooks:
        t0 = time.perf_counter()
        subprocess.run(
            [str(BIN / "papermill"), "-k", "python3", "--no-progress-bar", str(nb), str(root / "out" / nb.name)],
            check=True,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        times.append(time.perf_counter() - t0)
    return sum(times), times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--stages", type=int, default=20)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--skip-cli", action="store_true")
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="millpond-bench-"))
    notebooks = make_workspace(root, args.stages)
    (root / "out").mkdir()
    runs = {
        "millpond run, warm engine": lambda: run_millpond(root, "warm"),
        "millpond run, papermill engine": lambda: run_millpond(root, "papermill"),
        "papermill in-process": lambda: run_in_process(root, notebooks),
    }
    if not args.skip_cli:
        runs["papermill CLI"] = lambda: run_cli(root, notebooks)
    for run in runs.values():  # warm-up
        run()
    totals: dict[str, list[float]] = {name: [] for name in runs}
    stages: dict[str, list[float]] = {name: [] for name in runs}
    for _ in range(args.repeat):
        for name, run in runs.items():
            total, per_stage = run()
            totals[name].append(total)
            stages[name] += per_stage
    n = args.stages
    print(f"{n} trivial stage notebooks, {args.repeat} runs each, alternating")
    print(f"{'':<32}{'whole run s':>12}{'per stage, median s':>22}")
    for name in runs:
        print(f"{name:<32}{median(totals[name]):>12.2f}{median(stages[name]):>22.3f}")
    warm = median(stages["millpond run, warm engine"])
    for name in list(runs)[1:]:
        print(f"per-stage ratio warm / {name}: {warm / median(stages[name]):.3f}")


if __name__ == "__main__":
    main()
