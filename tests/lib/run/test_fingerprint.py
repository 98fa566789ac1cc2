"""What a stage's fingerprint covers (:mod:`millpond.run.fingerprint`): not where the
workspace happens to lie."""

from __future__ import annotations

import shutil

from millpond.run.fingerprint import warehouse_key
from millpond.run.runner import open_store, run_pipeline
from millpond.workspace import Workspace
from support.workspaces import COPY_TABLE, MAKE_ROWS, make_workspace, query, write_notebook


def test_a_moved_workspace_reruns_nothing(tmp_path):
    write_notebook(tmp_path / "a/notebooks/make.ipynb", "n = 3\ntable = 'probe.t1'", *MAKE_ROWS)
    write_notebook(tmp_path / "a/notebooks/copy.ipynb", "source = 'probe.t1'\ntable = 'probe.t2'", *COPY_TABLE)
    raw = tmp_path / "a/data/raw"
    raw.mkdir(parents=True)
    (raw / "input.csv").write_text("x\n1\n")
    stages = [
        {"name": "make", "notebook": "notebooks/make.ipynb", "reads": ["data/raw/input.csv"], "produces": ["probe.t1"]},
        {"name": "copy", "notebook": "notebooks/copy.ipynb", "needs": ["make"], "produces": ["probe.t2"]},
    ]
    make_workspace(tmp_path / "a", {"p": {"stages": stages}})
    assert run_pipeline(Workspace(tmp_path / "a"), "p").exit_code == 0
    shutil.move(tmp_path / "a", tmp_path / "b")
    moved = Workspace(tmp_path / "b")
    again = run_pipeline(moved, "p")
    assert {s["stage"]: s["status"] for s in open_store(moved).stage_runs(again.run_id)} == {
        "make": "skipped",
        "copy": "skipped",
    }
    assert query(moved, "SELECT count(*) FROM probe.t2") == [(3,)]


def test_the_warehouse_key_of_a_file_outside_the_workspace_is_its_url(tmp_path, monkeypatch):
    make_workspace(tmp_path / "w", {})
    inside = Workspace(tmp_path / "w")
    assert warehouse_key(inside) == "duckdb://data/warehouse.duckdb"
    monkeypatch.setenv("MILLPOND_WAREHOUSE", f"duckdb://{tmp_path}/elsewhere.duckdb")
    assert warehouse_key(Workspace(tmp_path / "w")) == f"duckdb://{tmp_path}/elsewhere.duckdb"
