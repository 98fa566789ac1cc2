"""``millpond run --full-refresh TABLE``: one incremental table rebuilt whole, the others untouched."""

from __future__ import annotations

import duckdb
import pytest

from millpond.errors import SpecError
from millpond.run.runner import RunOptions, open_store, run_pipeline
from millpond.stage_api.context import StageContext
from millpond.workspace import Workspace
from support.workspaces import make_workspace, write_notebook

INCREMENTAL = (
    "import millpond as mp\nctx = mp.stage()",
    "src = ctx.read_csv(path)\nsrc = src.mutate(id=src.id.cast('int64'))",
    "ctx.materialize(src, table, kind='incremental', strategy=strategy, unique_key=key or None,\n"
    "                watermark='id', lookback=lookback or None)",
)


@pytest.fixture
def two_incremental_tables(tmp_path) -> Workspace:
    write_notebook(
        tmp_path / "notebooks/load.ipynb",
        "path = 'data/raw/events.csv'\ntable = 'silver.events'\nstrategy = 'append'\nkey = ''\nlookback = 0",
        *INCREMENTAL,
    )
    raw = tmp_path / "data/raw"
    raw.mkdir(parents=True)
    (raw / "events.csv").write_text("id,v\n1,a\n2,b\n3,c\n")
    (raw / "orders.csv").write_text("id,v\n1,x\n2,y\n")
    spec = {
        "stages": [
            {
                "name": "events",
                "notebook": "notebooks/load.ipynb",
                "reads": ["data/raw/events.csv"],
                "produces": ["silver.events"],
            },
            {
                "name": "orders",
                "notebook": "notebooks/load.ipynb",
                "reads": ["data/raw/orders.csv"],
                "params": {
                    "path": "data/raw/orders.csv",
                    "table": "silver.orders",
                    "strategy": "merge",
                    "key": "id",
                    "lookback": 1,
                },
                "produces": ["silver.orders"],
            },
        ]
    }
    make_workspace(tmp_path, {"p": spec})
    return Workspace(tmp_path)


def rows(ws: Workspace, table: str) -> list[tuple]:
    con = duckdb.connect(str(ws.warehouse_file()), read_only=True)
    try:
        return sorted(con.execute(f"SELECT id, v FROM {table}").fetchall())
    finally:
        con.close()


def statuses(ws: Workspace, run_id: str) -> dict[str, str]:
    return {s["stage"]: s["status"] for s in open_store(ws).stage_runs(run_id)}


def test_full_refresh_rebuilds_one_table_and_leaves_the_other(two_incremental_tables):
    ws = two_incremental_tables
    first = run_pipeline(ws, "p")
    assert first.exit_code == 0, open_store(ws).stage_runs(first.run_id)

    # new source rows, and an old row changed upstream (id 1: a -> A, x -> X)
    (ws.root / "data/raw/events.csv").write_text("id,v\n1,A\n2,b\n3,c\n4,d\n5,e\n")
    (ws.root / "data/raw/orders.csv").write_text("id,v\n1,X\n2,Y\n3,z\n")
    second = run_pipeline(ws, "p")
    assert statuses(ws, second.run_id) == {"events": "success", "orders": "success"}
    # append took ids past the watermark 3 only, so id 1 keeps its old value
    assert rows(ws, "silver.events") == [(1, "a"), (2, "b"), (3, "c"), (4, "d"), (5, "e")]
    # merge with lookback 1 re-read ids >= 2 - 1 and upserted them
    assert rows(ws, "silver.orders") == [(1, "X"), (2, "Y"), (3, "z")]

    plan = run_pipeline(ws, "p", RunOptions(full_refresh=["silver.events"], dry_run=True)).plan
    assert plan == {"events": "run (full refresh of silver.events)", "orders": "skip (unchanged)"}
    third = run_pipeline(ws, "p", RunOptions(full_refresh=["silver.events"]))
    assert statuses(ws, third.run_id) == {"events": "success", "orders": "skipped"}
    assert rows(ws, "silver.events") == [(1, "A"), (2, "b"), (3, "c"), (4, "d"), (5, "e")]
    assert rows(ws, "silver.orders") == [(1, "X"), (2, "Y"), (3, "z")]

    store = open_store(ws)
    events, orders = store.latest_materialization("silver.events"), store.latest_materialization("silver.orders")
    assert (events.run_id, events.kind, events.rows) == (third.run_id, "incremental", 5)
    assert (orders.run_id, orders.kind, orders.rows) == (second.run_id, "incremental", 3)
    assert {m["table_name"]: m["rows"] for m in store.materializations(first.run_id)} == {
        "silver.events": 3,
        "silver.orders": 2,
    }

    fourth = run_pipeline(ws, "p")  # the refresh is not sticky: nothing changed, nothing runs
    assert set(statuses(ws, fourth.run_id).values()) == {"skipped"}


def test_full_refresh_of_a_table_no_stage_produces_is_an_error(two_incremental_tables):
    with pytest.raises(SpecError, match="--full-refresh gold.nope: no selected stage of 'p' produces it"):
        run_pipeline(two_incremental_tables, "p", RunOptions(full_refresh=["gold.nope"]))


def test_a_notebook_reads_the_watermark_unless_the_table_is_refreshed(two_incremental_tables, monkeypatch):
    ws = two_incremental_tables
    assert run_pipeline(ws, "p").exit_code == 0
    monkeypatch.delenv("MILLPOND_FULL_REFRESH", raising=False)
    ctx = StageContext(ws)
    try:
        assert ctx.is_incremental("silver.events") and ctx.watermark("silver.events", "id") == 3
        assert ctx.watermark("silver.orders", "id", lookback=1) == 1
        assert not ctx.is_incremental("silver.missing") and ctx.watermark("silver.missing", "id") is None
        monkeypatch.setenv("MILLPOND_FULL_REFRESH", "silver.orders,silver.events")
        assert not ctx.is_incremental("silver.events") and ctx.watermark("silver.events", "id") is None
    finally:
        ctx.close()
