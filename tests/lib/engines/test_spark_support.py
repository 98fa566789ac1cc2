"""The Spark warehouse: Arrow in-memory tables, the table swap, views, copy-on-write DELETE,
incremental merges, content hashes and the server's lifecycle, on a real local Spark
Connect server (one per module; started like any ``pyspark://`` workspace starts it)."""

from __future__ import annotations

import datetime as dt
import decimal

import ibis
import pyarrow as pa
import pytest

from millpond.cli import main
from millpond.engines.spark_support import catalog_tables, fetch, run_statements
from millpond.errors import MillpondError
from millpond.warehouse.incremental import Incremental
from millpond.warehouse.materialize import materialize
from millpond.warehouse.sql import existing_kind
from millpond.warehouse.versions import content_hash
from support.spark import spark_connection

pytestmark = pytest.mark.spark

D = decimal.Decimal
ROWS = pa.table(
    {
        "id": pa.array([1, 2, None], pa.int64()),
        "amount": pa.array([D("10.25"), None, D("-0.50")], pa.decimal128(18, 2)),
        "day": pa.array([dt.date(2024, 1, 31), dt.date(2024, 2, 29), None], pa.date32()),
        "at": pa.array(
            [dt.datetime(2024, 1, 31, 23, 59, 59, 123456), None, dt.datetime(2024, 3, 1)], pa.timestamp("us")
        ),
        "name": pa.array(["a", None, "ü"], pa.string()),
        "flag": pa.array([True, None, False], pa.bool_()),
    }
)


@pytest.fixture(scope="module")
def spark(tmp_path_factory):
    with spark_connection(tmp_path_factory.mktemp("spark") / "workspace") as (ws, con):
        yield ws, con


@pytest.fixture
def con(spark):
    return spark[1]


def _rows(table) -> list[dict]:
    return sorted(table.to_pyarrow().to_pylist(), key=repr)


def test_in_memory_rows_arrive_with_their_types_and_nulls(con):
    built = materialize(con, ibis.memtable(ROWS), "memtypes.t")
    duck = ibis.duckdb.connect()
    expected = materialize(duck, ibis.memtable(ROWS), "memtypes.t")
    assert built.rows == 3
    # the same Ibis types as DuckDB gives (Spark's timestamps are microseconds, unstated)
    assert built.schema == {**expected.schema, "at": "timestamp"} and expected.schema["at"] == "timestamp(6)"
    assert _rows(con.table("t", database="memtypes")) == sorted(ROWS.to_pylist(), key=repr)
    assert con.table("t", database="memtypes").amount.sum().execute() == D("9.75")  # a null is no NaN


def test_a_rebuild_swaps_in_whole_and_leaves_no_temporary_table(con):
    materialize(con, ibis.memtable({"x": [1, 2, 3]}), "swap.t")
    materialize(con, ibis.memtable({"x": [4, 5]}), "swap.t")
    assert _rows(con.table("t", database="swap")) == [{"x": 4}, {"x": 5}]
    assert [(s, n) for s, n, _ in catalog_tables(con, ["swap"])] == [("swap", "t")]


def test_views_and_tables_are_told_apart(con):
    materialize(con, ibis.memtable({"x": [1, 2, 3]}), "kinds.base")
    base = con.table("base", database="kinds")
    built = materialize(con, base.filter(base.x > 1), "kinds.big", kind="view")
    assert built.rows == 2
    assert existing_kind(con, "kinds", "base") == "table"
    assert existing_kind(con, "kinds", "big") == "view"
    assert existing_kind(con, "kinds", "missing") is None
    assert fetch(
        con, "SELECT table_name FROM information_schema.tables WHERE table_schema = 'kinds' AND table_type = 'VIEW'"
    ) == [("big",)]


def test_delete_keeps_the_rows_its_condition_does_not_make_true(con):
    materialize(con, ibis.memtable(pa.table({"x": pa.array([1, None, 3, 5], pa.int64())})), "cow.t")
    run_statements(con, ["DELETE FROM `cow`.`t` AS t WHERE t.`x` > 2"])
    # SQL keeps a row whose condition is null: 1 and null stay, 3 and 5 go
    assert _rows(con.table("t", database="cow")) == sorted([{"x": 1}, {"x": None}], key=repr)


def test_incremental_merge_and_append(con):
    materialize(con, ibis.memtable({"id": [1, 2], "v": ["a", "b"]}), "inc.t")
    built = materialize(
        con,
        ibis.memtable({"id": [2, 3], "v": ["B", "c"]}),
        "inc.t",
        kind="incremental",
        incremental=Incremental.of("merge", unique_key="id"),
    )
    assert built.new_rows == 2
    assert _rows(con.table("t", database="inc")) == [{"id": 1, "v": "a"}, {"id": 2, "v": "B"}, {"id": 3, "v": "c"}]
    materialize(
        con,
        ibis.memtable({"id": [3, 4], "v": ["c", "d"]}),
        "inc.t",
        kind="incremental",
        incremental=Incremental.of("append", watermark="id"),
    )
    assert [r["id"] for r in _rows(con.table("t", database="inc"))] == [1, 2, 3, 4]


def test_content_hash_is_of_the_rows_as_a_multiset(con):
    materialize(con, ibis.memtable({"x": [1, 2, 2]}), "hashes.a")
    materialize(con, ibis.memtable({"x": [2, 1, 2]}), "hashes.b")
    materialize(con, ibis.memtable({"x": [1, 1, 2]}), "hashes.c")
    assert content_hash(con, "hashes", "a") == content_hash(con, "hashes", "b")
    assert content_hash(con, "hashes", "a") != content_hash(con, "hashes", "c")


def test_the_server_command_shows_the_running_spark_server(spark, capsys):
    ws, _ = spark
    assert main(["server", "status", "-C", str(ws.root)]) == 0
    shown = capsys.readouterr().out
    assert shown.startswith("Spark server on sc://127.0.0.1:") and "master local[2]" in shown
    assert main(["server", "start", "-C", str(ws.root)]) == 0  # already running: the same server
    assert capsys.readouterr().out == shown


def test_the_server_command_refuses_a_warehouse_file(tmp_path, capsys):
    (tmp_path / "millpond.yml").write_text("name: d\n")
    assert main(["server", "status", "-C", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "has no server that millpond starts or stops" in err


def test_an_unreachable_remote_server_is_one_clear_error(tmp_path):
    from millpond.warehouse.connect import connect
    from millpond.workspace import Workspace

    (tmp_path / "millpond.yml").write_text("name: r\nwarehouse: sc://127.0.0.1:9\n")
    with pytest.raises(MillpondError, match=r"cannot connect to the Spark server sc://127\.0\.0\.1:9"):
        connect(Workspace(tmp_path))


def test_profile_shows_sparks_optimized_plan_with_its_estimates(con):
    from millpond.warehouse.query_plan import query_plan

    materialize(con, ibis.memtable({"g": ["x", "y", "x"], "a": [1, 2, 3]}), "plans.t")
    t = con.table("t", database="plans")
    plan = query_plan(con, t.group_by("g").agg(s=t.a.sum()))
    assert "Aggregate" in plan and "Statistics(sizeInBytes=" in plan


def test_compact_says_spark_has_nothing_to_compact(spark, capsys):
    ws, _ = spark
    assert main(["compact", "-C", str(ws.root)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "nothing to compact on Spark" in err
