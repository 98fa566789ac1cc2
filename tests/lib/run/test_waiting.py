"""A run that waits says so on the console: for another run (``--wait``), and for the
warehouse while someone outside the run (a JupyterLab cell) holds it."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from pathlib import Path

from millpond.run.lock import RunLock
from millpond.run.runner import open_store
from millpond.warehouse.lease import Lease
from millpond.workspace import Workspace
from support.workspaces import MAKE_ROWS, make_workspace, write_notebook

MILLPOND = str(Path(sys.executable).parent / "millpond")


def _workspace(root: Path) -> Workspace:
    write_notebook(root / "notebooks/make.ipynb", "n = 3\ntable = 'probe.t1'", *MAKE_ROWS)
    make_workspace(
        root, {"p": {"stages": [{"name": "make", "notebook": "notebooks/make.ipynb", "produces": ["probe.t1"]}]}}
    )
    return Workspace(root)


def _start(root: Path, *args: str) -> tuple[subprocess.Popen, list[str]]:
    run = subprocess.Popen(
        [MILLPOND, "run", "p", "--plain", *args, "-C", str(root)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    lines: list[str] = []
    threading.Thread(target=lambda: lines.extend(run.stdout), daemon=True).start()
    return run, lines


def _until(lines: list[str], text: str, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if any(text in line for line in list(lines)):
            return True
        time.sleep(0.05)
    return False


def test_waiting_for_another_run_is_said(tmp_path):
    ws = _workspace(tmp_path)
    other = RunLock(ws.meta_dir, "run 20240101T000000-abcd of p")
    other.acquire()
    run, lines = _start(tmp_path, "--wait")
    try:
        assert _until(lines, "waiting for another run to finish (run 20240101T000000-abcd of p", 20), lines
        assert run.poll() is None
    finally:
        other.release()
    assert run.wait(timeout=120) == 0, lines


def test_stages_waiting_for_the_warehouse_say_who_holds_it(tmp_path):
    ws = _workspace(tmp_path)
    cell = Lease(ws.warehouse_file(), "an interactive session")
    cell.acquire()
    run, lines = _start(tmp_path, "--force")
    try:
        assert _until(lines, "stages wait for the warehouse, held by an interactive session", 60), lines
        assert run.poll() is None
    finally:
        cell.release()
    assert run.wait(timeout=120) == 0, (
        lines,
        open_store(ws).runs(1) and open_store(ws).stage_runs(open_store(ws).runs(1)[0]["run_id"]),
    )
    assert sum("held by an interactive session" in line for line in lines) == 1
