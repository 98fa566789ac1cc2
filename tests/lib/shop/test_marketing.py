"""The marketing domain's mart, from the sales products, worked out by hand on both engines."""

from __future__ import annotations

from decimal import Decimal as D

import ibis
import pyarrow as pa

from shop.marketing import revenue_by_country

MONEY = pa.decimal128(18, 2)


def test_revenue_per_current_country_of_revenue_orders(con):
    orders = ibis.memtable(
        pa.table(
            {
                "customer_key": ["a", "a", "b", "c", "d", "e"],
                "is_revenue": [True, True, True, False, True, True],
                "net_amount": pa.array([D("10.00"), D("5.50"), D("20.00"), D("9.00"), D("1.25"), D("3.00")], MONEY),
            }
        )
    )
    customers = ibis.memtable(
        pa.table(
            {  # a moved from DE to FR; d has no country; e is unknown to the dimension
                "customer_key": ["a", "a", "b", "c", "d"],
                "country": ["DE", "FR", "NL", "NL", None],
                "is_current": [False, True, True, True, True],
            }
        )
    )
    rows = con.to_pyarrow(revenue_by_country(orders, customers)).to_pylist()
    # NL: b's 20.00 (c's order is not revenue); FR: a's 10.00 + 5.50; unknown: d's 1.25 + e's 3.00
    assert rows == [
        {"country": "NL", "customers": 1, "orders": 1, "revenue": D("20.00")},
        {"country": "FR", "customers": 1, "orders": 2, "revenue": D("15.50")},
        {"country": "unknown", "customers": 2, "orders": 2, "revenue": D("4.25")},
    ]
