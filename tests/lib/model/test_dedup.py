"""Tests for millpond.model.dedup, on every backend (``con`` fixture)."""

from __future__ import annotations

from datetime import datetime

import ibis
import pandas as pd
import pytest

from millpond.errors import MillpondError
from millpond.model.dedup import drop_exact_duplicates, latest_per_key


def make_table(con, name: str, rows: list[tuple], schema: dict[str, str]) -> ibis.Table:
    frame = pd.DataFrame(rows, columns=list(schema), dtype=object)
    return con.create_table(name, ibis.memtable(frame, schema=schema))


def rows_of(con, expr) -> list[tuple]:
    return sorted((tuple(r.values()) for r in con.to_pyarrow(expr).to_pylist()), key=repr)


def test_latest_per_key_keeps_the_last_row_by_the_ordering_column(con):
    t = make_table(
        con,
        "events",
        [
            (1, "new", datetime(2024, 1, 1)),
            (1, "paid", datetime(2024, 1, 3)),
            (1, "sent", datetime(2024, 1, 2)),  # later in the file, earlier in time
            (2, "new", datetime(2024, 1, 1)),
            (3, "new", None),  # the only row of key 3: kept despite the null
            (4, "old", datetime(2024, 1, 1)),
            (4, "lost", None),  # a null never beats a value
        ],
        {"id": "int64", "status": "string", "at": "timestamp"},
    )
    latest = latest_per_key(t, "id", "at")
    assert latest.columns == ("id", "status", "at")
    assert rows_of(con, latest) == [
        (1, "paid", datetime(2024, 1, 3)),
        (2, "new", datetime(2024, 1, 1)),
        (3, "new", None),
        (4, "old", datetime(2024, 1, 1)),
    ]


def test_latest_per_key_with_composite_key_and_tie_breaker(con):
    t = make_table(
        con,
        "prices",
        [
            ("n", "x", 1, 1, 10),
            ("n", "x", 1, 2, 11),  # same day, later load: wins the tie
            ("n", "y", 1, 1, 20),
            ("s", "x", 2, 1, 30),
            ("s", "x", 1, 9, 31),
            (None, "x", 1, 1, 40),  # a null key is a key of its own
            (None, "x", 2, 1, 41),
        ],
        {"shop": "string", "sku": "string", "day": "int64", "load": "int64", "price": "int64"},
    )
    latest = latest_per_key(t, ["shop", "sku"], ["day", "load"])
    assert set(rows_of(con, latest)) == {
        ("n", "x", 1, 2, 11),
        ("n", "y", 1, 1, 20),
        ("s", "x", 2, 1, 30),
        (None, "x", 2, 1, 41),
    }


def test_latest_per_key_names_a_missing_column():
    t = ibis.memtable({"id": [1], "at": [1]})
    with pytest.raises(MillpondError, match="column 'updated_at' is not in"):
        latest_per_key(t, "id", "updated_at")
    with pytest.raises(MillpondError, match="at least one column"):
        latest_per_key(t, [], "at")


def test_drop_exact_duplicates_keeps_one_copy_and_treats_nulls_as_equal(con):
    t = make_table(
        con,
        "raw",
        [(1, "a"), (1, "a"), (1, "b"), (2, None), (2, None), (None, None), (None, None)],
        {"id": "int64", "name": "string"},
    )
    assert rows_of(con, drop_exact_duplicates(t)) == sorted([(1, "a"), (1, "b"), (2, None), (None, None)], key=repr)
