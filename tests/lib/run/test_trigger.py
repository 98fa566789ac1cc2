"""``trigger: all_done``: a stage (a report) that runs after its upstream failed."""

from __future__ import annotations

from millpond.run.runner import RunOptions, open_store, run_pipeline
from millpond.workspace import Workspace
from support.workspaces import COPY_TABLE, MAKE_ROWS, make_workspace, write_notebook


def test_an_all_done_stage_runs_after_a_failure_and_the_run_still_fails(tmp_path):
    write_notebook(tmp_path / "notebooks/make.ipynb", "n = 3\ntable = 'bronze.a'", *MAKE_ROWS)
    write_notebook(tmp_path / "notebooks/broken.ipynb", "", "raise RuntimeError('bad input')")
    write_notebook(tmp_path / "notebooks/copy.ipynb", "source = 'bronze.a'\ntable = 'gold.a'", *COPY_TABLE)
    write_notebook(
        tmp_path / "notebooks/report.ipynb", "", "from pathlib import Path\nPath('reported').write_text('yes')"
    )
    spec = {
        "stages": [
            {"name": "make", "notebook": "notebooks/make.ipynb", "produces": ["bronze.a"]},
            {"name": "broken", "notebook": "notebooks/broken.ipynb", "needs": ["make"], "retries": 0},
            {"name": "publish", "notebook": "notebooks/copy.ipynb", "needs": ["broken"], "produces": ["gold.a"]},
            {
                "name": "report",
                "notebook": "notebooks/report.ipynb",
                "needs": ["make", "broken", "publish"],
                "trigger": "all_done",
                "retries": 0,
            },
        ]
    }
    make_workspace(tmp_path, {"p": spec})
    ws = Workspace(tmp_path)
    result = run_pipeline(ws, "p", RunOptions())
    assert result.stages == {"make": "success", "broken": "failed", "publish": "upstream_failed", "report": "success"}
    assert result.status == "failed" and result.exit_code == 1
    assert (tmp_path / "reported").read_text() == "yes"
    # started only after every stage it needs had finished
    rows = {r["stage"]: r for r in open_store(ws).stage_runs(result.run_id)}
    assert rows["report"]["started_at"] >= max(rows[s]["finished_at"] for s in ("make", "broken", "publish"))

    # a rerun with nothing fixed: the failure is retried and the report runs again on the new run
    (tmp_path / "reported").unlink()
    again = run_pipeline(ws, "p", RunOptions())
    assert again.stages == {"make": "skipped", "broken": "failed", "publish": "upstream_failed", "report": "success"}
    assert (tmp_path / "reported").exists()
