"""Schema evolution policies, the same on DuckDB and PostgreSQL; expected rows worked out by hand."""

from __future__ import annotations

import datetime as dt

import ibis
import pytest

from millpond.errors import MillpondError
from millpond.warehouse.evolution import compare_schemas, widens
from millpond.warehouse.incremental import Incremental
from millpond.warehouse.materialize import materialize
from millpond.warehouse.sql import TEMP_PREFIX

DAY = dt.date(2024, 1, 5)


def data(columns: dict, types: dict) -> ibis.Table:
    return ibis.memtable(columns, schema=types)


def build(con, columns: dict, types: dict, policy: str | None = None, kind: str = "incremental", **options):
    if kind == "incremental":
        options.setdefault("incremental", Incremental.of("merge", unique_key="id"))
    return materialize(con, data(columns, types), "gold.t", kind=kind, on_schema_change=policy, **options)


def rows(con, name: str = "gold.t") -> list[tuple]:
    schema, table = name.split(".")
    return sorted(tuple(r.values()) for r in con.table(table, database=schema).to_pyarrow().to_pylist())


def types(con, name: str = "gold.t") -> dict[str, str]:
    schema, table = name.split(".")
    return {c: str(t.copy(nullable=True)) for c, t in con.table(table, database=schema).schema().items()}


def leftovers(con) -> list[str]:
    return [
        t
        for s in ("gold", "quarantine")
        if s in con.list_databases()
        for t in con.list_tables(database=s)
        if t.startswith(TEMP_PREFIX)
    ]


def test_widening_and_changes_are_classified():
    assert widens(ibis.dtype("int8"), ibis.dtype("int16")) and not widens(ibis.dtype("int16"), ibis.dtype("int8"))
    assert widens(ibis.dtype("float32"), ibis.dtype("float64")) and widens(ibis.dtype("string"), ibis.dtype("string"))
    assert widens(ibis.dtype("int64"), ibis.dtype("decimal(19, 0)"))
    assert not widens(ibis.dtype("int64"), ibis.dtype("decimal(20, 2)"))  # 18 integer digits < 19
    assert not widens(ibis.dtype("decimal(10, 2)"), ibis.dtype("decimal(10, 1)"))  # scale lost
    assert not widens(ibis.dtype("int32"), ibis.dtype("string"))  # another kind of type
    old = ibis.schema({"id": "int64", "n": "int32", "v": "string", "gone": "date"})
    new = ibis.schema({"id": "int32", "n": "int64", "v": "int64", "extra": "float64"})
    assert [(c.column, c.change, c.breaking) for c in compare_schemas(old, new)] == [
        ("n", "widened", False),
        ("v", "changed", True),
        ("gone", "dropped", True),
        ("extra", "added", False),
    ]  # id: int32 values fit the int64 column, no change


def test_fail_names_each_column_with_its_old_and_new_type_and_leaves_the_table(con):
    build(con, {"id": [1], "n": [10]}, {"id": "int64", "n": "int32"})
    with pytest.raises(MillpondError) as raised:
        build(con, {"id": [2], "n": [20], "w": ["x"]}, {"id": "int64", "n": "int64", "w": "string"})
    message = str(raised.value)
    assert message.startswith("incremental gold.t: the new rows do not fit the table (") and "\n" not in message
    assert "n is int64 but int32 in the table" in message and "unexpected w (string)" in message
    assert rows(con) == [(1, 10)] and types(con) == {"id": "int64", "n": "int32"} and leftovers(con) == []


def test_fitting_narrower_types_are_no_change(con):
    build(con, {"id": [1], "n": [10]}, {"id": "int64", "n": "int64"})
    built = build(con, {"id": [2], "n": [20]}, {"id": "int32", "n": "int8"}, "fail")
    assert (built.new_rows, rows(con), types(con)) == (1, [(1, 10), (2, 20)], {"id": "int64", "n": "int64"})


def test_append_new_columns_adds_widens_and_keeps_dropped_columns_as_null(con):
    build(con, {"id": [1, 2], "n": [10, 20], "old": ["a", "b"]}, {"id": "int64", "n": "int32", "old": "string"})
    # id 2 is updated, id 3 is new; "old" is gone from the source, "w" is new, n grows to int64
    source = {"id": [2, 3], "n": [3_000_000_000, 30], "w": [1.5, None]}
    built = build(con, source, {"id": "int64", "n": "int64", "w": "float64"}, "append_new_columns")
    assert built.new_rows == 2
    assert types(con) == {"id": "int64", "n": "int64", "old": "string", "w": "float64"}
    assert rows(con) == [(1, 10, "a", None), (2, 3_000_000_000, None, 1.5), (3, 30, None, None)]
    again = build(con, source, {"id": "int64", "n": "int64", "w": "float64"}, "append_new_columns")
    assert (again.rows, rows(con)[1]) == (3, (2, 3_000_000_000, None, 1.5))
    with pytest.raises(MillpondError, match=r"n is string but int64 in the table.*does not narrow types"):
        build(con, {"id": [4], "n": ["x"]}, {"id": "int64", "n": "string"}, "append_new_columns")
    assert len(rows(con)) == 3 and leftovers(con) == []


