"""Tests for millpond.model.vault, on every backend (``con`` fixture).

Hash keys are checked against ``hashlib.md5`` of the canonical text written by hand
(``|`` between values, ``\\N`` for NULL), so both engines agree with Python.
"""

from __future__ import annotations

import datetime as dt
import hashlib

import ibis
import pandas as pd
import pytest

from millpond.errors import MillpondError
from millpond.model.vault import hub, link, satellite

D1, D2, D3, D4, D5, D6 = (dt.date(2024, 1, day) for day in range(1, 7))
CUSTOMER_SCHEMA = {"customer_id": "string", "tier": "string", "city": "string", "loaded": "date"}


def md5(text: str) -> str:
    return hashlib.md5(text.encode()).hexdigest()


def make_table(con: ibis.BaseBackend, name: str, rows: list[tuple], schema: dict[str, str]):
    frame = pd.DataFrame(rows, columns=list(schema), dtype=object)
    return con.create_table(name, ibis.memtable(frame, schema=schema), overwrite=True)


def rows_of(expression, columns: list[str]) -> list[tuple]:
    """Sorted tuples of ``columns``; dates as ``datetime.date``, NULL as ``None``."""
    frame = expression.to_pandas()
    assert sorted(frame.columns) == sorted(columns)

    def plain(value):
        if value is None or value is pd.NaT or (isinstance(value, float) and pd.isna(value)):
            return None
        if isinstance(value, pd.Timestamp | dt.datetime):
            return pd.Timestamp(value).date()
        return value

    tuples = [tuple(plain(v) for v in row) for row in frame[columns].itertuples(index=False)]
    return in_order(tuples)


def in_order(rows: list[tuple]) -> list[tuple]:
    """``rows`` in one fixed order, to compare result sets regardless of row order."""
    return sorted(rows, key=repr)


@pytest.fixture
def customers(con):
    return make_table(
        con,
        "customers",
        [
            ("c1", "gold", "Oslo", D1),
            ("c1", "gold", "Oslo", D2),  # no change
            ("c1", "silver", "Oslo", D3),  # change
            ("c2", "gold", None, D2),
            ("c2", "gold", None, D2),  # exact duplicate
            (None, "gold", "Rome", D1),  # no business key: left out
            ("c1", "gold", "Oslo", D4),  # back to gold: a change again
        ],
        CUSTOMER_SCHEMA,
    )


HUB_COLUMNS = ["hash_key", "customer_id", "loaded", "record_source"]
SAT_COLUMNS = ["hash_key", "loaded", "hashdiff", "tier", "city", "record_source"]


def test_hub_has_each_business_key_once_with_its_first_load_date(customers):
    assert rows_of(hub(customers, "customer_id", "loaded", "crm"), HUB_COLUMNS) == in_order(
        [(md5("c1"), "c1", D1, "crm"), (md5("c2"), "c2", D2, "crm")]
    )


def test_hub_reload_adds_nothing_and_a_new_batch_adds_only_new_keys(con, customers):
    loaded = con.create_table("hub_customer", hub(customers, "customer_id", "loaded", "crm"))
    again = hub(customers, "customer_id", "loaded", "crm", existing=loaded)
    assert rows_of(again, HUB_COLUMNS) == []
    batch = make_table(con, "batch", [("c3", "gold", "Oslo", D5), ("c1", "gold", "Oslo", D5)], CUSTOMER_SCHEMA)
    assert rows_of(hub(batch, "customer_id", "loaded", "crm", existing=loaded), HUB_COLUMNS) == [
        (md5("c3"), "c3", D5, "crm"),
    ]


def test_satellite_keeps_each_change_of_payload(customers):
    sat = satellite(customers, "customer_id", ["tier", "city"], "loaded", "crm")
    assert rows_of(sat, SAT_COLUMNS) == in_order(
        [
            (md5("c1"), D1, md5("gold|Oslo"), "gold", "Oslo", "crm"),
            (md5("c1"), D3, md5("silver|Oslo"), "silver", "Oslo", "crm"),
            (md5("c1"), D4, md5("gold|Oslo"), "gold", "Oslo", "crm"),
            (md5("c2"), D2, md5("gold|\\N"), "gold", None, "crm"),
        ]
    )


def test_satellite_reload_is_idempotent_and_appends_only_changes(con, customers):
    loaded = con.create_table("sat_customer", satellite(customers, "customer_id", ["tier", "city"], "loaded", "crm"))
    again = satellite(customers, "customer_id", ["tier", "city"], "loaded", "crm", existing=loaded)
    assert rows_of(again, SAT_COLUMNS) == []

    batch = make_table(
        con,
        "batch",
        [
            ("c1", "gold", "Oslo", D5),  # same as c1's latest (D4): nothing
            ("c1", "silver", "Oslo", D2),  # older than c1's latest: history is not rewritten
            ("c2", "platinum", None, D6),  # c2 changes
            ("c3", "gold", "Oslo", D5),  # a new customer
        ],
        CUSTOMER_SCHEMA,
    )
    delta = satellite(batch, "customer_id", ["tier", "city"], "loaded", "crm", existing=loaded)
    assert rows_of(delta, SAT_COLUMNS) == in_order(
        [
            (md5("c2"), D6, md5("platinum|\\N"), "platinum", None, "crm"),
            (md5("c3"), D5, md5("gold|Oslo"), "gold", "Oslo", "crm"),
        ]
    )


def test_link_has_each_combination_once_and_joins_its_hubs(con):
    orders = make_table(
        con,
        "orders",
        [
            ("o1", "c1", "p1", D1),
            ("o2", "c1", "p1", D2),  # same pair, later: not a new link
            ("o3", "c2", "p2", D2),
            ("o4", "c2", None, D3),  # no sku: left out
        ],
        {"order_id": "string", "customer_id": "string", "sku": "string", "loaded": "date"},
    )
    links = link(orders, {"customer_hk": "customer_id", "product_hk": "sku"}, "loaded", "shop")
    columns = ["link_hk", "customer_hk", "product_hk", "loaded", "record_source"]
    assert rows_of(links, columns) == in_order(
        [
            (md5("c1|p1"), md5("c1"), md5("p1"), D1, "shop"),
            (md5("c2|p2"), md5("c2"), md5("p2"), D2, "shop"),
        ]
    )
    customers = hub(orders, "customer_id", "loaded", "shop", hash_key="customer_hk")
    joined = links.join(customers, "customer_hk").select("link_hk", "customer_id")
    assert rows_of(joined, ["link_hk", "customer_id"]) == in_order([(md5("c1|p1"), "c1"), (md5("c2|p2"), "c2")])
    loaded = con.create_table("link_order", links)
    hubs = {"customer_hk": "customer_id", "product_hk": "sku"}
    assert rows_of(link(orders, hubs, "loaded", "shop", existing=loaded), columns) == []


def test_missing_column_is_named():
    t = ibis.table({"customer_id": "string", "loaded": "date"}, name="customers")
    with pytest.raises(MillpondError, match="'tier' is not in customers"):
        satellite(t, "customer_id", "tier", "loaded", "crm")
    with pytest.raises(MillpondError, match="at least two hubs"):
        link(t, {"customer_hk": "customer_id"}, "loaded", "crm")
