"""``millpond run --profile`` puts query plans in the executed notebooks; ``resources:``
settings reach DuckDB and are recorded with the run; stage timings are reported."""

from __future__ import annotations

import nbformat
import pytest

from millpond.cli import main
from millpond.run.runner import RunOptions, open_store, run_pipeline
from millpond.workspace import Workspace
from support.workspaces import COPY_TABLE, MAKE_ROWS, make_workspace, write_notebook


@pytest.fixture
def workspace(tmp_path) -> Workspace:
    write_notebook(tmp_path / "notebooks/make.ipynb", "n = 3\ntable = 'bronze.a'", *MAKE_ROWS)
    write_notebook(tmp_path / "notebooks/copy.ipynb", "source = 'bronze.a'\ntable = 'silver.b'", *COPY_TABLE)
    write_notebook(
        tmp_path / "notebooks/settings.ipynb",
        "x = 0",
        "import millpond as mp\nctx = mp.stage()",
        "ctx.con.raw_sql(\"SELECT current_setting('threads'), current_setting('memory_limit')\").fetchall()",
    )
    make_workspace(
        tmp_path,
        {
            "p": {
                "stages": [
                    {"name": "a", "notebook": "notebooks/make.ipynb", "params": {"n": 1000}, "produces": ["bronze.a"]},
                    {"name": "b", "notebook": "notebooks/copy.ipynb", "needs": ["a"], "produces": ["silver.b"]},
                    {"name": "settings", "notebook": "notebooks/settings.ipynb"},
                ]
            }
        },
        {"name": "t", "resources": {"threads": 1, "memory_limit": "512MB", "temp_directory": "data/spill"}},
    )
    return Workspace(tmp_path)


def _outputs(path) -> str:
    nb = nbformat.read(path, as_version=4)
    return "\n".join(
        str(o.get("text", ""))
        + str(o.get("data", {}).get("text/markdown", ""))
        + str(o.get("data", {}).get("text/plain", ""))
        for c in nb.cells
        for o in c.get("outputs", [])
    )


def test_profile_shows_each_materialization_plan(workspace):
    plain = run_pipeline(workspace, "p", RunOptions(stages=["a"]))
    assert "Query plan" not in _outputs(workspace.runs_dir / plain.run_id / "a.ipynb")
    profiled = run_pipeline(workspace, "p", RunOptions(stages=["a", "b"], force=True, profile=True))
    assert profiled.exit_code == 0
    for stage, table in (("a", "bronze.a"), ("b", "silver.b")):
        text = _outputs(workspace.runs_dir / profiled.run_id / f"{stage}.ipynb")
        assert f"Query plan of {table} (duckdb EXPLAIN ANALYZE" in text
        assert "Total Time" in text and "SCAN" in text  # DuckDB's measured operator tree
    assert "1,000 rows" in _outputs(workspace.runs_dir / profiled.run_id / "b.ipynb") or "1000 rows" in _outputs(
        workspace.runs_dir / profiled.run_id / "b.ipynb"
    )


def test_resources_reach_duckdb_and_are_recorded(workspace, capsys):
    result = run_pipeline(workspace, "p", RunOptions(stages=["settings"], jobs=1))
    assert result.exit_code == 0
    text = _outputs(workspace.runs_dir / result.run_id / "settings.ipynb")
    assert "[(1, '488.2 MiB')]" in text  # 512 MB = 512e6 bytes = 488.28 MiB, as DuckDB reports it
    assert (workspace.root / "data" / "spill").is_dir()
    run = open_store(workspace).run(result.run_id)
    assert run["resources"]["threads"] == 1 and run["resources"]["memory_limit"] == "512MB"
    assert run["resources"]["temp_directory"] == "data/spill" and run["resources"]["jobs"] == 1
    assert main(["runs", result.run_id, "-C", str(workspace.root)]) == 0
    out = capsys.readouterr().out
    assert "memory_limit=512MB" in out and "threads=1" in out and "rows/s" in out


def test_stage_rows_per_second_from_the_history(workspace, capsys):
    result = run_pipeline(workspace, "p", RunOptions(stages=["a"]))
    stage = open_store(workspace).stage_runs(result.run_id)[0]
    expected = f"{1000 / (stage['finished_at'] - stage['started_at']):,.0f}"
    assert main(["runs", result.run_id, "-C", str(workspace.root)]) == 0
    row = next(line for line in capsys.readouterr().out.splitlines() if line.strip("│ ").startswith("a "))
    assert "1,000" in row and expected in row


def test_a_bad_memory_limit_is_a_one_line_error(tmp_path, capsys):
    make_workspace(tmp_path, {}, {"name": "t", "resources": {"memory_limit": "lots"}})
    assert main(["validate", "-C", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: millpond.yml") and "memory_limit" in err and "Traceback" not in err
