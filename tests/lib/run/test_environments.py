"""Development environments (:mod:`millpond.environment`, :mod:`millpond.run.environments`):
exploring outside ``millpond run`` never changes production; ``millpond env
list|diff|promote|drop``; one history per warehouse and environment."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import pytest

from millpond.cli import main
from millpond.environment import env_names
from millpond.run.runner import RunOptions, run_pipeline
from millpond.workspace import Workspace
from support.stores import store_file, store_of
from support.workspaces import COPY_TABLE, MAKE_ROWS, make_workspace, query, write_notebook

MILLPOND = str(Path(sys.executable).parent / "millpond")
PAPERMILL = str(Path(sys.executable).parent / "papermill")


def _workspace(root: Path, n: int = 3) -> Workspace:
    write_notebook(root / "notebooks/make.ipynb", "n = 1\ntable = 'silver.a'", *MAKE_ROWS)
    write_notebook(root / "notebooks/copy.ipynb", "source = 'silver.a'\ntable = 'gold.b'", *COPY_TABLE)
    _set_rows(root, n)
    return Workspace(root)


def _set_rows(root: Path, n: int) -> None:
    stages = [
        {"name": "make", "notebook": "notebooks/make.ipynb", "params": {"n": n}, "produces": ["silver.a"]},
        {"name": "copy", "notebook": "notebooks/copy.ipynb", "needs": ["make"], "produces": ["gold.b"]},
    ]
    make_workspace(root, {"p": {"stages": stages}})


def _explore(root: Path, notebook: str, env: dict[str, str], *params: str) -> None:
    """Run a stage notebook the way a person does outside millpond: plain Papermill."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith("MILLPOND_")}
    done = subprocess.run(
        [PAPERMILL, "-k", "python3", str(root / notebook), str(root / "out.ipynb"), *params],
        env=clean | {"MILLPOND_WORKSPACE": str(root)} | env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-2000:]


def _plan(ws: Workspace) -> dict[str, str]:
    return run_pipeline(ws, "p", RunOptions(dry_run=True)).plan


def _schemas(ws: Workspace) -> set[str]:
    return {s for (s,) in query(ws, "SELECT DISTINCT table_schema FROM information_schema.tables")}


def test_a_notebook_run_outside_millpond_run_builds_in_the_persons_own_environment(tmp_path):
    ws = _workspace(tmp_path / "w")
    assert run_pipeline(ws, "p").exit_code == 0
    versions_before = [v.version for v in store_of(ws).table_versions("gold.b")]

    _explore(ws.root, "notebooks/copy.ipynb", {"LOGNAME": "Alice.Smith", "USER": "Alice.Smith"})

    # production is as it was: the same versions, rows, and nothing to rerun
    assert [v.version for v in store_of(ws).table_versions("gold.b")] == versions_before == [1]
    assert query(ws, "SELECT count(*) FROM gold.b") == [(3,)]
    assert set(_plan(ws).values()) == {"skip (unchanged)"}
    # the build went to the person's environment, which read production's silver.a
    assert env_names(ws) == ["alice_smith"]
    assert query(ws, "SELECT count(*) FROM gold__alice_smith.b") == [(3,)]
    assert "silver__alice_smith" not in _schemas(ws)
    assert [m for m in store_of(ws, "alice_smith").latest_materializations()] == ["gold.b"]


def test_an_environment_reads_its_own_builds_and_production_for_the_rest(tmp_path):
    ws = _workspace(tmp_path / "w")
    assert run_pipeline(ws, "p").exit_code == 0

    _explore(ws.root, "notebooks/make.ipynb", {"MILLPOND_ENV": "bob"}, "-p", "n", "5")
    _explore(ws.root, "notebooks/copy.ipynb", {"MILLPOND_ENV": "bob"})

    assert query(ws, "SELECT count(*) FROM silver__bob.a") == [(5,)]
    assert query(ws, "SELECT count(*) FROM gold__bob.b") == [(5,)]  # bob's silver.a, not production's
    assert query(ws, "SELECT count(*) FROM gold.b") == [(3,)]


