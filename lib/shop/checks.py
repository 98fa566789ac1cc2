"""The checks on the shop's gold layer, run by its `check_gold` stage through `ctx.check`.

Each check selects the violating rows (zero rows = pass), built with
:mod:`millpond.quality.basic`.
"""

from __future__ import annotations

from collections.abc import Callable

import ibis
import ibis.expr.types as ir
import pandas as pd

from millpond.quality.basic import Check, not_null, relationships, row_count_between, unique

GOLD_KEYS = {
    "gold.dim_customer": "scd_id",
    "gold.dim_product": "product_key",
    "gold.dim_date": "date_key",
    "gold.fct_orders": "order_id",
    "gold.fct_order_lines": "order_line_id",
    "gold.mart_daily_revenue": "date_key",
}


def gold_checks(table: Callable[[str], ir.Table]) -> list[Check]:
    """Not-null and unique keys, fact-to-dimension relationships and non-empty tables.

    ``dim_customer`` is type 2: its key is the version's ``scd_id``, and each customer
    has one current version.

    Parameters
    ----------
    table
        Gives a warehouse table by name, e.g. ``ctx.table``.

    Order dates after the run date have no ``dim_date`` row by design (the calendar
    ends at the run date), so that relationship is a ``warn``.
    """
    checks: list[Check] = []
    for name, key in GOLD_KEYS.items():
        t = table(name)
        checks += [
            Check(f"{key} is not null", name, not_null(t, key)),
            Check(f"{key} is unique", name, unique(t, key)),
            Check("has rows", name, row_count_between(t, min=1)),
        ]
    orders, lines = table("gold.fct_orders"), table("gold.fct_order_lines")
    customers, products, dates = table("gold.dim_customer"), table("gold.dim_product"), table("gold.dim_date")
    current = customers.filter(customers.is_current)
    checks += [
        Check("one current version per customer", "gold.dim_customer", unique(current, "customer_key")),
        Check("customer_key is not null", "gold.fct_orders", not_null(orders, "customer_key")),
        Check(
            "customer_key references dim_customer",
            "gold.fct_orders",
            relationships(orders, "customer_key", customers, "customer_key"),
        ),
        Check(
            "product_key references dim_product",
            "gold.fct_order_lines",
            relationships(lines, "product_key", products, "product_key"),
        ),
        Check(
            "order_id references fct_orders",
            "gold.fct_order_lines",
            relationships(lines, "order_id", orders, "order_id"),
        ),
        Check(
            "date_key references dim_date",
            "gold.fct_orders",
            relationships(orders, "date_key", dates, "date_key"),
            "warn",
        ),
    ]
    return checks


def results_table(results: pd.DataFrame) -> ir.Table:
    """Check results as a table to materialize (the samples stay out: they may hold PII).

    >>> frame = pd.DataFrame({"check": ["c"], "table": ["t"], "severity": ["error"],
    ...                       "status": ["pass"], "failing_rows": [0], "sample": [[]]})
    >>> results_table(frame).columns
    ('check', 'table', 'severity', 'status', 'failing_rows')
    """
    import pyarrow as pa

    columns = ["check", "table", "severity", "status", "failing_rows"]
    return ibis.memtable(pa.Table.from_pandas(results[columns], preserve_index=False))
