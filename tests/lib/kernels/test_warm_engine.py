"""The warm engine: kernels forked from one preloaded process, one per stage, started ahead.

Each test runs real pipelines through the runner; the second stage of a pair checks, from
inside its own kernel, that nothing the first stage did reached it.
"""

from __future__ import annotations

import json
import re

import nbformat
import pytest

from millpond.run.runner import RunOptions, open_store, run_pipeline
from millpond.workspace import Workspace
from support.workspaces import make_workspace, write_notebook

DIRTY = (
    "import os, sys, json, duckdb, pandas as pd",
    # everything a stage could leave behind: a variable, a module's state, the environment,
    # the working directory, sys.path, a library option and an open warehouse connection
    """
    leaked_variable = 42
    json.leaked_attribute = True
    os.environ['LEAKED_ENV'] = '1'
    sys.path.append('/leaked/path')
    pd.set_option('display.max_rows', 3)
    held = duckdb.connect(os.path.join(os.environ['MILLPOND_WORKSPACE'], 'data', 'other.duckdb'))
    held.execute('CREATE TABLE IF NOT EXISTS t AS SELECT 1 AS x')
    open(os.path.join(os.environ['MILLPOND_WORKSPACE'], 'first.json'), 'w').write(
        json.dumps({'pid': os.getpid(), 'cwd': os.getcwd()}))
    os.chdir('/')
    """,
)
CLEAN = (
    "import os, sys, json, duckdb, pandas as pd",
    """
    first = json.load(open(os.path.join(os.environ['MILLPOND_WORKSPACE'], 'first.json')))
    assert os.getpid() != first['pid'], 'same process'
    assert 'leaked_variable' not in globals(), 'a variable leaked'
    assert not hasattr(json, 'leaked_attribute'), 'module state leaked'
    assert 'LEAKED_ENV' not in os.environ, 'an environment variable leaked'
    assert '/leaked/path' not in sys.path, 'sys.path leaked'
    assert pd.get_option('display.max_rows') == 60, 'a pandas option leaked'
    assert os.getcwd() == first['cwd'], 'the working directory leaked'
    duckdb.connect(os.path.join(os.environ['MILLPOND_WORKSPACE'], 'data', 'other.duckdb')).close()  # not held
    assert os.environ['MILLPOND_STAGE'] == 'clean'
    print(json.dumps({'stage': os.environ['MILLPOND_STAGE'], 'run': os.environ['MILLPOND_RUN_ID']}))
    """,
)


@pytest.fixture
def workspace(tmp_path) -> Workspace:
    write_notebook(tmp_path / "notebooks/dirty.ipynb", "x = 0", *DIRTY)
    write_notebook(tmp_path / "notebooks/clean.ipynb", "x = 0", *CLEAN)
    write_notebook(
        tmp_path / "notebooks/crash.ipynb", "x = 0", "import os, signal\nos.kill(os.getpid(), signal.SIGKILL)"
    )
    write_notebook(tmp_path / "notebooks/plain.ipynb", "x = 0", "y = x * 2\ny")
    (tmp_path / "data").mkdir()
    make_workspace(
        tmp_path,
        {
            "leak": {
                "stages": [
                    {"name": "dirty", "notebook": "notebooks/dirty.ipynb"},
                    {"name": "clean", "notebook": "notebooks/clean.ipynb", "needs": ["dirty"]},
                ]
            },
            "crash": {
                "stages": [
                    {"name": "boom", "notebook": "notebooks/crash.ipynb"},
                    {"name": "after", "notebook": "notebooks/plain.ipynb", "needs": ["boom"]},
                    {"name": "beside", "notebook": "notebooks/plain.ipynb", "params": {"x": 21}},
                ]
            },
        },
    )
    return Workspace(tmp_path)


def _statuses(ws: Workspace, run_id: str) -> dict[str, str]:
    return {s["stage"]: s["status"] for s in open_store(ws).stage_runs(run_id)}


@pytest.mark.parametrize("jobs", [1, 2])
def test_nothing_one_stage_does_reaches_the_next(workspace, jobs):
    result = run_pipeline(workspace, "leak", RunOptions(jobs=jobs))
    assert _statuses(workspace, result.run_id) == {"dirty": "success", "clean": "success"}, open_store(
        workspace
    ).stage_runs(result.run_id)
    executed = nbformat.read(workspace.runs_dir / result.run_id / "clean.ipynb", as_version=4)
    printed = json.loads(executed.cells[-1].outputs[0]["text"])
    assert printed == {"stage": "clean", "run": result.run_id}


def test_a_stage_that_kills_its_kernel_fails_alone(workspace):
    result = run_pipeline(workspace, "crash", RunOptions(jobs=2))
    assert result.exit_code == 1
    stages = {s["stage"]: s for s in open_store(workspace).stage_runs(result.run_id)}
    assert {name: s["status"] for name, s in stages.items()} == {
        "boom": "failed",
        "after": "upstream_failed",
        "beside": "success",
    }
    assert "DeadKernelError" in stages["boom"]["error"] or "died" in stages["boom"]["error"].lower()
    again = run_pipeline(workspace, "leak")  # the engine still serves the next run
    assert again.exit_code == 0


def _comparable(path) -> dict:
    """An executed notebook without what differs run to run (times, durations, the injected cell's id)."""
    nb = nbformat.read(path, as_version=4)
    for cell in nb.cells:
        if "injected-parameters" in cell.metadata.get("tags", []):
            cell.id = "injected"  # papermill gives the cell it injects a random id
    text = json.dumps(nb, sort_keys=True)
    text = re.sub(r'"(start_time|end_time|duration)": [^,}]+', r'"\1": null', text)
    text = re.sub(r'"((iopub|shell)\.[a-z_.]+)": "[^"]*"', r'"\1": null', text)  # nbclient's timings
    text = re.sub(r'"(input_path|output_path)": "[^"]*"', r'"\1": null', text)
    return json.loads(text)


def test_executed_notebooks_are_what_papermill_writes(workspace, monkeypatch):
    ran = {}
    for engine in ("warm", "papermill"):
        monkeypatch.setenv("MILLPOND_ENGINE", engine)
        result = run_pipeline(workspace, "crash", RunOptions(stages=["beside"], force=True))
        assert result.exit_code == 0
        ran[engine] = _comparable(workspace.runs_dir / result.run_id / "beside.ipynb")
    assert ran["warm"] == ran["papermill"]
    cells = ran["warm"]["cells"]
    assert [c["metadata"].get("tags") for c in cells[:2]] == [["parameters"], ["injected-parameters"]]
    assert cells[-1]["outputs"][0]["data"]["text/plain"] == "42" and cells[-1]["execution_count"] == 3
