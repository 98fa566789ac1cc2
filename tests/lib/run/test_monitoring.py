"""Monitors end to end: profiles recorded by each run, a sudden drop flagged once and alerted once."""

from __future__ import annotations

import io
import json

import duckdb
import pytest

from millpond.cli import main
from millpond.run.monitoring import profile_products
from millpond.run.progress import PlainReporter
from millpond.run.runner import RunOptions, open_store, run_pipeline
from millpond.workspace import Workspace
from support.webhook import PROXY_VARIABLES, Hook
from support.workspaces import make_workspace, write_notebook

# n rows of constant values: only row_count moves when n does
MAKE_TABLE = (
    "import millpond as mp, ibis\nctx = mp.stage()",
    "ctx.materialize(ibis.memtable({'x': [7] * n, 'kind': ['a'] * n}), 'bronze.t')",
)


@pytest.fixture
def hook(monkeypatch):
    for var in PROXY_VARIABLES:
        monkeypatch.delenv(var, raising=False)
    receiver = Hook()
    yield receiver
    receiver.close()


def workspace(root, settings: dict) -> Workspace:
    write_notebook(root / "notebooks/make.ipynb", "n = 1", *MAKE_TABLE)
    spec = {
        "params": {"n": {"type": "int", "default": 100}},
        "stages": [{"name": "make", "notebook": "notebooks/make.ipynb", "produces": ["bronze.t"]}],
    }
    make_workspace(root, {"p": spec}, {"name": "test", **settings})
    return Workspace(root)


def test_a_sudden_drop_of_rows_is_one_anomaly_and_one_alert(tmp_path, hook, capsys):
    ws = workspace(tmp_path, {"alerts": {"channels": [{"webhook": {"url": hook.url, "retry_backoff": 0.01}}]}})
    store = open_store(ws)
    stable = [run_pipeline(ws, "p", RunOptions(force=True), reporter=PlainReporter(io.StringIO())) for _ in range(6)]
    assert [r.exit_code for r in stable] == [0] * 6
    assert store.anomalies() == [] and hook.bodies == []
    # every run profiled the table: 1 row_count + 2 columns x 2 + 1 numeric column x 4 = 9 values
    assert [len(store.profiles(r.run_id)) for r in stable] == [9] * 6

    log = io.StringIO()
    drop = run_pipeline(ws, "p", RunOptions(params={"n": "10"}), reporter=PlainReporter(log))

    # an anomaly never fails the stage; the stage's line says it as a warning
    assert (drop.exit_code, drop.stages) == (0, {"make": "success"})
    assert "warning: 1 anomaly: bronze.t row_count = 10, outside [99, 101]" in log.getvalue()
    # 6 earlier runs of 100 rows: IQR 0, so the band is 100 ± 1% of the median
    (anomaly,) = store.anomalies(run_id=drop.run_id)
    assert (anomaly["table_name"], anomaly["column_name"], anomaly["metric"], anomaly["value"]) == (
        "bronze.t",
        "",
        "row_count",
        10.0,
    )
    assert (anomaly["lower"], anomaly["upper"], anomaly["baseline"], anomaly["stage"]) == (99.0, 101.0, 6, "make")
    # one incident for the run, one POST
    (body,) = hook.bodies
    assert (body["kind"], body["run_id"], body["failed_stages"]) == ("anomaly", drop.run_id, [])
    assert body["anomalies"] == [
        {"table": "bronze.t", "column": "", "metric": "row_count", "value": 10.0, "lower": 99.0, "upper": 101.0}
    ]
    assert "bronze.t row_count = 10, outside [99, 101]" in body["summary"]

    capsys.readouterr()
    assert main(["monitors", "-C", str(ws.root)]) == 0
    out = capsys.readouterr().out
    (line,) = [row for row in out.splitlines() if "row_count" in row]
    assert "bronze.t" in line and "[99, 101]" in line and "anomaly" in line and "██████▁" in line
    assert main(["monitors", "-C", str(ws.root), "--table", "bronze.t"]) == 0
    out = capsys.readouterr().out
    assert {m for m in ("null_rate", "distinct_count", "mean", "stddev") if m in out} == {
        "null_rate",
        "distinct_count",
        "mean",
        "stddev",
    }
    assert main(["monitors", "-C", str(ws.root), "--anomalies"]) == 0
    out = capsys.readouterr().out
    assert drop.run_id in out and "row_count" in out and "of the last 6 runs" in out
    assert main(["monitors", "-C", str(ws.root), "--anomalies", "--json"]) == 0
    assert [a["run_id"] for a in json.loads(capsys.readouterr().out)] == [drop.run_id]


def test_disabled_monitors_record_nothing(tmp_path):
    ws = workspace(tmp_path, {"quality": {"monitors": {"enabled": False}}})
    result = run_pipeline(ws, "p", reporter=PlainReporter(io.StringIO()))
    assert result.exit_code == 0
    assert open_store(ws).profiles(result.run_id) == []


def test_only_tables_that_exist_are_profiled(tmp_path):
    ws = workspace(tmp_path, {})
    ws.warehouse_file().parent.mkdir(parents=True, exist_ok=True)
    with duckdb.connect(str(ws.warehouse_file())) as db:
        db.execute("CREATE SCHEMA bronze; CREATE TABLE bronze.t AS SELECT 1 AS x UNION ALL SELECT 2")

    profiles = profile_products(ws, ["bronze.t", "bronze.missing", "nowhere.t"], "test")

    assert list(profiles) == ["bronze.t"]
    assert {(p["column"], p["metric"]): p["value"] for p in profiles["bronze.t"]}[("", "row_count")] == 2


# a column that is null on a share of rows that jumps: `valid_to` of the current rows
MAKE_NULLS = (
    "import millpond as mp, ibis\nctx = mp.stage()",
    "ctx.materialize(ibis.memtable({'x': list(range(100)), 'valid_to': [None] * nulls + [1] * (100 - nulls)},"
    " schema={'x': 'int64', 'valid_to': 'int64'}), 'gold.dim')",
)


@pytest.mark.parametrize("expected, flagged", [(False, True), (True, False)])
def test_a_column_null_by_design_is_not_watched_for_its_null_rate(tmp_path, expected, flagged):
    """Issue 21.5: monitors know the columns whose nulls are by design (``nulls_expected``)."""
    write_notebook(tmp_path / "notebooks/make.ipynb", "nulls = 1", *MAKE_NULLS)
    spec = {
        "params": {"nulls": {"type": "int", "default": 1}},
        "stages": [
            {
                "name": "make",
                "notebook": "notebooks/make.ipynb",
                "produces": ["gold.dim"],
                "tables": {"gold.dim": {"columns": {"valid_to": {"nulls_expected": expected}}}},
            }
        ],
    }
    make_workspace(tmp_path, {"p": spec}, {"name": "test"})
    ws = Workspace(tmp_path)
    for _ in range(6):
        assert run_pipeline(ws, "p", RunOptions(force=True), reporter=PlainReporter(io.StringIO())).exit_code == 0
    jump = run_pipeline(ws, "p", RunOptions(params={"nulls": "90"}), reporter=PlainReporter(io.StringIO()))
    found = {(a["column_name"], a["metric"]) for a in open_store(ws).anomalies(run_id=jump.run_id)}
    assert (("valid_to", "null_rate") in found) is flagged
