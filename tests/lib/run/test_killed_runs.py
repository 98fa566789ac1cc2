"""A run killed at random points: its kernels die with it, the next run starts at once.

The runner's whole process group gets ``SIGKILL`` (as a terminal's Ctrl-\\, an OOM killer
or a CI timeout would), at a random moment of a forced run: while kernels start, while a
stage sleeps or builds, while declared checks run. The stage kernels come from the kept-warm
fork server (the default), which is not in the run's process group. After each kill:

- every kernel of the killed run is gone within a second (none left holding the lease);
- nothing is recorded under the killed run after it died;
- ``millpond runs`` already shows it as interrupted, before any other run starts;
- the next run starts and finishes without waiting, and its tables are right.
"""

from __future__ import annotations

import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from millpond.processes import is_alive
from millpond.workspace import Workspace
from support.stores import store_file
from support.workspaces import make_workspace, query, write_notebook

MILLPOND = str(Path(sys.executable).parent / "millpond")

WHO = (
    "import os, pathlib, time\n"
    "pathlib.Path(os.environ['MILLPOND_WORKSPACE'], 'pids').mkdir(exist_ok=True)\n"
    "pathlib.Path(os.environ['MILLPOND_WORKSPACE'], 'pids', f\"{os.environ['MILLPOND_RUN_ID']}-{os.getpid()}\")"
    ".write_text(str(os.getppid()))"
)
MAKE = (
    WHO,
    "import millpond as mp, ibis\nctx = mp.stage()\ntime.sleep(pause)",
    "ctx.materialize(ibis.memtable({'x': list(range(n))}), table)",
)
COPY = (
    WHO,
    "import millpond as mp\nctx = mp.stage()\nsource = ctx.table(upstream)\ntime.sleep(pause)",
    "ctx.materialize(source, table)",
)
BOTH = (
    WHO,
    "import millpond as mp\nctx = mp.stage()\ntime.sleep(pause)",
    "ctx.materialize(ctx.table('probe.b').union(ctx.table('probe.c'), distinct=False), 'probe.d')",
)


def _workspace(root: Path) -> Path:
    write_notebook(root / "notebooks/make.ipynb", "n = 1\ntable = 'probe.a'\npause = 0.0", *MAKE)
    write_notebook(root / "notebooks/copy.ipynb", "upstream = 'probe.a'\ntable = 'probe.b'\npause = 0.0", *COPY)
    write_notebook(root / "notebooks/both.ipynb", "pause = 0.0", *BOTH)
    stages = [
        {"name": "a", "notebook": "notebooks/make.ipynb", "params": {"n": 3000, "pause": 0.4}, "produces": ["probe.a"]},
        {
            "name": "b",
            "notebook": "notebooks/copy.ipynb",
            "needs": ["a"],
            "params": {"pause": 0.3},
            "produces": ["probe.b"],
        },
        {
            "name": "c",
            "notebook": "notebooks/copy.ipynb",
            "needs": ["a"],
            "params": {"table": "probe.c", "pause": 0.5},
            "produces": ["probe.c"],
        },
        {
            "name": "d",
            "notebook": "notebooks/both.ipynb",
            "needs": ["b", "c"],
            "params": {"pause": 0.2},
            "produces": ["probe.d"],
            "checks": {"probe.d": [{"not_null": ["x"]}]},
        },
    ]
    return make_workspace(root, {"p": {"stages": stages}})


def _kernels(root: Path, run_id: str) -> tuple[set[int], set[int]]:
    """The stage kernels of ``run_id`` (each wrote its pid) and every child of their fork server."""
    written = list((root / "pids").glob(f"{run_id}-*")) if (root / "pids").exists() else []
    pids = {int(p.name.rsplit("-", 1)[1]) for p in written}
    servers = {int(p.read_text()) for p in written}
    children = set()
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, ValueError, IndexError):
                continue
            if ppid in servers:
                children.add(int(entry.name))
    return pids, children


def _latest_run(meta: Path) -> str | None:
    with sqlite3.connect(meta) as db:
        row = db.execute("SELECT run_id FROM runs ORDER BY started_at DESC LIMIT 1").fetchone()
    return row[0] if row else None


@pytest.mark.slow
@pytest.mark.parametrize("engine, kills", [("warm", 8), ("papermill", 3)])
def test_killing_a_run_at_random_points_leaves_nothing_behind(tmp_path, engine, kills):
    root = _workspace(tmp_path)
    ws = Workspace(root)
    meta = store_file(ws)
    seed = int.from_bytes(os.urandom(4), "big")
    rng = random.Random(seed)
    env = {**os.environ, "MILLPOND_KEEP_WARM": "41", "MILLPOND_LEASE_TIMEOUT": "20", "MILLPOND_ENGINE": engine}
    servers: set[int] = set()
    try:
        for attempt in range(kills):
            where = f"seed {seed}, kill {attempt}"
            runner = subprocess.Popen(
                [MILLPOND, "run", "p", "--force", "--jobs", "2", "--plain", "-C", str(root)],
                env=env,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                start_new_session=True,
            )
            time.sleep(rng.uniform(0.3, 4.5 if engine == "warm" else 9.0))
            os.killpg(runner.pid, signal.SIGKILL)
            killed_at = time.time()
            runner.wait()
            run_id = _latest_run(meta) if meta.exists() else None
            if run_id is None:  # killed before the run was recorded: nothing can be left of it
                continue

            deadline = time.monotonic() + 1.0
            while time.monotonic() < deadline and any(is_alive(p) for group in _kernels(root, run_id) for p in group):
                time.sleep(0.02)
            kernels, children = _kernels(root, run_id)
            assert not [p for p in kernels | children if is_alive(p)], f"{where}: kernels outlived their run"
            servers |= {int(p.read_text()) for p in (root / "pids").glob(f"{run_id}-*")}

            time.sleep(0.3)  # anything still writing for the dead run would have written by now
            with sqlite3.connect(meta) as db:
                late = db.execute(
                    "SELECT table_name, built_at FROM materializations WHERE run_id = ? AND built_at > ?",
                    (run_id, killed_at + 0.1),
                ).fetchall()
            assert late == [], f"{where}: recorded after the run died"

            shown = subprocess.run(
                [MILLPOND, "runs", "--json", "-C", str(root)], env=env, capture_output=True, text=True, timeout=60
            )
            status = {r["run_id"]: r["status"] for r in json.loads(shown.stdout)}
            assert status[run_id] in ("interrupted", "success"), f"{where}: shows {status[run_id]}"

        started = time.monotonic()
        after = subprocess.run(
            [MILLPOND, "run", "p", "--jobs", "2", "--plain", "-C", str(root)],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        took = time.monotonic() - started
        assert after.returncode == 0, f"seed {seed}: {after.stdout}{after.stderr}"
        assert "waiting for the warehouse" not in after.stdout + after.stderr, f"seed {seed}"
        assert took < 30, f"seed {seed}: the next run took {took:.1f} s"
        assert query(ws, "SELECT count(*), count(DISTINCT x) FROM probe.b") == [(3000, 3000)]
        assert query(ws, "SELECT count(*), count(DISTINCT x) FROM probe.d") == [(6000, 3000)]
    finally:
        for server in servers:
            try:
                os.kill(server, signal.SIGTERM)
            except ProcessLookupError:
                pass
