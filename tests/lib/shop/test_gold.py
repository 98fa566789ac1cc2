"""Gold on a tiny hand-built silver shop; every expected number is worked out in the comments."""

from __future__ import annotations

import hashlib
from datetime import date, datetime
from decimal import Decimal

import ibis
import pyarrow as pa
import pytest

from shop import gold

D = Decimal
MONEY = pa.decimal128(18, 2)


def _value(con, scalar):
    """Execute a scalar expression through Arrow (``execute`` goes through pandas)."""
    return con.to_pyarrow(scalar).as_py()


def _money(*values):
    return pa.array([D(value) for value in values], MONEY)


@pytest.fixture
def shop():
    customers = ibis.memtable(
        pa.table(
            {
                "customer_id": [5, 3],
                "first_name": ["Eve", "Cas"],
                "last_name": ["E", "C"],
                "email": ["e@x.test", "c@x.test"],
                "phone": [None, "+31612345678"],
                "country": ["NL", "DE"],
                "signup_date": [date(2023, 1, 1)] * 2,
                "updated_at": [datetime(2023, 6, 1), datetime(2023, 5, 1)],
            }
        )
    )
    products = ibis.memtable(
        pa.table(
            {
                "product_id": [2, 1],
                "sku": ["S2", "S1"],
                "name": ["Mug", "Kite"],
                "category": ["kitchen", "toys"],
                "unit_price": _money("0.05", "10.10"),
                "active": [True, False],
            }
        )
    )
    orders = ibis.memtable(
        pa.table(
            {
                "order_id": [1, 2, 3, 4],
                "customer_id": [5, 3, 3, 5],
                "order_ts": [
                    datetime(2024, 1, 1, 10),
                    datetime(2024, 1, 1, 23),
                    datetime(2024, 1, 3, 8),
                    datetime(2024, 1, 3, 9),
                ],
                "order_date": [date(2024, 1, 1), date(2024, 1, 1), date(2024, 1, 3), date(2024, 1, 3)],
                "status": ["delivered", "cancelled", "returned", "placed"],
                "currency": ["EUR"] * 4,
                "channel": ["web"] * 4,
            }
        )
    )
    lines = ibis.memtable(
        pa.table(
            {
                "order_line_id": [1, 2, 3, 4],
                "order_id": [1, 1, 2, 3],
                "product_id": [1, 2, 1, 2],
                "quantity": [2, 1, 1, 3],
                "unit_price": _money("10.10", "0.05", "10.10", "33.33"),
                "discount": _money("1.00", "0", "0", "0.99"),
            }
        )
    )
    payments = ibis.memtable(
        pa.table(
            {
                "payment_id": [1, 2, 3],
                "order_id": [1, 3, 3],
                "paid_ts": [datetime(2024, 1, 1, 11), datetime(2024, 1, 5, 7), datetime(2024, 1, 4, 6)],
                "amount": _money("19.25", "50.00", "49.00"),
            }
        )
    )
    return {"customers": customers, "products": products, "orders": orders, "lines": lines, "payments": payments}


def test_dimensions_key_customers_durably_and_number_products_in_order(con, shop):
    customers = con.to_pyarrow(gold.dim_customer(shop["customers"])).to_pylist()
    durable = {3: hashlib.md5(b"3").hexdigest(), 5: hashlib.md5(b"5").hexdigest()}
    assert [(row["customer_key"], row["customer_id"], row["is_current"]) for row in customers] == [
        (durable[3], 3, True),
        (durable[5], 5, True),
    ]
    products = con.to_pyarrow(gold.dim_product(shop["products"])).to_pylist()
    assert [(row["product_key"], row["sku"], row["unit_price"]) for row in products] == [
        (1, "S1", D("10.10")),
        (2, "S2", D("0.05")),
    ]


def test_customer_dimension_keeps_history_and_closes_deleted_customers(con, shop):
    from millpond.warehouse.materialize import materialize

    materialize(con, gold.dim_customer(shop["customers"]), "gold.dim_customer")
    # next day: customer 5 moved to Belgium (updated 2024-02-01), customer 3 is gone from the source
    moved = (
        shop["customers"]
        .filter(lambda t: t.customer_id == 5)
        .mutate(country=ibis.literal("BE"), updated_at=ibis.literal(datetime(2024, 2, 1)))
    )
    previous = con.table("dim_customer", database="gold")
    second = gold.dim_customer(moved, previous)
    materialize(con, second, "gold.dim_customer")
    rows = con.to_pyarrow(con.table("dim_customer", database="gold").order_by(["customer_id", "valid_from"]))
    picked = [
        (r["customer_id"], r["country"], r["valid_from"], r["valid_to"], r["is_current"]) for r in rows.to_pylist()
    ]
    assert picked == [
        # closed at the data's own time of the snapshot: the newest updated_at, 2024-02-01
        (3, "DE", datetime(2023, 5, 1), datetime(2024, 2, 1), False),
        (5, "NL", datetime(2023, 6, 1), datetime(2024, 2, 1), False),
        (5, "BE", datetime(2024, 2, 1), None, True),
    ]
    assert len({r["customer_key"] for r in rows.to_pylist() if r["customer_id"] == 5}) == 1  # durable key
    # the same source again adds nothing
    again = gold.dim_customer(moved, con.table("dim_customer", database="gold"))
    assert con.to_pyarrow(again.count()).as_py() == 3


