"""The runner on small workspaces of trivial notebooks: real kernels, a real DuckDB file."""

from __future__ import annotations

import duckdb
import pytest

from millpond.cli import main
from millpond.errors import LockError
from millpond.run.lock import RunLock
from millpond.run.runner import RunOptions, open_store, run_pipeline
from millpond.workspace import Workspace
from support.workspaces import COPY_TABLE, MAKE_ROWS, make_workspace, write_notebook


def rows(ws: Workspace, table: str) -> int:
    con = duckdb.connect(str(ws.warehouse_file()), read_only=True)
    try:
        return con.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
    finally:
        con.close()


@pytest.fixture
def diamond(tmp_path) -> Workspace:
    """a -> b, raw -> (reads data/raw/x.csv), c independent."""
    nb = tmp_path / "notebooks"
    write_notebook(nb / "make.ipynb", "n = 1\ntable = 'bronze.t'", *MAKE_ROWS)
    write_notebook(nb / "copy.ipynb", "source = 'bronze.t'\ntable = 'silver.t'", *COPY_TABLE)
    write_notebook(
        nb / "ingest.ipynb",
        "path = 'data/raw/x.csv'",
        "import millpond as mp\nctx = mp.stage()",
        "ctx.materialize(ctx.read_csv(path), 'bronze.x')",
    )
    (tmp_path / "data/raw").mkdir(parents=True)
    (tmp_path / "data/raw/x.csv").write_text("id\n1\n2\n")
    spec = {
        "params": {"n": {"type": "int", "default": 3}},
        "stages": [
            {
                "name": "a",
                "notebook": "notebooks/make.ipynb",
                "params": {"table": "bronze.a"},
                "produces": ["bronze.a"],
            },
            {
                "name": "b",
                "notebook": "notebooks/copy.ipynb",
                "needs": ["a"],
                "params": {"source": "bronze.a", "table": "silver.b"},
                "produces": ["silver.b"],
            },
            {
                "name": "raw",
                "notebook": "notebooks/ingest.ipynb",
                "reads": ["data/raw/*.csv"],
                "produces": ["bronze.x"],
            },
            {
                "name": "c",
                "notebook": "notebooks/copy.ipynb",
                "needs": ["raw"],
                "params": {"source": "bronze.x", "table": "silver.x"},
                "produces": ["silver.x"],
            },
        ],
    }
    make_workspace(tmp_path, {"p": spec})
    return Workspace(tmp_path)


def statuses(ws: Workspace, run_id: str) -> dict[str, str]:
    return {s["stage"]: s["status"] for s in open_store(ws).stage_runs(run_id)}


def test_skip_rerun_rules(diamond):
    ws = diamond
    first = run_pipeline(ws, "p", RunOptions(jobs=2))
    assert first.exit_code == 0
    assert statuses(ws, first.run_id) == dict.fromkeys(["a", "b", "raw", "c"], "success")
    assert rows(ws, "bronze.a") == 3 and rows(ws, "silver.b") == 3 and rows(ws, "silver.x") == 2
    # --jobs 2: the two independent branches ran at the same time
    times = {s["stage"]: (s["started_at"], s["finished_at"]) for s in open_store(ws).stage_runs(first.run_id)}
    assert times["a"][0] < times["raw"][1] and times["raw"][0] < times["a"][1]

    second = run_pipeline(ws, "p")
    assert set(statuses(ws, second.run_id).values()) == {"skipped"}

    # a changed parameter reruns exactly the stage that takes it and what depends on it
    third = run_pipeline(ws, "p", RunOptions(params={"n": "5"}))
    assert statuses(ws, third.run_id) == {"a": "success", "b": "success", "raw": "skipped", "c": "skipped"}
    assert rows(ws, "silver.b") == 5

    # new raw data reruns its ingest stage and what depends on it
    (ws.root / "data/raw/x.csv").write_text("id\n1\n2\n3\n")
    fourth = run_pipeline(ws, "p", RunOptions(params={"n": "5"}))
    assert statuses(ws, fourth.run_id) == {"a": "skipped", "b": "skipped", "raw": "success", "c": "success"}
    assert rows(ws, "silver.x") == 3

    # a dropped product is rebuilt; --force rebuilds everything selected
    con = duckdb.connect(str(ws.warehouse_file()))
    con.execute("DROP TABLE silver.b")
    con.close()
    fifth = run_pipeline(ws, "p", RunOptions(params={"n": "5"}))
    assert statuses(ws, fifth.run_id) == {"a": "skipped", "b": "success", "raw": "skipped", "c": "skipped"}
    forced = run_pipeline(ws, "p", RunOptions(params={"n": "5"}, stages=["c"], force=True))
    assert statuses(ws, forced.run_id) == {"c": "success"}

    # editing a notebook's source (not its outputs) reruns the stages that use it
    nb = ws.root / "notebooks/make.ipynb"
    nb.write_text(nb.read_text().replace("'x': list(range(n))", "'x': list(range(n)), 'y': list(range(n))"))
    sixth = run_pipeline(ws, "p", RunOptions(params={"n": "5"}))
    assert statuses(ws, sixth.run_id) == {"a": "success", "b": "success", "raw": "skipped", "c": "skipped"}

    # the history records every run, rows written and the executed notebooks
    history = open_store(ws).runs(limit=10)
    assert [r["run_id"] for r in history][:2] == [sixth.run_id, forced.run_id]
    b = {s["stage"]: s for s in open_store(ws).stage_runs(sixth.run_id)}["b"]
    assert b["rows_written"] == 5
    assert (ws.root / b["notebook"]).is_file() and (ws.root / b["html"]).is_file()