def test_promote_swaps_the_changed_tables_in_and_the_next_run_recomputes_nothing(tmp_path, capsys):
    ws = _workspace(tmp_path / "w")
    assert run_pipeline(ws, "p").exit_code == 0
    _set_rows(ws.root, 7)  # the change under review
    assert main(["run", "p", "--env", "feature-x", "-C", str(ws.root), "--plain"]) == 0  # read as feature_x
    assert query(ws, "SELECT count(*) FROM gold.b") == [(3,)]  # production untouched by the environment's run
    capsys.readouterr()

    assert main(["env", "list", "-C", str(ws.root)]) == 0
    assert "feature_x" in capsys.readouterr().out
    assert main(["env", "diff", "feature_x", "-C", str(ws.root)]) == 0
    diff = {line.split()[1]: line.split()[0] for line in capsys.readouterr().out.splitlines()}
    assert diff == {"gold.b": "changed", "silver.a": "changed"}

    assert main(["env", "promote", "feature_x", "-C", str(ws.root)]) == 0
    assert "2 tables swapped in together" in capsys.readouterr().out
    assert query(ws, "SELECT count(*) FROM silver.a") == [(7,)]
    assert query(ws, "SELECT count(*) FROM gold.b") == [(7,)]
    versions = store_of(ws).table_versions("gold.b")
    assert [v.version for v in versions] == [1, 2] and versions[-1].note == "promoted from environment feature_x"
    # production's next run finds every stage as the environment left it
    assert set(_plan(ws).values()) == {"skip (unchanged)"}
    again = run_pipeline(ws, "p")
    assert {s["status"] for s in store_of(ws).stage_runs(again.run_id)} == {"skipped"}


def test_an_identical_table_is_not_copied(tmp_path, capsys):
    ws = _workspace(tmp_path / "w")
    assert run_pipeline(ws, "p").exit_code == 0
    assert main(["run", "p", "--env", "same", "-C", str(ws.root), "--plain"]) == 0
    capsys.readouterr()
    assert main(["env", "diff", "same", "-C", str(ws.root)]) == 0
    assert {line.split()[0] for line in capsys.readouterr().out.splitlines()} == {"identical"}
    assert main(["env", "promote", "same", "-C", str(ws.root)]) == 0
    assert "0 tables swapped in together, 2 identical" in capsys.readouterr().out
    assert [v.version for v in store_of(ws).table_versions("gold.b")] == [1]
    assert set(_plan(ws).values()) == {"skip (unchanged)"}


def test_drop_removes_the_environments_tables_and_history(tmp_path, capsys):
    ws = _workspace(tmp_path / "w")
    assert run_pipeline(ws, "p").exit_code == 0
    assert main(["run", "p", "--env", "scratch", "-C", str(ws.root), "--plain"]) == 0
    assert {"silver__scratch", "gold__scratch"} <= _schemas(ws)
    assert main(["env", "drop", "scratch", "-C", str(ws.root)]) == 0
    assert "2 tables" in capsys.readouterr().out
    assert not any(s.endswith("__scratch") for s in _schemas(ws))
    assert env_names(ws) == [] and not store_file(ws, "scratch").exists()
    assert query(ws, "SELECT count(*) FROM gold.b") == [(3,)]


@pytest.mark.parametrize(
    "argv, message",
    [
        (["env", "diff"], "name the environment"),
        (["env", "promote", "nobody"], "no environment nobody on this warehouse"),
        (["env", "drop", "prod"], "prod is what the others are compared with"),
        (["env", "diff", "9lives"], "environment name '9lives'"),
        (["env", "explode", "x"], "expected one of list, diff, promote, drop"),
        (["--env", "a__b", "runs"], "environment name 'a__b'"),
    ],
)
def test_env_mistakes_answer_in_one_line(tmp_path, capsys, argv, message):
    ws = _workspace(tmp_path / "w")
    assert main([*argv, "-C", str(ws.root)]) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1 and "Traceback" not in err


