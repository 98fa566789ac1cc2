"""Tests for millpond.model.obt, on every backend (``con`` fixture)."""

from __future__ import annotations

import ibis
import pandas as pd
import pytest

from millpond.errors import MillpondError
from millpond.model.obt import one_big_table


def make_table(con: ibis.BaseBackend, name: str, rows: list[tuple], schema: dict[str, str]):
    frame = pd.DataFrame(rows, columns=list(schema), dtype=object)
    return con.create_table(name, ibis.memtable(frame, schema=schema))


def rows_of(expression) -> list[tuple]:
    """All rows as tuples with NULL as ``None``, in one fixed order."""
    frame = expression.to_pandas().astype(object)
    frame = frame.where(frame.notna(), None)
    return sorted(frame.itertuples(index=False, name=None), key=repr)


@pytest.fixture
def star(con):
    sales = make_table(
        con,
        "sales",
        [(1, 10, "p1", 5), (2, 10, "p2", 7), (3, 11, "p1", 1), (4, None, "p9", 2)],
        {"sale_id": "int64", "customer_id": "int64", "sku": "string", "quantity": "int64"},
    )
    customers = make_table(
        con,
        "customers",
        [(10, "Ann", "Oslo"), (11, "Bo", "Rome")],
        {"customer_id": "int64", "name": "string", "city": "string"},
    )
    products = make_table(con, "products", [("p1", "Pen"), ("p2", "Ink")], {"sku": "string", "name": "string"})
    return sales, customers, products


def test_every_fact_row_is_kept_with_prefixed_dimension_columns(star):
    sales, customers, products = star
    wide = one_big_table(sales, {"customer_id": customers, "sku": products})
    assert wide.columns == (
        "sale_id",
        "customer_id",
        "sku",
        "quantity",
        "customer_name",
        "customer_city",
        "sku_name",
    )
    # Sale 4 has no customer and an unknown sku: kept, with NULL attributes.
    assert rows_of(wide) == [
        (1, 10, "p1", 5, "Ann", "Oslo", "Pen"),
        (2, 10, "p2", 7, "Ann", "Oslo", "Ink"),
        (3, 11, "p1", 1, "Bo", "Rome", "Pen"),
        (4, None, "p9", 2, None, None, None),
    ]


def test_prefixes_can_be_given_per_join_key(star):
    sales, customers, products = star
    wide = one_big_table(sales, {"customer_id": customers, "sku": products}, prefix={"sku": "product_"})
    assert wide.columns[-3:] == ("customer_name", "customer_city", "product_name")


def test_colliding_names_without_prefix_are_an_error(star):
    sales, customers, products = star
    with pytest.raises(MillpondError, match="column 'name' of dimension 'sku' collides with"):
        one_big_table(sales, {"customer_id": customers, "sku": products}, prefix=False)


def test_unprefixed_columns_keep_their_names(star):
    sales, customers, _ = star
    wide = one_big_table(sales, {"customer_id": customers}, prefix=False)
    assert wide.columns[-2:] == ("name", "city")
    assert len(rows_of(wide)) == 4


def test_missing_join_column_is_named(star):
    sales, customers, _ = star
    with pytest.raises(MillpondError, match=r"the fact \S*sales has no join column 'store_id'"):
        one_big_table(sales, {"store_id": customers})
    with pytest.raises(MillpondError, match=r"dimension \S*customers has no join column 'sku'"):
        one_big_table(sales, {"sku": customers})
