"""Tests for millpond.model.keys, on every backend (``con`` fixture).

Every expected key is ``hashlib.md5`` of a canonical text written out by hand, so the
tests prove both engines agree with each other and with Python.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from decimal import Decimal

import ibis
import pandas as pd
import pytest

from millpond.errors import MillpondError
from millpond.model.keys import surrogate_key


def md5(text: str) -> str:
    return hashlib.md5(text.encode()).hexdigest()


def make_table(con: ibis.BaseBackend, name: str, rows: list[tuple], schema: dict[str, str]):
    frame = pd.DataFrame(rows, columns=list(schema), dtype=object)
    return con.create_table(name, ibis.memtable(frame, schema=schema))


def keys_by_id(table, key) -> dict[int, str]:
    frame = table.select("row_id", key=key).to_pandas()
    return {int(i): k for i, k in zip(frame["row_id"], frame["key"], strict=True)}


def test_each_type_renders_the_same_text_on_every_engine(con):
    t = make_table(
        con,
        "t",
        [
            (
                1,
                "  Ann ",
                42,
                Decimal("1.50"),
                True,
                dt.date(2024, 1, 5),
                dt.datetime(2024, 1, 5, 10, 7, 3, 500000),
            ),
            (2, "x", -3, Decimal("100.00"), False, dt.date(2024, 12, 31), dt.datetime(2024, 1, 5)),
        ],
        {
            "row_id": "int64",
            "name": "string",
            "qty": "int64",
            "price": "decimal(10, 2)",
            "paid": "boolean",
            "day": "date",
            "at": "timestamp",
        },
    )
    key = surrogate_key(t["name"], t.qty, t.price, t.paid, t.day, t["at"])
    assert keys_by_id(t, key) == {
        1: md5("Ann|42|1.5|true|2024-01-05|2024-01-05 10:07:03.500000"),
        2: md5("x|-3|100|false|2024-12-31|2024-01-05 00:00:00.000000"),
    }


def test_null_has_its_own_marker_and_keys_are_never_null(con):
    t = make_table(
        con,
        "t",
        [(1, None, None), (2, "", None), (3, "\\N", 5)],
        {"row_id": "int64", "a": "string", "b": "int64"},
    )
    # NULL is \N; an empty string stays empty; a literal \N string is escaped to \\N.
    assert keys_by_id(t, surrogate_key(t.a, t.b)) == {
        1: md5("\\N|\\N"),
        2: md5("|\\N"),
        3: md5("\\\\N|5"),
    }


def test_separator_inside_a_value_cannot_collide(con):
    t = make_table(
        con,
        "t",
        [(1, "a|", "b"), (2, "a", "|b")],
        {"row_id": "int64", "x": "string", "y": "string"},
    )
    keys = keys_by_id(t, surrogate_key(t.x, t.y))
    assert keys == {1: md5("a\\||b"), 2: md5("a|\\|b")}
    assert keys[1] != keys[2]


def test_column_order_matters_and_whitespace_does_not(con):
    t = make_table(
        con,
        "t",
        [(1, "a", "b"), (2, " a", "b\t")],
        {"row_id": "int64", "x": "string", "y": "string"},
    )
    assert keys_by_id(t, surrogate_key(t.x, t.y)) == {1: md5("a|b"), 2: md5("a|b")}
    assert keys_by_id(t, surrogate_key(t.y, t.x)) == {1: md5("b|a"), 2: md5("b|a")}


def test_timezone_aware_timestamps_render_in_utc(con):
    t = make_table(
        con,
        "t",
        [(1, pd.Timestamp("2024-03-01 12:30:00+01:00"))],
        {"row_id": "int64", "at": "timestamp('UTC')"},
    )
    assert keys_by_id(t, surrogate_key(t["at"])) == {1: md5("2024-03-01 11:30:00.000000")}


def test_floats_are_refused_with_the_column_name():
    t = ibis.table({"ratio": "float64"}, name="t")
    with pytest.raises(MillpondError, match="'ratio' is floating-point"):
        surrogate_key(t.ratio)


def test_no_columns_is_an_error():
    with pytest.raises(MillpondError, match="at least one column"):
        surrogate_key()