def test_date_spine_runs_from_start_to_run_date(con):
    rows = con.to_pyarrow(gold.dim_date(date(2024, 1, 1), date(2024, 1, 7))).to_pylist()
    assert len(rows) == 7
    # 2024-01-01 was a Monday.
    assert rows[0] == {
        "date_key": 20240101,
        "date": date(2024, 1, 1),
        "year": 2024,
        "month": 1,
        "day": 1,
        "weekday": 1,
        "weekday_name": "Monday",
        "is_weekend": False,
    }
    assert [row["is_weekend"] for row in rows] == [False] * 5 + [True] * 2
    with pytest.raises(ValueError, match="before start"):
        gold.dim_date(date(2024, 1, 2), date(2024, 1, 1))


def test_order_facts_total_their_lines_and_payments(con, shop):
    customers = gold.dim_customer(shop["customers"])
    facts = gold.fct_orders(shop["orders"], shop["lines"], shop["payments"], customers)
    rows = con.to_pyarrow(facts).to_pylist()
    key = {hashlib.md5(b"3").hexdigest(): 1, hashlib.md5(b"5").hexdigest(): 2}  # customers 3 and 5
    picked = [
        (
            r["order_id"],
            key[r["customer_key"]],
            r["date_key"],
            r["line_count"],
            r["items"],
            r["gross_amount"],
            r["discount_amount"],
            r["net_amount"],
            r["payment_count"],
            r["paid_amount"],
            r["is_revenue"],
        )
        for r in rows
    ]
    assert picked == [
        # 2 * 10.10 + 1 * 0.05 = 20.25 gross, - 1.00 discount = 19.25
        (1, 2, 20240101, 2, 3, D("20.25"), D("1.00"), D("19.25"), 1, D("19.25"), True),
        (2, 1, 20240101, 1, 1, D("10.10"), D("0.00"), D("10.10"), 0, D("0.00"), False),
        # 3 * 33.33 = 99.99, - 0.99 = 99.00, paid in two parts 50.00 + 49.00
        (3, 1, 20240103, 1, 3, D("99.99"), D("0.99"), D("99.00"), 2, D("99.00"), True),
        # no lines: zero totals
        (4, 2, 20240103, 0, 0, D("0.00"), D("0.00"), D("0.00"), 0, D("0.00"), True),
    ]
    assert str(facts.schema()["net_amount"]) == "decimal(18, 2)"
    # the watermark: the order's time, or its latest payment's when later
    assert [r["updated_at"] for r in rows] == [
        datetime(2024, 1, 1, 11),
        datetime(2024, 1, 1, 23),
        datetime(2024, 1, 5, 7),
        datetime(2024, 1, 3, 9),
    ]


def test_order_line_facts_carry_keys_and_exact_amounts(con, shop):
    facts = gold.fct_order_lines(shop["lines"], shop["orders"], gold.dim_product(shop["products"]))
    rows = con.to_pyarrow(facts).to_pylist()
    assert [(r["order_line_id"], r["product_key"], r["date_key"], r["amount"], r["is_revenue"]) for r in rows] == [
        (1, 1, 20240101, D("19.20"), True),
        (2, 2, 20240101, D("0.05"), True),
        (3, 1, 20240101, D("10.10"), False),
        (4, 2, 20240103, D("99.00"), True),
    ]


def test_money_survives_large_sums_exactly(con):
    lines = ibis.memtable(
        pa.table({"quantity": [3, 7], "unit_price": _money("12345678.99", "0.01"), "discount": _money("0.01", "0")})
    )
    total = _value(con, gold.line_amount(lines).sum())
    # 3 * 12345678.99 - 0.01 + 7 * 0.01 = 37037036.97 - 0.01 + 0.07
    assert total == D("37037037.03")


def test_daily_revenue_counts_every_day_and_skips_cancelled_orders(con, shop):
    facts = gold.fct_orders(shop["orders"], shop["lines"], shop["payments"], gold.dim_customer(shop["customers"]))
    dates = gold.dim_date(date(2024, 1, 1), date(2024, 1, 3))
    rows = con.to_pyarrow(gold.mart_daily_revenue(facts, dates, date(2024, 1, 3))).to_pylist()
    picked = [
        (
            r["date"].day,
            r["orders"],
            r["revenue"],
            r["items"],
            r["customers"],
            r["avg_order_value"],
            r["cancelled_orders"],
        )
        for r in rows
    ]
    assert picked == [
        (1, 1, D("19.25"), 3, 1, D("19.25"), 1),
        (2, 0, D("0.00"), 0, 0, None, 0),
        # orders 3 (99.00) and 4 (0.00): average 49.50
        (3, 2, D("99.00"), 3, 2, D("49.50"), 0),
    ]
    earlier = con.to_pyarrow(gold.mart_daily_revenue(facts, dates, date(2024, 1, 2)))
    assert earlier["date"].to_pylist() == [date(2024, 1, 1), date(2024, 1, 2)]
