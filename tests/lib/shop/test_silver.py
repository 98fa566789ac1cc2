"""Silver on small hand-built bronze tables; expected values worked out by hand."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

import ibis
import pyarrow as pa

from shop import silver

LOADED = datetime(2024, 2, 1)


def _bronze(columns: dict, source_file="data/raw/x.csv"):
    rows = len(next(iter(columns.values())))
    return ibis.memtable(pa.table({**columns, "_source_file": [source_file] * rows, "_loaded_at": [LOADED] * rows}))


def _reasons(con, rejected):
    return sorted(con.to_pyarrow(rejected)["reason"].to_pylist())


def _customers():
    return _bronze(
        {
            "customer_id": ["1", "1", "2", "2", "3", "4", "5"],
            "first_name": ["Ann", "Ann", "Bo", "Bo", "Cy", "Di", "Ed"],
            "last_name": ["Lee", "Lee", "Ng", "Ng", "Ho", "Li", "Xu"],
            "email": [" Ann@X.test", " Ann@X.test", "bo@old.test", "BO@NEW.TEST ", None, "di@x.test", "ed@x.test"],
            "phone": ["06-12345678", "06-12345678", None, "(555) 123-4567", None, "0032 412345678", None],
            "country": ["NL", "NL", "US", "US", "DE", "be", "FR"],
            "signup_date": [
                "2023-05-01",
                "2023-05-01",
                "2022-01-01",
                "2022-01-01",
                "2023-01-01",
                "2023-02-01",
                "unknown",
            ],
            "updated_at": [
                "2023-05-01 10:00:00",
                "2023-05-01 10:00:00",
                "2022-01-01 09:00:00",
                "2023-06-01 09:00:00",
                "2023-01-01 00:00:00",
                "2023-02-01 00:00:00",
                "2023-01-01 00:00:00",
            ],
        }
    )


def test_customers_are_deduplicated_and_normalized(con):
    clean = con.to_pyarrow(silver.clean_customers(_customers()).order_by("customer_id")).to_pylist()
    assert [(row["customer_id"], row["email"], row["phone"], row["country"]) for row in clean] == [
        (1, "ann@x.test", "+31612345678", "NL"),
        (2, "bo@new.test", "+15551234567", "US"),
        (4, "di@x.test", "+32412345678", "BE"),
    ]
    assert clean[0]["signup_date"] == date(2023, 5, 1)
    assert clean[1]["updated_at"] == datetime(2023, 6, 1, 9)
    assert _reasons(con, silver.rejected_customers(_customers())) == [
        "duplicate",
        "invalid_signup_date",
        "missing_email",
        "superseded",
    ]


def _orders():
    return _bronze(
        {
            "order_id": ["10", "10", "11", "12", "13", "14", "15", "16"],
            "customer_id": ["1", "1", "2", None, "1", "99", "1", "1"],
            "order_ts": [
                "2024-01-02 23:30:00",
                "2024-01-02 23:30:00",
                "2024-01-03 00:10:00",
                "2024-01-03 01:00:00",
                "not-a-date",
                "2024-01-03 02:00:00",
                "2024-01-03 03:00:00",
                "2024-01-04 04:00:00",
            ],
            "status": [" Delivered", " Delivered", "cancelled", "placed", "placed", "placed", "lost", "SHIPPED"],
            "currency": ["eur", "eur", "EUR ", "EUR", "EUR", "EUR", "EUR", "USD"],
            "channel": ["Web", "Web", "app", "app", "app", "app", "app", "app"],
        }
    )


def test_orders_are_typed_conformed_and_checked_against_customers(con):
    customers = ibis.memtable(pa.table({"customer_id": [1, 2]}))
    clean = con.to_pyarrow(silver.clean_orders(_orders(), customers).order_by("order_id")).to_pylist()
    assert [(row["order_id"], row["status"], row["currency"], row["channel"], row["order_date"]) for row in clean] == [
        (10, "delivered", "EUR", "web", date(2024, 1, 2)),
        (11, "cancelled", "EUR", "app", date(2024, 1, 3)),
    ]
    assert _reasons(con, silver.rejected_orders(_orders(), customers)) == [
        "duplicate",
        "invalid_currency",
        "invalid_order_ts",
        "invalid_status",
        "missing_customer_id",
        "orphan_customer",
    ]
    accepting_usd = silver.clean_orders(_orders(), customers, currencies=("EUR", "USD"))
    assert sorted(con.to_pyarrow(accepting_usd)["order_id"].to_pylist()) == [10, 11, 16]


def test_order_lines_keep_exact_money_and_drop_orphans(con):
    money = pa.decimal128(10, 2)
    bronze = ibis.memtable(
        pa.table(
            {
                "order_line_id": pa.array([1, 2, 3, 4, 5, 6, 7, 8], pa.int64()),
                "order_id": pa.array([10, 10, 11, 99, 10, 10, 10, 11], pa.int64()),
                "product_id": pa.array([1, 2, 1, 1, 77, 1, 2, 2], pa.int64()),
                "quantity": pa.array([3, 1, 3, 1, 1, None, 0, 3], pa.int64()),
                "unit_price": pa.array(
                    ["0.10", "12345678.99", "0.10", "1.00", "1.00", "1.00", "1.00", "0.10"], pa.string()
                ).cast(money),
                "discount": pa.array(["0.00", None, "0.30", "0.00", "0.00", "0.00", "0.00", "0.31"], pa.string()).cast(
                    money
                ),
            }
        )
    )
    orders = ibis.memtable(pa.table({"order_id": [10, 11]}))
    products = ibis.memtable(pa.table({"product_id": [1, 2]}))
    clean = con.to_pyarrow(silver.clean_order_lines(bronze, orders, products).order_by("order_line_id")).to_pylist()
    assert [(row["order_line_id"], row["unit_price"], row["discount"]) for row in clean] == [
        (1, Decimal("0.10"), Decimal("0.00")),
        (2, Decimal("12345678.99"), Decimal("0.00")),
        (3, Decimal("0.10"), Decimal("0.30")),  # a discount may equal quantity * unit_price
    ]
    assert _reasons(con, silver.rejected_order_lines(bronze, orders, products)) == [
        "invalid_discount",
        "invalid_quantity",
        "missing_quantity",
        "orphan_order",
        "orphan_product",
    ]


def test_payments_reject_unparseable_amounts(con):
    bronze = _bronze(
        {
            "payment_id": ["1", "2", "3", "3"],
            "order_id": ["10", "10", "10", "10"],
            "paid_ts": ["2024-01-02 10:00:00"] * 4,
            "method": ["Card", "card", "card", "card"],
            "amount": ["10.5", "12,50", "0.01", "0.01"],
        }
    )
    orders = ibis.memtable(pa.table({"order_id": [10]}))
    clean = con.to_pyarrow(silver.clean_payments(bronze, orders).order_by("payment_id")).to_pylist()
    assert [(row["payment_id"], row["method"], row["amount"]) for row in clean] == [
        (1, "card", Decimal("10.50")),
        (3, "card", Decimal("0.01")),
    ]
    assert _reasons(con, silver.rejected_payments(bronze, orders)) == ["duplicate", "invalid_amount"]


def test_events_flag_late_arrivals_and_keep_anonymous_visitors(con):
    bronze = _bronze(
        {
            "event_id": ["e1", "e2", "e2", "e3", "e4"],
            "session_id": ["s1", "s1", "s1", "s2", "s2"],
            "customer_id": [None, 1, 1, None, None],
            "event_type": ["page_view", "purchase", "purchase", "click", "page_view"],
            "product_id": [5, None, None, None, None],
            "event_ts": [
                "2024-01-01 23:59:58",
                "2024-01-02 10:00:00",
                "2024-01-02 10:00:00",
                "2024-01-02 10:00:00",
                None,
            ],
            "received_ts": [
                "2024-01-02 00:00:01",
                "2024-01-04 09:00:00",
                "2024-01-04 09:00:00",
                "2024-01-02 10:00:01",
                "2024-01-02 10:00:01",
            ],
        }
    )
    clean = con.to_pyarrow(silver.clean_events(bronze).order_by("event_id")).to_pylist()
    # e1 happened at 23:59:58 and arrived after midnight: late by the day rule, not by much.
    assert [(row["event_id"], row["customer_id"], row["is_late"]) for row in clean] == [
        ("e1", None, True),
        ("e2", 1, True),
    ]
    assert _reasons(con, silver.rejected_events(bronze)) == ["duplicate", "invalid_event_type", "missing_event_ts"]
