"""Column lineage of hand-written Ibis expressions, compiled and analysed as ctx.materialize records them.

Expected sources are worked out by hand from each expression: a column derives from
the columns its value is computed from (filters and join conditions carry no values).
"""

from __future__ import annotations

import ibis
import pytest

from millpond.errors import MillpondError
from millpond.lineage.columns import IN_MEMORY, ColumnRef, column_sources, tables_read
from millpond.lineage.compiled import compiled_sql

O, C = "bronze.orders", "bronze.customers"


def refs(*names: str) -> set[ColumnRef]:
    return {ColumnRef(*name.rsplit(".", 1)) for name in names}


def lineage_of(con, expr) -> dict[str, set[ColumnRef]]:
    record = compiled_sql(con, expr, "gold.result")
    return {
        column: set(sources)
        for column, sources in column_sources(record.sql, record.dialect, record.sources, table="gold.result").items()
    }


@pytest.fixture
def shop(duckdb_con):
    return _shop(duckdb_con)


def _shop(con):
    con.raw_sql("CREATE SCHEMA IF NOT EXISTS bronze")
    con.raw_sql(
        "CREATE TABLE bronze.orders (order_id INTEGER, customer_id INTEGER, amount DOUBLE PRECISION, ts TIMESTAMP)"
    )
    con.raw_sql("CREATE TABLE bronze.customers (customer_id INTEGER, name TEXT, country TEXT)")
    return con, con.table("orders", database="bronze"), con.table("customers", database="bronze")


def test_join_takes_each_column_from_its_side(shop):
    con, orders, customers = shop
    joined = orders.join(customers, "customer_id").select(
        "order_id", "customer_id", "name", shout=customers.name.upper()
    )
    assert lineage_of(con, joined) == {
        "order_id": refs(f"{O}.order_id"),
        "customer_id": refs(f"{O}.customer_id"),  # the join key comes from the left table
        "name": refs(f"{C}.name"),
        "shout": refs(f"{C}.name"),
    }


def test_aggregate_derives_from_its_arguments_and_count_star_from_nothing(shop):
    con, orders, _ = shop
    paid = orders.filter(orders.amount > 0)
    totals = paid.group_by("customer_id").agg(
        total=paid.amount.sum(), net=(paid.amount - paid.order_id).max(), n=paid.count()
    )
    assert lineage_of(con, totals) == {
        "customer_id": refs(f"{O}.customer_id"),
        "total": refs(f"{O}.amount"),
        "net": refs(f"{O}.amount", f"{O}.order_id"),
        "n": set(),  # COUNT(*): no column's value flows into it (the filter on amount only selects rows)
    }


def test_an_aggregates_filter_decides_rows_and_carries_no_value(shop):
    """``SUM(amount) FILTER (WHERE ts IS NOT NULL)``: ``ts`` picks the rows, like a WHERE."""
    from millpond.lineage.columns import table_lineage

    con, orders, _ = shop
    dated = orders.ts.notnull()
    totals = orders.group_by("customer_id").agg(total=orders.amount.sum(where=dated), n=orders.count(where=~dated))
    record = compiled_sql(con, totals, "gold.result")
    assert "FILTER" in record.sql
    found = table_lineage(record.sql, record.dialect, record.sources, table="gold.result")
    assert {column: set(sources) for column, sources in found.columns.items()} == {
        "customer_id": refs(f"{O}.customer_id"),
        "total": refs(f"{O}.amount"),
        "n": set(),
    }
    assert set(found.rows) == refs(f"{O}.customer_id", f"{O}.ts")


def test_window_function_derives_from_value_partition_and_order(shop):
    con, orders, _ = shop
    ranked = orders.select(
        "order_id",
        running=orders.amount.sum().over(group_by="customer_id", order_by="ts"),
        rank=ibis.row_number().over(order_by=orders.ts),
    )
    assert lineage_of(con, ranked) == {
        "order_id": refs(f"{O}.order_id"),
        "running": refs(f"{O}.amount", f"{O}.customer_id", f"{O}.ts"),
        "rank": refs(f"{O}.ts"),
    }


