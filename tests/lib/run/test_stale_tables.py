"""Never silently stale: a stage reruns whenever a table it read has a new build, and a
stage cannot read a table of its pipeline that its ``needs`` do not lead to."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from millpond.errors import SpecError
from millpond.pipeline.load import load_pipeline
from millpond.run.runner import RunOptions, open_store, run_pipeline
from millpond.workspace import Workspace
from support.workspaces import make_workspace, query, write_notebook

MILLPOND = str(Path(sys.executable).parent / "millpond")

# A table of one row: the parameter ``value`` and the moment it was built (a new build, a new stamp).
STAMP = (
    "import millpond as mp, ibis, time\nctx = mp.stage()",
    "ctx.materialize(ibis.memtable({'value': [value], 'stamp': [time.time_ns()]}), table)",
)
COPY = ("import millpond as mp\nctx = mp.stage()", "ctx.materialize(ctx.table(source), table)")
# The name built at run time, which no reading of the notebook can see.
HIDDEN_COPY = (
    "import millpond as mp\nctx = mp.stage()",
    "ctx.materialize(ctx.table('.'.join(['probe', 't' + '1'])), 'probe.t2')",
)


def _statuses(ws: Workspace, run_id: str) -> dict[str, str]:
    return {s["stage"]: s["status"] for s in open_store(ws).stage_runs(run_id)}


def _notebooks(root: Path) -> None:
    write_notebook(root / "notebooks/stamp.ipynb", "value = 1\ntable = 'probe.t1'", *STAMP)
    write_notebook(root / "notebooks/copy.ipynb", "source = 'probe.t1'\ntable = 'probe.t2'", *COPY)
    write_notebook(root / "notebooks/hidden.ipynb", "x = 0", *HIDDEN_COPY)


def test_a_rebuilt_table_reruns_everything_downstream(tmp_path):
    """``--full-refresh`` of a middle table: its downstream reruns although nothing else changed."""
    _notebooks(tmp_path)
    stages = [
        {"name": "a", "notebook": "notebooks/stamp.ipynb", "produces": ["probe.t1"]},
        {
            "name": "b",
            "notebook": "notebooks/stamp.ipynb",
            "needs": ["a"],
            "params": {"table": "probe.t2"},
            "produces": ["probe.t2"],
        },
        {
            "name": "c",
            "notebook": "notebooks/copy.ipynb",
            "needs": ["b"],
            "params": {"source": "probe.t2", "table": "probe.t3"},
            "produces": ["probe.t3"],
        },
    ]
    ws = Workspace(make_workspace(tmp_path, {"p": {"stages": stages}}))
    assert run_pipeline(ws, "p").exit_code == 0
    again = run_pipeline(ws, "p", RunOptions(full_refresh=["probe.t2"]))
    assert _statuses(ws, again.run_id) == {"a": "skipped", "b": "success", "c": "success"}
    assert query(ws, "SELECT stamp FROM probe.t3") == query(ws, "SELECT stamp FROM probe.t2")
    quiet = run_pipeline(ws, "p")
    assert set(_statuses(ws, quiet.run_id).values()) == {"skipped"}


def _probe(root: Path, notebook: str = "notebooks/copy.ipynb") -> Workspace:
    """The issue's case: A builds probe.t1 from a parameter, B copies it without needing A."""
    _notebooks(root)
    stages = [
        {"name": "a", "notebook": "notebooks/stamp.ipynb", "produces": ["probe.t1"]},
        {"name": "b", "notebook": notebook, "produces": ["probe.t2"]},
    ]
    return Workspace(make_workspace(root, {"p": {"stages": stages}}))


def test_validate_refuses_a_visible_read_outside_needs(tmp_path):
    ws = _probe(tmp_path)
    with pytest.raises(SpecError) as refused:
        load_pipeline(ws, "p")
    message = str(refused.value)
    assert message.startswith("pipelines/p.yml:")
    assert "probe.t1" in message and "stage a" in message and "needs: [a]" in message
    shown = subprocess.run([MILLPOND, "validate", "-C", str(tmp_path)], capture_output=True, text=True, timeout=60)
    assert shown.returncode == 2
    assert len(shown.stderr.strip().splitlines()) == 1 and "Traceback" not in shown.stderr


def test_a_hidden_read_outside_needs_fails_its_stage_with_one_line(tmp_path):
    ws = _probe(tmp_path, "notebooks/hidden.ipynb")
    result = run_pipeline(ws, "p", RunOptions(jobs=2))
    stages = {s["stage"]: s for s in open_store(ws).stage_runs(result.run_id)}
    assert stages["a"]["status"] == "success"
    assert stages["b"]["status"] == "failed"
    assert "stage b reads probe.t1, which stage a builds, but does not need a" in stages["b"]["error"]


def test_a_table_of_another_pipeline_read_again_after_its_rebuild(tmp_path):
    """No ``needs`` can name another pipeline's stage: what the stage read decides."""
    _notebooks(tmp_path)
    source = {"stages": [{"name": "make", "notebook": "notebooks/stamp.ipynb", "produces": ["probe.t1"]}]}
    reader = {"stages": [{"name": "copy", "notebook": "notebooks/copy.ipynb", "produces": ["probe.t2"]}]}
    ws = Workspace(make_workspace(tmp_path, {"source": source, "reader": reader}))
    assert run_pipeline(ws, "source").exit_code == 0
    assert run_pipeline(ws, "reader").exit_code == 0
    assert set(_statuses(ws, run_pipeline(ws, "reader").run_id).values()) == {"skipped"}
    rebuilt = run_pipeline(ws, "source", RunOptions(params={}, force=True))
    assert rebuilt.exit_code == 0
    again = run_pipeline(ws, "reader")
    assert _statuses(ws, again.run_id) == {"copy": "success"}
    assert query(ws, "SELECT stamp FROM probe.t2") == query(ws, "SELECT stamp FROM probe.t1")
    assert set(_statuses(ws, run_pipeline(ws, "reader").run_id).values()) == {"skipped"}
