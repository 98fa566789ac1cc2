"""The ``files`` source on a PySpark warehouse: the same loads as on DuckDB (new files once, a
changed file's rows replaced, malformed rows held), with Spark's copy-on-write deletes."""

from __future__ import annotations

import io

import pytest
import yaml

from millpond.run.progress import PlainReporter
from millpond.run.runner import RunOptions, open_store, run_pipeline
from millpond.warehouse.connect import connect
from millpond.warehouse.sql import fetch
from millpond.workspace import Workspace
from support.spark import SPARK_URL, spark_server
from support.workspaces import write_notebook

pytestmark = [pytest.mark.slow, pytest.mark.spark]


def _run(ws: Workspace) -> None:
    result = run_pipeline(ws, "s", RunOptions(), reporter=PlainReporter(io.StringIO()))
    assert result.exit_code == 0, [s["error"] for s in open_store(ws).stage_runs(result.run_id)]


def _query(con, sql: str) -> list:
    return sorted(tuple(r) for r in fetch(con, sql))


def test_files_load_incrementally_on_spark(tmp_path):
    (tmp_path / "pipelines").mkdir()
    (tmp_path / "millpond.yml").write_text(f"name: s\nwarehouse: {SPARK_URL}\n")
    source = {"kind": "files", "target": "bronze.orders", "options": {"path": "data/in/*.csv"}}
    stage = {"name": "ingest", "notebook": "ingest.ipynb", "produces": ["bronze.orders"]}
    (tmp_path / "pipelines/s.yml").write_text(yaml.safe_dump({"sources": {"orders": source}, "stages": [stage]}))
    write_notebook(tmp_path / "ingest.ipynb", "", "import millpond as mp\nctx = mp.stage()", "ctx.load('orders')")
    (tmp_path / "data/in").mkdir(parents=True)
    (tmp_path / "data/in/a.csv").write_text("id,name\n1,ann\n2,bo\n")
    (tmp_path / "data/in/b.csv").write_bytes(b"id,name\n3,cy\n4,di,extra\n")
    ws = Workspace(tmp_path)
    with spark_server(ws):
        _run(ws)
        # sessions stay open to the end: one stopped in this process shuts the Spark Connect client's
        # shared release pool, and the next session's queries fail; a new one after the second load
        # does not see the first's cached file list of the rewritten table
        sessions = [connect(ws)]
        con = sessions[0]
        try:
            rows = "SELECT _source_file, id, name FROM bronze.orders"
            assert _query(con, rows) == [
                ("data/in/a.csv", "1", "ann"),
                ("data/in/a.csv", "2", "bo"),
                ("data/in/b.csv", "3", "cy"),
            ]
            assert _query(con, "SELECT _source_file, _source_line FROM quarantine.bronze_orders") == [
                ("data/in/b.csv", 3)
            ]
            (tmp_path / "data/in/a.csv").write_text("id,name\n1,anne\n")  # changed: its rows replaced
            (tmp_path / "data/in/c.csv").write_text("id,name\n5,eve\n")
            _run(ws)
            sessions.append(connect(ws))
            con = sessions[-1]
            assert _query(con, rows) == [
                ("data/in/a.csv", "1", "anne"),
                ("data/in/b.csv", "3", "cy"),
                ("data/in/c.csv", "5", "eve"),
            ]
            state = _query(con, "SELECT item FROM _millpond.load_state WHERE source = 'orders'")
            assert state == [("data/in/a.csv",), ("data/in/b.csv",), ("data/in/c.csv",)]
        finally:
            for session in sessions:
                session.disconnect()
