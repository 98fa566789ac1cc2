"""Issue 21.4: the surprises of a first hour, each answered in one line, before anything runs."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from support.workspaces import make_workspace, write_notebook

MILLPOND = str(Path(sys.executable).parent / "millpond")
PASSWORD = "hunter2-literal"


def _millpond(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in ("MILLPOND_WORKSPACE", "MILLPOND_WAREHOUSE")}
    return subprocess.run([MILLPOND, *args], capture_output=True, text=True, timeout=120, cwd=cwd, env=env)


def _one_line_error(done: subprocess.CompletedProcess, *says: str) -> str:
    assert done.returncode == 2, (done.returncode, done.stdout, done.stderr)
    err = done.stderr.strip()
    assert len(err.splitlines()) == 1 and "Traceback" not in err + done.stdout, err
    for fragment in says:
        assert fragment in err, err
    return err


def _workspace(root: Path, warehouse: str) -> Path:
    write_notebook(root / "notebooks/n.ipynb", "n = 1", "import millpond as mp\nctx = mp.stage()")
    stages = [{"name": "a", "notebook": "notebooks/n.ipynb", "produces": ["s.a"]}]
    return make_workspace(root, {"p": {"stages": stages}}, {"name": "t", "warehouse": warehouse})


def test_outside_any_workspace_the_cli_says_so_instead_of_using_the_repository(tmp_path):
    """From an empty folder (even inside this repository's checkout no workspace is guessed)."""
    _one_line_error(_millpond("runs", cwd=tmp_path), "no millpond.yml found", str(tmp_path))


@pytest.mark.parametrize("command", [["run", "p", "--dry-run"], ["run", "p"], ["catalog"], ["versions", "s.a"]])
def test_a_misspelled_warehouse_url_is_caught_before_anything_runs(tmp_path, command):
    root = _workspace(tmp_path / "w", f"dukdb://me:{PASSWORD}@host/data/w.duckdb")
    err = _one_line_error(_millpond(*command, cwd=root), "no engine for 'dukdb'", "did you mean duckdb://")
    assert PASSWORD not in err
    assert not (root / "data" / "runs").exists()  # no run started


@pytest.mark.parametrize("command", [["run", "p", "--dry-run"], ["run", "p"]])
def test_a_server_that_does_not_answer_fails_the_run_up_front_without_its_password(tmp_path, command):
    root = _workspace(tmp_path / "w", f"postgres://me:{PASSWORD}@127.0.0.1:1/shop")
    err = _one_line_error(
        _millpond(*command, cwd=root), "cannot connect to warehouse postgres://me:***@127.0.0.1:1/shop"
    )
    assert PASSWORD not in err
    assert not (root / "data" / "runs").exists()


def test_validate_reports_every_error_of_every_file(tmp_path):
    root = _workspace(tmp_path / "w", "duckdb://data/w.duckdb")
    pipelines = root / "pipelines"
    (pipelines / "p.yml").write_text(
        "params:\n"
        "  run_date: {typ: date, default: '2024-01-01'}\n"  # line 2: `type` misspelled
        "stages:\n"
        "- {name: a, notebook: notebooks/n.ipynb, produces: [s.a], tables: {s.a: {knd: table}}}\n"  # line 4
        "- {nme: b, notebook: notebooks/n.ipynb}\n"  # line 5
    )
    (pipelines / "q.yml").write_text("stages:\n- {name: a, notebook: notebooks/missing.ipynb}\n")
    (pipelines / "r.yml").write_text("stages:\n- {name: a, notebook: notebooks/n.ipynb, produces: [s.r]}\n")
    done = _millpond("validate", cwd=root)
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert done.stdout.splitlines() == ["pipelines/r.yml: ok (1 stages)"]
    assert done.stderr.splitlines() == [
        "error: pipelines/p.yml:2: params.run_date.typ: unknown key (did you mean type?)",
        "error: pipelines/p.yml:4: stages[0].tables.s.a.knd: unknown key (did you mean kind?)",
        "error: pipelines/p.yml:5: stages[1].nme: unknown key (did you mean name?)",
        "error: pipelines/q.yml:2: stages[0].notebook: notebook not found: notebooks/missing.ipynb",
    ]
