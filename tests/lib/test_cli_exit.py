"""The ``millpond`` command's quick exit (``millpond.quick_exit.exit_quickly``): the exit code and
every byte written reach the caller, through pipes, after a real run.

That the exit handlers still run (idle kernels killed) is shown by
``tests/lib/run/test_keep_warm.py``: the kept-warm server only leaves once no kernel of its
own is alive.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from support.workspaces import make_workspace, write_notebook

MILLPOND = str(Path(sys.executable).parent / "millpond")


def millpond(*args: str) -> subprocess.CompletedProcess:
    """The command with its output block-buffered, as on most machines (not PYTHONUNBUFFERED)."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONUNBUFFERED"}
    return subprocess.run([MILLPOND, *args], capture_output=True, text=True, timeout=300, env=env)


def test_a_run_then_its_history_arrive_whole_through_pipes(tmp_path):
    write_notebook(tmp_path / "notebooks/one.ipynb", "x = 1", "y = x + 1")
    stages = [{"name": f"s{i}", "notebook": "notebooks/one.ipynb"} for i in range(3)]
    make_workspace(tmp_path, {"p": {"stages": stages}})
    ran = millpond("run", "p", "--plain", "--jobs", "2", "-C", str(tmp_path))
    assert ran.returncode == 0, ran.stderr
    assert sum(line.startswith("success") or " success " in f" {line} " for line in ran.stdout.splitlines()) >= 3
    history = millpond("runs", "--json", "-C", str(tmp_path))
    assert history.returncode == 0
    runs = json.loads(history.stdout)  # cut short, it would not parse
    assert len(runs) == 1 and runs[0]["status"] == "success"
    stages_json = millpond("runs", runs[0]["run_id"], "--json", "-C", str(tmp_path))
    assert sorted(s["stage"] for s in json.loads(stages_json.stdout)["stages"]) == ["s0", "s1", "s2"]


def test_a_user_mistake_exits_2_with_one_line(tmp_path):
    make_workspace(tmp_path, {"p": {"stages": []}})
    done = millpond("run", "nosuch", "-C", str(tmp_path))
    assert done.returncode == 2
    assert done.stderr.startswith("error: no pipeline 'nosuch'") and done.stderr.count("\n") == 1


def test_a_warehouse_file_left_open_is_checkpointed_before_the_quick_exit(tmp_path):
    make_workspace(tmp_path, {"p": {"stages": []}})
    script = (
        "import sys\n"
        "from millpond.workspace import Workspace\n"
        "from millpond.warehouse.connect import connect\n"
        "from millpond.quick_exit import exit_quickly\n"
        "con = connect(Workspace(sys.argv[1]))\n"
        "con.raw_sql('CREATE TABLE kept AS SELECT 42 AS answer')\n"
        "exit_quickly(0)\n"
    )
    done = subprocess.run([sys.executable, "-c", script, str(tmp_path)], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    db_file = tmp_path / "data" / "warehouse.duckdb"
    assert not Path(f"{db_file}.wal").exists(), "the write-ahead log was left behind: the file was not closed"
    import duckdb

    with duckdb.connect(str(db_file), read_only=True) as con:
        assert con.execute("SELECT answer FROM kept").fetchone() == (42,)
