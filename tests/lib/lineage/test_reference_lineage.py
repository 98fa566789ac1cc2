"""The column lineage of gold columns of the reference workspace, pinned.

Expected answers come from reading lib/shop/{bronze,silver,gold}.py and
lib/millpond/model/{scd,keys}.py, not from running the lineage code:

* ``mart_daily_revenue.revenue`` = ``sum(fct_orders.net_amount)`` (filters on
  ``order_date`` and ``is_revenue`` carry no value); ``net_amount`` = sum of
  ``quantity * unit_price - discount`` of silver order lines, each parsed from the
  same bronze column, read from ``order_lines.parquet``.
* ``fct_orders.customer_key`` = ``dim_customer.customer_key`` (a distinct select,
  joined on ``customer_id``) = ``surrogate_key(silver customers.customer_id)``.
* ``fct_orders.paid_amount`` = ``sum(payments.amount)`` per order.
* ``fct_orders.updated_at`` = ``greatest(order_ts, coalesce(max(paid_ts), order_ts))``.
* ``dim_customer.valid_from`` = the source's ``updated_at`` (SCD 2, timestamp strategy).
* ``silver.customers.phone`` = ``normalize_phone(phone, country code)``: phone and country.
"""

from __future__ import annotations

import pytest

from millpond.lineage.columns import ColumnRef
from millpond.lineage.workspace import impact, workspace_lineage

pytestmark = pytest.mark.slow


def refs(*names: str) -> set[ColumnRef]:
    return {ColumnRef(*name.rsplit(".", 1)) for name in names}


@pytest.fixture(scope="module")
def lineage(shop_reference):
    return workspace_lineage(shop_reference)


def test_daily_revenue_comes_from_the_order_lines_amounts(lineage):
    graph = lineage.graph
    revenue = ColumnRef("gold.mart_daily_revenue", "revenue")
    assert set(graph.sources(revenue)) == refs("gold.fct_orders.net_amount")
    assert set(graph.sources(ColumnRef("gold.fct_orders", "net_amount"))) == refs(
        "silver.order_lines.quantity", "silver.order_lines.unit_price", "silver.order_lines.discount"
    )
    assert set(graph.sources(ColumnRef("silver.order_lines", "discount"))) == refs("bronze.order_lines.discount")
    assert graph.origins(revenue) == refs(
        "file:data/raw/order_lines.parquet.quantity",
        "file:data/raw/order_lines.parquet.unit_price",
        "file:data/raw/order_lines.parquet.discount",
    )


def test_order_customer_key_is_the_dimension_key_of_the_customer_id(lineage):
    graph = lineage.graph
    key = ColumnRef("gold.fct_orders", "customer_key")
    assert set(graph.sources(key)) == refs("gold.dim_customer.customer_key")
    assert set(graph.sources(ColumnRef("gold.dim_customer", "customer_key"))) == refs("silver.customers.customer_id")
    assert graph.origins(key) == refs("file:data/raw/customers.csv.customer_id")


def test_paid_amount_and_updated_at(lineage):
    graph = lineage.graph
    paid = ColumnRef("gold.fct_orders", "paid_amount")
    assert set(graph.sources(paid)) == refs("silver.payments.amount")
    assert graph.origins(paid) == refs("file:data/raw/payments.csv.amount")
    assert set(graph.sources(ColumnRef("gold.fct_orders", "updated_at"))) == refs(
        "silver.orders.order_ts", "silver.payments.paid_ts"
    )


def test_customer_valid_from_and_phone(lineage):
    graph = lineage.graph
    valid_from = ColumnRef("gold.dim_customer", "valid_from")
    assert ColumnRef("silver.customers", "updated_at") in graph.sources(valid_from)
    assert graph.origins(valid_from) == refs("file:data/raw/customers.csv.updated_at")
    assert set(graph.sources(ColumnRef("silver.customers", "phone"))) == refs(
        "bronze.customers.phone", "bronze.customers.country"
    )


def test_impact_of_a_raw_amount_reaches_the_mart_and_its_checks(lineage):
    amount = ColumnRef("bronze.payments", "amount")
    found = impact(lineage, amount)
    assert {"silver.payments.amount", "gold.fct_orders.paid_amount"} <= set(found["columns"])
    # values only: the mart sums net_amount, not payments
    assert "gold.mart_daily_revenue" not in {c.table for c in lineage.graph.impacted(amount)}
    # rows: silver keeps a payment only if its amount parses (classify_payments), the rest go to
    # quarantine; which payments are kept then decides how fct_orders' left join matches them
    assert {"silver.payments", "quarantine.payments", "gold.fct_orders"} <= set(found["rows"])
    found = impact(lineage, ColumnRef("silver.order_lines", "quantity"))
    assert {
        "gold.fct_orders.net_amount",
        "gold.mart_daily_revenue.revenue",
        "gold.fct_order_lines.quantity",
        "gold.fct_order_lines.amount",
    } <= set(found["columns"])
    checks = {(c["table"], c["check"]) for c in found["checks"]}
    assert ("gold.fct_orders", "net_amount >= 0") in checks


def test_a_filter_column_affects_the_rows_downstream_but_carries_no_value(lineage):
    """mart_daily_revenue keeps the orders whose ``is_revenue`` holds (gold.py), and
    ``fct_orders.is_revenue`` is computed from ``silver.orders.status``."""
    graph = lineage.graph
    status = ColumnRef("silver.orders", "status")
    assert "gold.mart_daily_revenue" not in {c.table for c in graph.impacted(status)}
    assert ColumnRef("gold.fct_orders", "is_revenue") in graph.row_sources("gold.mart_daily_revenue")
    assert ColumnRef("gold.fct_orders", "order_date") in graph.row_sources("gold.mart_daily_revenue")
    assert ColumnRef("gold.fct_orders", "net_amount") not in graph.row_sources("gold.mart_daily_revenue")
    found = impact(lineage, status)
    assert "gold.mart_daily_revenue" in found["rows"]
    assert {"gold.fct_orders.is_revenue", "gold.mart_daily_revenue.revenue"} <= set(found["columns"])
    assert "gold.fct_orders" not in found["rows"]  # fct_orders keeps every order, whatever its status