def test_a_promotion_killed_at_any_moment_leaves_production_consistent(tmp_path):
    ws = _workspace(tmp_path / "w")
    assert run_pipeline(ws, "p").exit_code == 0
    _set_rows(ws.root, 7)
    assert main(["run", "p", "--env", "feat", "-C", str(ws.root), "--plain"]) == 0
    rng = random.Random(21)
    for _ in range(3):
        promotion = subprocess.Popen(
            [MILLPOND, "env", "promote", "feat", "-C", str(ws.root)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
        )
        time.sleep(rng.uniform(0.3, 2.0))
        promotion.send_signal(signal.SIGKILL)
        promotion.wait(timeout=30)
        (a,), (b,) = query(ws, "SELECT count(*) FROM silver.a")[0], query(ws, "SELECT count(*) FROM gold.b")[0]
        assert (a, b) in {(3, 3), (7, 7)}  # all of the environment's tables, or none
    # the next promotion sweeps what a killed one left staged (a run sweeps only its publish group):
    # one such table for certain, whatever the kills above hit
    with duckdb.connect(str(ws.warehouse_file())) as db:
        db.execute("CREATE TABLE silver._mp_pending_0badf00d_a AS SELECT 1 AS x")
    assert main(["env", "promote", "feat", "-C", str(ws.root)]) == 0
    # the next production run is correct, and nothing is left locked or staged
    assert run_pipeline(ws, "p").exit_code == 0
    assert query(ws, "SELECT count(*) FROM silver.a") == query(ws, "SELECT count(*) FROM gold.b") == [(7,)]
    assert query(ws, "SELECT count(*) FROM information_schema.tables WHERE table_name LIKE '_mp_pending_%'") == [(0,)]


def test_switching_the_warehouse_back_and_forth_changes_nothing(tmp_path, monkeypatch):
    ws = _workspace(tmp_path / "w")
    first = run_pipeline(ws, "p")
    assert first.exit_code == 0
    monkeypatch.setenv("MILLPOND_WAREHOUSE", f"duckdb://{tmp_path}/other.duckdb")
    other = Workspace(ws.root)
    assert set(_plan(other).values()) == {"run (never built)"}  # another warehouse: its own, empty history
    assert run_pipeline(other, "p").exit_code == 0
    assert len(store_of(other).table_versions("gold.b")) == 1
    other_store = store_file(other)
    monkeypatch.delenv("MILLPOND_WAREHOUSE")

    back = Workspace(ws.root)
    assert set(_plan(back).values()) == {"skip (unchanged)"}
    assert [(v.version, v.run_id) for v in store_of(back).table_versions("gold.b")] == [(1, first.run_id)]
    assert store_file(back) != other_store


def test_a_store_of_the_old_layout_becomes_the_current_warehouses_history(tmp_path):
    ws = _workspace(tmp_path / "w")
    first = run_pipeline(ws, "p")
    for path in store_file(ws).parent.iterdir():  # as an older millpond left it: one store for all warehouses
        path.rename(ws.meta_dir / path.name)
    assert set(_plan(Workspace(ws.root)).values()) == {"skip (unchanged)"}
    assert store_of(ws).runs(1)[0]["run_id"] == first.run_id


@pytest.mark.postgres
def test_a_postgres_run_leaves_the_duckdb_history_alone(tmp_path, monkeypatch, postgres_server):
    ws = _workspace(tmp_path / "w")
    first = run_pipeline(ws, "p")
    monkeypatch.setenv("MILLPOND_WAREHOUSE", postgres_server.fresh_database("env_switch"))
    on_pg = Workspace(ws.root)
    assert run_pipeline(on_pg, "p").exit_code == 0
    assert store_of(on_pg).runs(5)[0]["run_id"] != first.run_id
    identity = (store_file(on_pg).parent.parent / "warehouse.txt").read_text().strip()
    monkeypatch.delenv("MILLPOND_WAREHOUSE")
    back = Workspace(ws.root)
    assert [r["run_id"] for r in store_of(back).runs(5)] == [first.run_id]
    assert [v.run_id for v in store_of(back).table_versions("gold.b")] == [first.run_id]
    assert set(_plan(back).values()) == {"skip (unchanged)"}
    assert identity == f"postgres://127.0.0.1:{postgres_server.port}/env_switch"  # no user, no password