def test_common_table_expression(shop):
    con, orders, customers = shop
    doubled = orders.mutate(double=orders.amount * 2)
    best = doubled.group_by("customer_id").agg(top=doubled.double.max())
    expr = doubled.join(best, "customer_id").select("order_id", "double", "top")
    record = compiled_sql(con, expr, "gold.result")
    assert "WITH" in record.sql.upper()  # Ibis names the reused `doubled` once
    assert lineage_of(con, expr) == {
        "order_id": refs(f"{O}.order_id"),
        "double": refs(f"{O}.amount"),
        "top": refs(f"{O}.amount"),
    }
    assert tables_read(record.sql, "duckdb") == {O}


def test_subquery_and_pass_through_select_star(shop):
    con, orders, _ = shop
    record = compiled_sql(con, orders, "silver.orders")
    assert "*" in record.sql  # the whole table: SELECT * expanded from the recorded schema
    assert lineage_of(con, orders) == {
        name: refs(f"{O}.{name}") for name in ("order_id", "customer_id", "amount", "ts")
    }
    sql = 'SELECT "x"."total" * 2 AS "twice" FROM (SELECT SUM("amount") AS "total" FROM "bronze"."orders") AS "x"'
    assert column_sources(sql, "duckdb", record.sources) == {"twice": frozenset(refs(f"{O}.amount"))}


def test_memtable_is_an_in_memory_source(shop):
    con, orders, _ = shop
    segments = ibis.memtable({"customer_id": [1, 2], "segment": ["a", "b"]})
    expr = orders.join(segments, "customer_id").select("order_id", "segment")
    assert lineage_of(con, expr) == {"order_id": refs(f"{O}.order_id"), "segment": {ColumnRef(IN_MEMORY, "segment")}}
    assert lineage_of(con, segments) == {
        "customer_id": {ColumnRef(IN_MEMORY, "customer_id")},
        "segment": {ColumnRef(IN_MEMORY, "segment")},
    }


def test_raw_file_read_inside_the_query(duckdb_con, tmp_path):
    (tmp_path / "raw").mkdir()
    (tmp_path / "raw" / "orders.csv").write_text("id,amount\n1,2.5\n")
    raw = duckdb_con.sql(f"SELECT * FROM read_csv('{tmp_path}/raw/orders.csv', all_varchar = true)")
    expr = raw.select(order_id=raw.id.cast("int64"), amount=raw.amount)
    record = compiled_sql(duckdb_con, expr, "bronze.orders")
    found = column_sources(record.sql, record.dialect, record.sources, root=str(tmp_path))
    assert found == {
        "order_id": {ColumnRef("file:raw/orders.csv", "id")},
        "amount": {ColumnRef("file:raw/orders.csv", "amount")},
    }


def test_sql_that_is_not_a_query_is_a_one_line_error():
    with pytest.raises(MillpondError, match=r"^lineage of gold.x: its recorded SQL cannot be analysed"):
        column_sources("DELETE FROM t", "duckdb", {}, table="gold.x")


def _same_expression(con):
    con, orders, customers = _shop(con)
    joined = orders.join(customers, "customer_id")
    expr = joined.group_by("country").agg(
        revenue=joined.amount.sum(), first=joined.ts.min(), customers=joined.customer_id.nunique()
    )
    return lineage_of(con, expr.mutate(share=expr.revenue / expr.revenue.sum().over()))


def test_same_lineage_on_every_engine(con):
    assert _same_expression(con) == {
        "country": refs(f"{C}.country"),
        "revenue": refs(f"{O}.amount"),
        "first": refs(f"{O}.ts"),
        "customers": refs(f"{O}.customer_id"),
        "share": refs(f"{O}.amount"),
    }
