"""Table profiles on every engine: one aggregate query, numbers checked by hand."""

from __future__ import annotations

import datetime as dt
import math
from decimal import Decimal

import pyarrow as pa
import pytest

from millpond.quality.monitors import profile_query, profile_table

# Five rows. By hand:
#   id      1, 2, 2, NULL, 5     -> 1 null of 5; distinct {1, 2, 5}; mean 10/4 = 2.5;
#                                   squared deviations 2.25 + .25 + .25 + 6.25 = 9, sample var 9/3 = 3
#   amount  1.50, 2.50, NULL, 4.00, 2.00 -> mean 10/4 = 2.5; deviations -1, 0, 1.5, -.5 -> 3.5/3
#   Unit Score .5, NULL, NULL, 1.5, 1 -> 2 nulls; mean 1; deviations -.5, .5, 0 -> .5/2 = .25
#   status  new, paid, new, NULL, new;  active T, F, T, T, NULL;  day 1 Jan, 1 Jan, 2 Jan, NULL, NULL
#   tags (array) and blob (binary) are not profiled
ROWS = pa.table(
    {
        "id": pa.array([1, 2, 2, None, 5], pa.int64()),
        "amount": pa.array(
            [Decimal("1.50"), Decimal("2.50"), None, Decimal("4.00"), Decimal("2.00")], pa.decimal128(10, 2)
        ),
        "Unit Score": pa.array([0.5, None, None, 1.5, 1.0], pa.float64()),
        "status": ["new", "paid", "new", None, "new"],
        "active": [True, False, True, True, None],
        "day": pa.array([dt.date(2024, 1, 1), dt.date(2024, 1, 1), dt.date(2024, 1, 2), None, None], pa.date32()),
        "tags": pa.array([["a"], [], None, ["b", "c"], ["a"]], pa.list_(pa.string())),
        "blob": pa.array([b"x", b"y", None, b"z", b"x"], pa.binary()),
    }
)

EXPECTED = {
    ("", "row_count"): 5,
    ("id", "null_rate"): 0.2,
    ("id", "distinct_count"): 3,
    ("id", "min"): 1.0,
    ("id", "max"): 5.0,
    ("id", "mean"): 2.5,
    ("id", "stddev"): math.sqrt(3),
    ("amount", "null_rate"): 0.2,
    ("amount", "distinct_count"): 4,
    ("amount", "min"): 1.5,
    ("amount", "max"): 4.0,
    ("amount", "mean"): 2.5,
    ("amount", "stddev"): math.sqrt(3.5 / 3),
    ("Unit Score", "null_rate"): 0.4,
    ("Unit Score", "distinct_count"): 3,
    ("Unit Score", "min"): 0.5,
    ("Unit Score", "max"): 1.5,
    ("Unit Score", "mean"): 1.0,
    ("Unit Score", "stddev"): 0.5,
    ("status", "null_rate"): 0.2,
    ("status", "distinct_count"): 2,
    ("active", "null_rate"): 0.2,
    ("active", "distinct_count"): 2,
    ("day", "null_rate"): 0.4,
    ("day", "distinct_count"): 2,
}


def by_key(profile: list[dict]) -> dict[tuple[str, str], float | int | None]:
    return {(p["column"], p["metric"]): p["value"] for p in profile}


def test_profile_of_a_small_table_matches_the_hand_computed_values(con):
    table = con.create_table("orders", ROWS)

    profile = profile_table(table, "silver.orders")

    assert {p["table"] for p in profile} == {"silver.orders"}
    got = by_key(profile)
    assert list(got) == list(EXPECTED)  # nested and binary columns are skipped, order is the table's
    for key, expected in EXPECTED.items():
        assert got[key] == pytest.approx(expected, rel=1e-9), key
    assert isinstance(got[("", "row_count")], int) and isinstance(got[("id", "distinct_count")], int)


def test_an_empty_table_has_no_rates_and_no_summaries(con):
    table = con.create_table("empty", ROWS.slice(0, 0))

    got = by_key(profile_table(table, "silver.empty"))

    assert got[("", "row_count")] == 0
    assert got[("id", "null_rate")] is None and got[("id", "distinct_count")] == 0
    assert [got[("id", m)] for m in ("min", "max", "mean", "stddev")] == [None, None, None, None]


def test_one_value_has_no_standard_deviation(con):
    table = con.create_table("one", pa.table({"x": pa.array([7], pa.int32())}))

    got = by_key(profile_table(table, "silver.one"))

    assert (got[("x", "mean")], got[("x", "stddev")]) == (7.0, None)


def test_the_profile_is_one_aggregate_query(con):
    table = con.create_table("orders", ROWS)

    query, measures = profile_query(table)

    sql = con.compile(query)
    assert sql.upper().count("SELECT") == 1
    assert len(query.columns) == len(measures) == 1 + 6 * 2 + 3 * 4
