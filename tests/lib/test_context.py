"""A JupyterLab-style kernel reading the warehouse while a batch run writes it.

The kernel is a real IPython kernel started with jupyter_client, as JupyterLab
starts one; the batch run is the real runner with its own kernels. DuckDB allows
one process per file: the interactive kernel holds the warehouse only while a
cell runs, and a batch stage waits for that cell, never failing.
"""

from __future__ import annotations

import os
import threading
import time

import pytest
from jupyter_client.manager import start_new_kernel

from millpond.run.runner import RunOptions, open_store, run_pipeline
from millpond.workspace import Workspace
from support.workspaces import MAKE_ROWS, make_workspace, write_notebook


@pytest.fixture
def workspace(tmp_path) -> Workspace:
    write_notebook(tmp_path / "notebooks/make.ipynb", "n = 3\ntable = 'bronze.a'", *MAKE_ROWS)
    spec = {
        "params": {"n": {"type": "int", "default": 3}},
        "stages": [{"name": "a", "notebook": "notebooks/make.ipynb", "produces": ["bronze.a"]}],
    }
    make_workspace(tmp_path, {"p": spec})
    return Workspace(tmp_path)


@pytest.fixture
def kernel(workspace):
    env = dict(os.environ, MILLPOND_WORKSPACE=str(workspace.root))
    for name in ("MILLPOND_RUN_ID", "MILLPOND_STAGE"):
        env.pop(name, None)
    km, kc = start_new_kernel(kernel_name="python3", env=env, cwd=str(workspace.root))
    try:
        yield kc
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=True)


def execute(kc, code: str, timeout: float = 120) -> str:
    """Run ``code`` in the kernel; return its stdout, fail on an error reply."""
    chunks: list[str] = []

    def output(msg):
        if msg["msg_type"] == "stream":
            chunks.append(msg["content"]["text"])
        if msg["msg_type"] == "error":
            chunks.append("\n".join(msg["content"]["traceback"]))

    reply = kc.execute_interactive(code, timeout=timeout, output_hook=output)
    assert reply["content"]["status"] == "ok", "".join(chunks)
    return "".join(chunks)


def test_kernel_and_batch_run_share_the_warehouse(workspace, kernel):
    assert run_pipeline(workspace, "p").exit_code == 0
    execute(kernel, "import millpond as mp\nctx = mp.stage()\na = ctx.table('bronze.a')")
    assert execute(kernel, "print(a.count().execute())").strip() == "3"

    # between cells the kernel holds nothing: a batch rebuild goes through at once
    rebuilt = run_pipeline(workspace, "p", RunOptions(params={"n": "7"}))
    assert rebuilt.exit_code == 0
    # and the expression built before still runs, now on the new table
    assert execute(kernel, "print(a.count().execute())").strip() == "7"

    # while a cell runs, the batch stage waits for it instead of failing
    cell_done: dict[str, float] = {}

    def long_cell():
        execute(kernel, "import time\nprint(a.count().execute())\ntime.sleep(6)")
        cell_done["at"] = time.time()

    reader = threading.Thread(target=long_cell)
    reader.start()
    time.sleep(2)  # the cell has the warehouse by now
    waited = run_pipeline(workspace, "p", RunOptions(params={"n": "9"}))
    reader.join(timeout=60)
    assert waited.exit_code == 0
    stage = open_store(workspace).materializations(waited.run_id)[0]
    assert stage["rows"] == 9
    assert stage["built_at"] >= cell_done["at"] - 0.5
    assert execute(kernel, "print(a.count().execute())").strip() == "9"


def test_interactive_materialize_is_recorded_and_forces_a_batch_rebuild(workspace, kernel):
    assert run_pipeline(workspace, "p").exit_code == 0
    execute(kernel, "import millpond as mp, ibis\nctx = mp.stage()")
    execute(kernel, "ctx.materialize(ibis.memtable({'x': [1]}), 'bronze.a')")
    latest = open_store(workspace).latest_materialization("bronze.a")
    assert (latest.run_id, latest.rows) == (None, 1)
    again = run_pipeline(workspace, "p")
    assert {s["stage"]: s["status"] for s in open_store(workspace).stage_runs(again.run_id)} == {"a": "success"}