@pytest.fixture
def flaky(tmp_path) -> Workspace:
    nb = tmp_path / "notebooks"
    write_notebook(
        nb / "flaky.ipynb",
        "fail_until = 2\nmarker = 'data/attempts.txt'",
        """
        from pathlib import Path
        import millpond as mp
        ctx = mp.stage()
        counter = ctx.path(marker)
        counter.parent.mkdir(parents=True, exist_ok=True)
        attempt = int(counter.read_text()) + 1 if counter.exists() else 1
        counter.write_text(str(attempt))
        if attempt < fail_until:
            raise RuntimeError(f"attempt {attempt} fails on purpose")
        """,
    )
    write_notebook(nb / "sleep.ipynb", "seconds = 1.0", "import time\ntime.sleep(seconds)")
    write_notebook(nb / "make.ipynb", "n = 1\ntable = 'bronze.t'", *MAKE_ROWS)
    spec = {
        "stages": [
            {"name": "flaky", "notebook": "notebooks/flaky.ipynb", "params": {"fail_until": 3}},
            {
                "name": "after_flaky",
                "notebook": "notebooks/make.ipynb",
                "needs": ["flaky"],
                "params": {"n": 2, "table": "gold.after"},
                "produces": ["gold.after"],
            },
            {
                "name": "independent",
                "notebook": "notebooks/make.ipynb",
                "params": {"n": 4, "table": "gold.independent"},
                "produces": ["gold.independent"],
            },
        ],
    }
    retrying = {
        "defaults": {"retries": 2, "retry_backoff": 0.1},
        "stages": [
            {
                "name": "flaky",
                "notebook": "notebooks/flaky.ipynb",
                "params": {"fail_until": 3, "marker": "data/attempts2.txt"},
            }
        ],
    }
    slow = {
        "stages": [{"name": "slow", "notebook": "notebooks/sleep.ipynb", "timeout": 3, "params": {"seconds": 60.0}}]
    }
    make_workspace(tmp_path, {"p": spec, "retrying": retrying, "slow": slow})
    return Workspace(tmp_path)


def test_failure_stops_downstream_only_and_resume_reruns_the_rest(flaky, capsys):
    ws = flaky
    code = main(["run", "p", "-C", str(ws.root), "--jobs", "2", "--plain"])
    assert code == 1
    run_id = open_store(ws).runs(1)[0]["run_id"]
    assert statuses(ws, run_id) == {"flaky": "failed", "after_flaky": "upstream_failed", "independent": "success"}
    failed = {s["stage"]: s for s in open_store(ws).stage_runs(run_id)}["flaky"]
    assert failed["error"] == "cell 3: RuntimeError: attempt 1 fails on purpose"

    # attempt 2 fails too, attempt 3 succeeds: two resumes
    assert main(["run", "--resume", run_id, "-C", str(ws.root), "--plain"]) == 1
    assert main(["run", "--resume", run_id, "-C", str(ws.root), "--plain"]) == 0
    last = open_store(ws).runs(1)[0]
    assert last["resumed_from"] == run_id
    # independent succeeded before, but its gold table was not published (the run failed; gold is
    # published together): it is built again so that the whole gold layer comes from this run
    assert statuses(ws, last["run_id"]) == {"flaky": "success", "after_flaky": "success", "independent": "success"}
    out = capsys.readouterr().out
    assert "upstream_failed after_flaky" in out


