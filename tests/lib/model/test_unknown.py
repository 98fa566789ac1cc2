"""Tests for millpond.model.unknown, on every backend (``con`` fixture)."""

from __future__ import annotations

import ibis
import pandas as pd
import pytest

from millpond.errors import MillpondError
from millpond.model.unknown import resolve_keys, with_unknown_member


def make_table(con, name: str, rows: list[tuple], schema: dict[str, str]) -> ibis.Table:
    frame = pd.DataFrame(rows, columns=list(schema), dtype=object)
    return con.create_table(name, ibis.memtable(frame, schema=schema))


def rows_of(con, expr) -> set[tuple]:
    rows = [tuple(r.values()) for r in con.to_pyarrow(expr).to_pylist()]
    assert len(rows) == len(set(rows)), rows
    return set(rows)


CUSTOMERS = {"customer_key": "int64", "customer_id": "string", "name": "string", "credit": "int32"}


def test_with_unknown_member_adds_one_row_with_defaults(con):
    dim = make_table(con, "dim_customer", [(1, "a", "Ann", 10), (2, "b", "Bo", None)], CUSTOMERS)
    with_unknown = with_unknown_member(dim, "customer_key", {"credit": 0})
    assert with_unknown.schema() == dim.schema()
    assert rows_of(con, with_unknown) == {
        (1, "a", "Ann", 10),
        (2, "b", "Bo", None),
        (-1, "unknown", "unknown", 0),  # strings default to 'unknown', the rest as given
    }
    # Applying it twice still gives one unknown member.
    stored = con.create_table("dim_customer_u", with_unknown)
    assert len(rows_of(con, with_unknown_member(stored, "customer_key", {"credit": 0}))) == 3


def test_with_unknown_member_on_a_string_key_and_a_chosen_key(con):
    dim = make_table(con, "dim_country", [("NO", 5)], {"code": "string", "population": "int64"})
    assert rows_of(con, with_unknown_member(dim, "code")) == {("NO", 5), ("unknown", None)}
    assert rows_of(con, with_unknown_member(dim, "code", unknown_key="??")) == {("NO", 5), ("??", None)}


def test_with_unknown_member_names_bad_arguments():
    dim = ibis.memtable({"k": [1.5], "name": ["x"]})
    with pytest.raises(MillpondError, match="key column 'k' is float64; pass unknown_key="):
        with_unknown_member(dim, "k")
    with pytest.raises(MillpondError, match="column 'colour' is not in"):
        with_unknown_member(dim, "k", {"colour": "red"}, unknown_key=-1.0)


ORDERS = {"order_id": "int64", "customer_id": "string", "amount": "int64"}
ORDER_ROWS = [(10, "a", 5), (11, "zz", 6), (12, None, 7), (13, "b", 8)]


def test_resolve_keys_looks_up_a_surrogate_and_never_drops_a_fact(con):
    dim = make_table(con, "dim_customer", [(1, "a", "Ann", 10), (2, "b", "Bo", None)], CUSTOMERS)
    orders = make_table(con, "orders", ORDER_ROWS, ORDERS)
    keyed = resolve_keys(orders, with_unknown_member(dim, "customer_key"), "customer_id", surrogate="customer_key")
    assert keyed.columns == ("order_id", "customer_id", "amount", "customer_key")
    assert rows_of(con, keyed) == {(10, "a", 5, 1), (11, "zz", 6, -1), (12, None, 7, -1), (13, "b", 8, 2)}
    # The inner join on the resolved key keeps every order and the whole total.
    joined = keyed.inner_join(with_unknown_member(dim, "customer_key"), "customer_key")
    assert con.execute(joined.amount.sum()) == 5 + 6 + 7 + 8


def test_resolve_keys_replaces_orphan_and_null_natural_keys(con):
    dim = make_table(con, "dim_customer", [(1, "a", "Ann", 10), (2, "b", "Bo", None), (3, None, "Nil", 0)], CUSTOMERS)
    orders = make_table(con, "orders", ORDER_ROWS, ORDERS)
    resolved = resolve_keys(orders, dim, "customer_id")
    assert resolved.columns == orders.columns
    # A null dimension key matches nothing (and must not turn every orphan into null).
    assert rows_of(con, resolved) == {(10, "a", 5), (11, "unknown", 6), (12, "unknown", 7), (13, "b", 8)}


def test_resolve_keys_between_differently_named_integer_keys(con):
    dim = make_table(con, "dim_product", [(1,), (2,)], {"product_key": "int64"})
    lines = make_table(con, "lines", [(100, 1), (101, 7), (102, None)], {"line_id": "int64", "product": "int64"})
    resolved = resolve_keys(lines, dim, "product", "product_key")
    assert rows_of(con, resolved) == {(100, 1), (101, -1), (102, -1)}


def test_resolve_keys_refuses_to_overwrite_a_fact_column():
    fact = ibis.memtable({"customer_id": ["a"], "customer_key": [9]})
    dim = ibis.memtable({"customer_id": ["a"], "customer_key": [1]})
    with pytest.raises(MillpondError, match="already has a column 'customer_key'"):
        resolve_keys(fact, dim, "customer_id", surrogate="customer_key")