def test_sync_all_columns_also_drops_what_the_source_lost(con):
    build(con, {"id": [1], "n": [10], "old": ["a"]}, {"id": "int64", "n": "int32", "old": "string"})
    built = build(
        con, {"id": [2], "n": [20], "w": ["x"]}, {"id": "int64", "n": "int32", "w": "string"}, "sync_all_columns"
    )
    assert (built.rows, types(con)) == (2, {"id": "int64", "n": "int32", "w": "string"})
    assert rows(con) == [(1, 10, None), (2, 20, "x")]


def test_quarantine_holds_rows_that_do_not_fit_and_conserves_rows(con):
    table_types = {"id": "int64", "qty": "int32", "day": "date"}
    build(con, {"id": [1], "qty": [5], "day": [DAY]}, table_types, incremental=Incremental.of("append", watermark="id"))
    source_types = {"id": "int64", "qty": "string", "day": "date", "note": "string"}
    source = {
        "id": [2, 3, 4, 5, 6, 7],
        "qty": ["5", "x", "7", "3000000000", "007", None],
        "note": [None, None, "hello", None, None, None],
        "day": [DAY] * 6,
    }
    # 2 and 7 fit; 3: 'x' is no integer; 4: a value in a column the table lacks;
    # 5: too big for int32; 6: '007' does not convert back unchanged
    built = build(con, source, source_types, "quarantine", incremental=Incremental.of("append", watermark="id"))
    assert (built.new_rows, built.held) == (2, 4)
    assert len(source["id"]) == built.new_rows + built.held  # rows in = inserted + held
    assert types(con) == table_types and rows(con) == [(1, 5, DAY), (2, 5, DAY), (7, None, DAY)]
    held = con.table("t", database="quarantine").to_pyarrow().to_pylist()
    assert sorted((r["id"], r["reason"], r["check"]) for r in held) == [
        ("3", "qty: does not fit int32", "on_schema_change"),
        ("4", "note: not a column of the table", "on_schema_change"),
        ("5", "qty: does not fit int32", "on_schema_change"),
        ("6", "qty: does not fit int32", "on_schema_change"),
    ]
    again = build(con, source, source_types, "quarantine", incremental=Incremental.of("append", watermark="id"))
    assert (again.new_rows, again.held) == (0, 0)  # held once: a rerun holds nothing new
    assert con.table("t", database="quarantine").count().execute() == 4 and leftovers(con) == []


def test_a_table_refuses_breaking_changes_under_fail_unless_full_refresh(con):
    build(con, {"id": [1], "v": ["a"]}, {"id": "int64", "v": "string"}, kind="table")
    added = build(
        con, {"id": [2], "v": ["b"], "w": [1]}, {"id": "int64", "v": "string", "w": "int64"}, "fail", kind="table"
    )  # adding a column to a rebuilt table is safe
    assert (added.rows, rows(con)) == (1, [(2, "b", 1)])
    with pytest.raises(MillpondError) as raised:
        build(con, {"id": [3]}, {"id": "int32"}, "fail", kind="table")
    assert str(raised.value).startswith("materialize gold.t: the new rows do not fit the table (missing v (string); ")
    assert "--full-refresh gold.t" in str(raised.value)
    assert rows(con) == [(2, "b", 1)] and leftovers(con) == []
    refreshed = build(con, {"id": [3]}, {"id": "int32"}, "fail", kind="table", full_refresh=True)
    assert (refreshed.rows, types(con)) == (1, {"id": "int32"})


def test_a_table_without_a_policy_is_rebuilt_as_before(con):
    build(con, {"id": [1], "v": ["a"]}, {"id": "int64", "v": "string"}, kind="table")
    build(con, {"id": ["x"]}, {"id": "string"}, kind="table")
    assert types(con) == {"id": "string"}


def test_a_table_under_append_new_columns_keeps_columns_and_wider_types(con):
    build(con, {"id": [1], "v": ["a"]}, {"id": "int64", "v": "string"}, kind="table")
    build(con, {"id": [2], "w": [True]}, {"id": "int16", "w": "boolean"}, "append_new_columns", kind="table")
    assert types(con) == {"id": "int64", "w": "boolean", "v": "string"}
    assert rows(con) == [(2, True, None)]


def test_a_table_under_quarantine_keeps_its_schema(con):
    build(con, {"id": [1], "n": [1]}, {"id": "int64", "n": "int64"}, kind="table")
    built = build(
        con, {"id": [2, 3], "n": ["4", "four"]}, {"id": "int64", "n": "string"}, "quarantine", kind="table", run_id="r1"
    )
    assert (built.rows, built.held, rows(con), types(con)) == (1, 1, [(2, 4)], {"id": "int64", "n": "int64"})
    held = con.table("t", database="quarantine").to_pyarrow().to_pylist()
    assert [(r["id"], r["n"], r["reason"], r["_run_id"]) for r in held] == [
        ("3", "four", "n: does not fit int64", "r1")
    ]


def test_an_unknown_policy_is_a_user_error(con):
    with pytest.raises(MillpondError, match="unknown on_schema_change 'ignore'"):
        build(con, {"id": [1]}, {"id": "int64"}, "ignore")