def test_retries_with_backoff(flaky):
    result = run_pipeline(flaky, "retrying")
    assert result.exit_code == 0
    stage = open_store(flaky).stage_runs(result.run_id)[0]
    assert (stage["status"], stage["attempts"]) == ("success", 3)
    assert (flaky.root / "data/attempts2.txt").read_text() == "3"


def test_stage_timeout_kills_the_kernel(flaky):
    result = run_pipeline(flaky, "slow")
    stage = open_store(flaky).stage_runs(result.run_id)[0]
    assert (stage["status"], stage["error"]) == ("timeout", "timed out after 3 s")
    assert stage["finished_at"] - stage["started_at"] < 30
    assert result.exit_code == 1


def test_a_second_run_refuses_while_one_holds_the_workspace(flaky, capsys):
    with RunLock(flaky.meta_dir, "run X of p"):
        with pytest.raises(LockError, match=r"another run is in progress on this workspace \(run X of p, pid \d+\)"):
            run_pipeline(flaky, "p")
        assert main(["run", "p", "-C", str(flaky.root)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: another run is in progress") and err.count("\n") == 1
    assert open_store(flaky).runs() == []


def test_a_killed_run_is_marked_interrupted_by_the_next(flaky):
    store = open_store(flaky)
    store.start_run("20240101T000000-dead", "p", {}, ["flaky", "independent"])
    store.set_stage("20240101T000000-dead", "flaky", status="running")
    run_pipeline(flaky, "slow", RunOptions(dry_run=True))  # a dry run takes no lock: nothing changes
    assert store.run("20240101T000000-dead")["status"] == "running"
    run_pipeline(flaky, "p", RunOptions(stages=["independent"]))
    assert store.run("20240101T000000-dead")["status"] == "interrupted"
    assert {s["stage"]: s["status"] for s in store.stage_runs("20240101T000000-dead")} == {
        "flaky": "failed",
        "independent": "failed",
    }


def test_declared_product_that_is_not_built_fails_the_stage(tmp_path):
    write_notebook(tmp_path / "notebooks/noop.ipynb", "x = 1", "y = x + 1")
    make_workspace(
        tmp_path, {"p": {"stages": [{"name": "noop", "notebook": "notebooks/noop.ipynb", "produces": ["gold.t"]}]}}
    )
    ws = Workspace(tmp_path)
    result = run_pipeline(ws, "p")
    stage = open_store(ws).stage_runs(result.run_id)[0]
    assert stage["status"] == "failed"
    assert "declared produces gold.t but did not materialize it" in stage["error"]


def test_spec_error_is_one_line_without_traceback(tmp_path, capsys):
    make_workspace(tmp_path, {"p": {"stages": [{"name": "a", "notebook": "notebooks/missing.ipynb"}]}})
    assert main(["run", "p", "-C", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err == "error: pipelines/p.yml:3: stages[0].notebook: notebook not found: notebooks/missing.ipynb\n"
    assert main(["run", "nope", "-C", str(tmp_path)]) == 2
    assert capsys.readouterr().err == "error: no pipeline 'nope' in pipelines (known: p)\n"


def test_dry_run_plans_without_running(diamond, capsys):
    assert main(["run", "p", "-C", str(diamond.root), "--dry-run", "--from", "raw"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert [line.split()[0] for line in out] == ["raw", "c"]
    assert all("run (never built)" in line for line in out)
    assert open_store(diamond).runs() == []


def test_runs_lists_history_and_one_run(diamond, capsys, monkeypatch):
    assert main(["run", "p", "-C", str(diamond.root), "--stage", "a", "--plain"]) == 0
    run_id = open_store(diamond).runs(1)[0]["run_id"]
    capsys.readouterr()
    monkeypatch.chdir(diamond.root / "notebooks")  # paths resolve from the workspace root
    assert main(["runs"]) == 0
    listing = capsys.readouterr().out
    assert run_id in listing and "n=3" in listing and "success" in listing
    assert main(["runs", run_id]) == 0
    detail = capsys.readouterr().out
    assert f"run {run_id}: p success" in detail
    assert "a " in detail and "data/runs/" in detail
    assert main(["runs", "nope"]) == 2
    assert capsys.readouterr().err == "error: no run 'nope' (see `millpond runs`)\n"
