"""Tests for millpond.engines.duckdb_ctas: one CREATE TABLE AS gives the table Ibis's create_table gives.

The reference is Ibis's own ``create_table`` on the same expression, on the same connection:
column names, order, DuckDB types and nullability from ``information_schema``, and rows.
"""

from __future__ import annotations

import ibis
import ibis.expr.datatypes as dt
import pytest

from millpond.engines.duckdb_ctas import compiled_for, create_table_as

SOURCE = """
CREATE SCHEMA s;
CREATE TABLE s.src AS SELECT * FROM (VALUES
    (1, 'a', 2.5::DOUBLE, DATE '2024-01-02', TIMESTAMP '2024-01-02 03:04:05', TRUE, [1, 2], {'k': 1}),
    (2, NULL, NULL, NULL, NULL, NULL, NULL, NULL)
) AS v(id, name, amount, day, ts, flag, tags, attrs)
"""


def columns(con, table: str) -> list[tuple]:
    return con.con.execute(
        "SELECT column_name, data_type, is_nullable FROM information_schema.columns "
        f"WHERE table_schema = 's' AND table_name = '{table}' ORDER BY ordinal_position"
    ).fetchall()


def rows(con, table: str) -> list[tuple]:
    return con.con.execute(f"SELECT * FROM s.{table} ORDER BY ALL").fetch_arrow_table().to_pylist()


@pytest.fixture
def con():
    con = ibis.duckdb.connect()
    con.con.execute(SOURCE)
    yield con
    con.disconnect()


def expressions(src):
    """Casts Ibis elides or keeps, computed columns, a window, an aggregate, a join."""
    money = src.amount.cast("decimal(18, 2)")
    return {
        # Ibis types money * int - money as decimal(18, 2) and leaves the cast out of its SQL;
        # DuckDB types it DECIMAL(38, 2): create_table's INSERT casts it, so must the CTAS
        "elided": src.select(line=(src.id.cast("int64") * money - money).cast("decimal(18, 2)")),
        "casts": src.select(
            id=src.id.cast("int16"),
            name=src.name,
            amount=src.amount.cast("decimal(18, 2)"),
            small=(src.amount * 2).cast("float32"),
            day=src.day,
            ts=src.ts.cast("timestamp('UTC')"),
            flag=src.flag,
            tags=src.tags,
            attrs=src.attrs,
        ),
        "computed": src.mutate(
            total=src.amount.sum().over(),
            rank=ibis.row_number().over(order_by=src.id),
            label=src.name.fill_null("?").upper(),
        ),
        "aggregate": src.group_by(src.flag).agg(n=src.count(), mean=src.amount.mean(), ids=src.id.collect()),
        "join": src.join(src.select(id=src.id, other=src.name), "id"),
    }


@pytest.mark.parametrize("which", ["elided", "casts", "computed", "aggregate", "join"])
def test_the_table_equals_the_one_ibis_create_table_builds(con, which):
    src = con.table("src", database="s")
    expr = expressions(src)[which]
    con.create_table("by_ibis", expr, database="s")
    built = create_table_as(con, "by_ctas", expr, "s")
    assert columns(con, "by_ctas") == columns(con, "by_ibis")
    assert rows(con, "by_ctas") == rows(con, "by_ibis")
    assert built.schema() == con.table("by_ibis", database="s").schema()
    assert built.op() == con.table("by_ctas", database="s").op()  # what Ibis reads back, without asking
    assert compiled_for(con, expr) == con.compile(expr)  # kept for the lineage record


def test_a_not_null_column_and_in_memory_rows_go_through_create_table(con):
    src = con.table("src", database="s")
    required = src.select(id=src.id, one=ibis.literal(1).cast("!int64"))
    assert not required.schema()["one"].nullable
    create_table_as(con, "required", required, "s")
    assert ("one", "BIGINT", "NO") in columns(con, "required")
    assert compiled_for(con, required) is None  # not built by CREATE TABLE AS

    memory = ibis.memtable({"x": [3, 1]})
    create_table_as(con, "memory", memory, "s")
    assert rows(con, "memory") == [{"x": 1}, {"x": 3}]


# Ibis types a build can produce, as Ibis spells them; the table create_table_as returns
# is built from the types it cast to, without DESCRIBE, and must be what con.table reads.
IBIS_TYPES = [
    "int8",
    "int16",
    "int32",
    "int64",
    "uint8",
    "uint16",
    "uint32",
    "uint64",
    "float32",
    "float64",
    "decimal(18, 2)",
    "decimal(38, 10)",
    "decimal(5, 0)",
    "decimal",
    "string",
    "binary",
    "boolean",
    "uuid",
    "date",
    "time",
    "timestamp",
    "timestamp(3)",
    "timestamp(6)",
    "timestamp(9)",
    "timestamp('UTC')",
    "timestamp('Europe/Paris')",
    "interval('s')",
    "array<string>",
    "array<decimal(9, 3)>",
    dt.Struct({"k": dt.int32, 'odd "name"': dt.Array(dt.Decimal(9, 3))}),
    "map<string, int64>",
    "map<string, decimal>",
    "json",
]


@pytest.mark.parametrize("ibis_type", IBIS_TYPES, ids=str)
def test_the_returned_table_is_the_one_con_table_reads_for_every_type(con, ibis_type):
    src = con.table("src", database="s")
    expr = src.select(id=src.id, value=ibis.null(ibis_type))
    built = create_table_as(con, "typed", expr, "s")
    assert built.op() == con.table("typed", database="s").op()
    assert built.count().execute() == 2
