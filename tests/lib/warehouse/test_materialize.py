"""Atomic, idempotent materializations, the same on DuckDB and PostgreSQL."""

from __future__ import annotations

import threading

import ibis
import pytest

from millpond.errors import MillpondError
from millpond.warehouse.materialize import materialize
from millpond.warehouse.sql import TEMP_PREFIX, existing_kind


def numbers(n: int) -> ibis.Table:
    return ibis.memtable({"id": list(range(n)), "label": [f"n{i}" for i in range(n)]})


def count(con, name: str) -> int:
    schema, table = name.split(".")
    return int(con.table(table, database=schema).count().execute())


def leftovers(con, schema: str) -> list[str]:
    return [t for t in con.list_tables(database=schema) if t.startswith(TEMP_PREFIX)]


def test_table_is_idempotent_and_replaces(con):
    first = materialize(con, numbers(3), "gold.numbers")
    again = materialize(con, numbers(3), "gold.numbers")
    assert (first.rows, again.rows, count(con, "gold.numbers")) == (3, 3, 3)
    assert again.schema == {"id": "int64", "label": "string"}
    materialize(con, numbers(5), "gold.numbers")
    assert count(con, "gold.numbers") == 5
    assert leftovers(con, "gold") == []


def test_view_follows_its_table_and_kinds_can_switch(con):
    materialize(con, numbers(4), "silver.base")
    base = con.table("base", database="silver")
    view = materialize(con, base.filter(base.id >= 2), "gold.big", kind="view")
    assert (view.kind, view.rows, existing_kind(con, "gold", "big")) == ("view", 2, "view")
    materialize(con, base, "gold.big", kind="table")
    assert existing_kind(con, "gold", "big") == "table" and count(con, "gold.big") == 4
    materialize(con, base.filter(base.id == 0), "gold.big", kind="view")
    assert existing_kind(con, "gold", "big") == "view" and count(con, "gold.big") == 1


def test_failed_build_keeps_the_previous_table_and_leaves_no_temporary(con):
    materialize(con, numbers(3), "gold.numbers")
    bad = ibis.memtable({"v": ["1", "two"]})
    with pytest.raises(Exception):
        materialize(con, bad.mutate(n=bad.v.cast("int64")), "gold.numbers")
    assert count(con, "gold.numbers") == 3
    assert leftovers(con, "gold") == []


def test_bad_names_and_kinds_are_user_errors(con):
    with pytest.raises(MillpondError, match="must be of the form layer.table"):
        materialize(con, numbers(1), "numbers")
    with pytest.raises(MillpondError, match="unknown kind 'snapshot'"):
        materialize(con, numbers(1), "gold.numbers", kind="snapshot")
    with pytest.raises(MillpondError, match="kind 'incremental' needs incremental="):
        materialize(con, numbers(1), "gold.numbers", kind="incremental")
    with pytest.raises(MillpondError, match="a view cannot be built over in-memory data"):
        materialize(con, numbers(1), "gold.numbers", kind="view")


def _reader_connection(con, postgres_server=None):
    """A second, independent connection to the same database."""
    if con.name == "duckdb":
        cursor = con.con.cursor()
        return lambda sql: cursor.execute(sql).fetchone()[0]
    import psycopg

    info = con.con.info
    raw = psycopg.connect(host=info.host, port=info.port, user=info.user, dbname=info.dbname, autocommit=True)
    return lambda sql: raw.execute(sql).fetchone()[0]


def test_readers_never_see_a_missing_or_half_built_table(con):
    materialize(con, numbers(100), "gold.swap")
    query = _reader_connection(con)
    seen: list[object] = []
    stop = threading.Event()

    def read():
        while not stop.is_set():
            try:
                seen.append(query('SELECT count(*) FROM "gold"."swap"'))
            except Exception as exc:  # a missing table would land here
                seen.append(exc)

    reader = threading.Thread(target=read)
    reader.start()
    try:
        for i in range(12):
            materialize(con, numbers(200 if i % 2 == 0 else 100), "gold.swap")
    finally:
        stop.set()
        reader.join(timeout=30)
    errors = [s for s in seen if isinstance(s, Exception)]
    assert errors == []
    assert set(seen) <= {100, 200} and len(seen) > 0


def test_a_new_kind_is_one_builder_and_one_registry_line():
    """Issue 20.2: materialization kinds are strategies in a registry; a new one gets the same
    audit (here a contract) before its swap as the built-in kinds."""
    from millpond.warehouse import materialize as kinds_module
    from millpond.warehouse.swap import swap_in_table

    def build_copy(request):
        swap_in_table(request.con, request.expr, request.schema, request.table, verify=request.verify)
        return kinds_module.KindOutcome()

    con = ibis.duckdb.connect()
    kinds_module.register_kind("copy", build_copy)
    try:
        built = materialize(con, ibis.memtable({"id": [1, 2, None]}), "gold.copied", kind="copy")
        assert (built.kind, built.rows) == ("copy", 3)
        assert con.table("copied", database="gold").count().execute() == 3
        with pytest.raises(MillpondError, match="id"):
            materialize(
                con, ibis.memtable({"id": [5, None]}), "gold.copied", kind="copy", contract={"not_null": ["id"]}
            )
        assert sorted(con.table("copied", database="gold").id.fill_null(0).execute()) == [0, 1, 2]  # old build kept
    finally:
        del kinds_module._KIND_BUILDERS["copy"]
    with pytest.raises(
        MillpondError, match=r"unknown kind 'copy' \(choose from table, view, incremental, materialized_view\)"
    ):
        materialize(con, ibis.memtable({"id": [1]}), "gold.other", kind="copy")
