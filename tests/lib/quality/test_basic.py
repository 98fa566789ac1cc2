"""Tests for millpond.quality.basic, on every backend (``con`` fixture).

Each table carries a ``row_id`` so a test can say exactly which rows a check must
return; the expected ids are worked out by hand from the data written next to them.
"""

from __future__ import annotations

import ibis
import pandas as pd
import pytest

from millpond.quality import (
    Check,
    accepted_values,
    not_null,
    relationships,
    row_count_between,
    run_checks,
    unique,
)


def make_table(con: ibis.BaseBackend, name: str, rows: list[tuple], schema: dict[str, str]):
    """Create table ``name`` from ``rows`` (tuples in ``schema`` order) and return it."""
    frame = pd.DataFrame(rows, columns=list(schema), dtype=object)
    return con.create_table(name, ibis.memtable(frame, schema=schema))


def row_ids(expression) -> list[int]:
    return sorted(int(i) for i in expression.to_pandas()["row_id"])


def test_not_null_returns_rows_with_null(con):
    people = make_table(
        con,
        "people",
        [(1, "ann"), (2, None), (3, "cy"), (4, None)],
        {"row_id": "int64", "name": "string"},
    )
    assert row_ids(not_null(people, "name")) == [2, 4]
    assert row_ids(not_null(people, "row_id")) == []


def test_unique_single_column_returns_every_copy_and_ignores_nulls(con):
    t = make_table(
        con,
        "t",
        [(1, 10), (2, 10), (3, 20), (4, 30), (5, 30), (6, 30), (7, None), (8, None)],
        {"row_id": "int64", "k": "int64"},
    )
    # 10 occurs twice (rows 1, 2), 30 three times (rows 4-6); 20 once; nulls are distinct.
    assert row_ids(unique(t, "k")) == [1, 2, 4, 5, 6]
    assert row_ids(unique(t, ["k"])) == [1, 2, 4, 5, 6]


def test_unique_over_several_columns(con):
    t = make_table(
        con,
        "t",
        [
            (1, 1, "x"),
            (2, 1, "x"),  # duplicate of row 1
            (3, 1, "y"),  # same a, other b: not a duplicate
            (4, 2, "x"),  # same b, other a: not a duplicate
            (5, None, "x"),
            (6, None, "x"),  # null in a key column: never a duplicate
            (7, 2, None),
            (8, 2, None),  # idem
        ],
        {"row_id": "int64", "a": "int64", "b": "string"},
    )
    assert row_ids(unique(t, ["a", "b"])) == [1, 2]
    # Over ``b`` alone, "x" occurs in rows 1, 2, 4, 5, 6 and "y" once; nulls ignored.
    assert row_ids(unique(t, "b")) == [1, 2, 4, 5, 6]


def test_unique_keeps_all_columns_of_the_table(con):
    t = make_table(con, "t", [(1, 5), (2, 5)], {"row_id": "int64", "k": "int64"})
    assert unique(t, "k").columns == ("row_id", "k")


def test_unique_rejects_an_empty_key(con):
    t = make_table(con, "t", [(1,)], {"row_id": "int64"})
    with pytest.raises(ValueError, match="at least one key column"):
        unique(t, [])


def test_relationships_returns_orphans_and_ignores_null_keys(con):
    customers = make_table(
        con,
        "customers",
        [(1, 1), (2, 2), (3, 2), (4, None)],  # id 2 twice, and a null id
        {"row_id": "int64", "id": "int64"},
    )
    orders = make_table(
        con,
        "orders",
        [(1, 1), (2, 2), (3, 4), (4, None), (5, 4), (6, 5)],
        {"row_id": "int64", "customer_id": "int64"},
    )
    # 4 and 5 have no customer; the null key is not a violation; the duplicated
    # parent id 2 must not duplicate order 2 (it is not an orphan anyway).
    orphans = relationships(orders, "customer_id", customers, "id")
    assert row_ids(orphans) == [3, 5, 6]
    assert orphans.columns == ("row_id", "customer_id")


def test_relationships_with_a_null_parent_key_still_finds_orphans(con):
    # NOT IN against a set containing NULL would return nothing: the check must not.
    parent = make_table(con, "parent", [(1, None), (2, 7)], {"row_id": "int64", "id": "int64"})
    child = make_table(con, "child", [(1, 7), (2, 8)], {"row_id": "int64", "parent_id": "int64"})
    assert row_ids(relationships(child, "parent_id", parent, "id")) == [2]


def test_relationships_on_a_self_referencing_table(con):
    employees = make_table(
        con,
        "employees",
        [(1, None), (2, 1), (3, 9), (4, 3)],
        {"row_id": "int64", "manager_id": "int64"},
    )
    # Only row 3's manager (9) is not an employee.
    assert row_ids(relationships(employees, "manager_id", employees, "row_id")) == [3]


def test_accepted_values_ignores_nulls(con):
    t = make_table(
        con,
        "t",
        [(1, "paid"), (2, "lost"), (3, None), (4, "refunded"), (5, "PAID")],
        {"row_id": "int64", "status": "string"},
    )
    assert row_ids(accepted_values(t, "status", ["paid", "refunded"])) == [2, 5]


@pytest.mark.parametrize(
    ("bounds", "expected"),
    [
        ({"min": 4}, [{"row_count": 3}]),
        ({"max": 2}, [{"row_count": 3}]),
        ({"min": 3}, []),  # bounds are inclusive
        ({"max": 3}, []),
        ({"min": 1, "max": 3}, []),
        ({"min": 4, "max": 9}, [{"row_count": 3}]),
    ],
)
def test_row_count_between(con, bounds, expected):
    t = make_table(con, "t", [(1,), (2,), (3,)], {"row_id": "int64"})
    result = row_count_between(t, **bounds).to_pandas()
    assert [{"row_count": int(r["row_count"])} for r in result.to_dict("records")] == expected


def test_row_count_between_on_an_empty_table(con):
    empty = make_table(con, "empty", [], {"row_id": "int64"})
    assert int(row_count_between(empty, min=1).to_pandas()["row_count"].iloc[0]) == 0


@pytest.mark.parametrize(
    ("bounds", "message"),
    [({}, "needs min=, max= or both"), ({"min": 5, "max": 1}, "min=5 is greater than max=1")],
)
def test_row_count_between_rejects_bad_bounds(duckdb_con, bounds, message):
    t = make_table(duckdb_con, "t", [(1,)], {"row_id": "int64"})
    with pytest.raises(ValueError, match=message):
        row_count_between(t, **bounds)


def test_run_checks_reports_status_count_and_sample(con):
    orders = make_table(
        con,
        "orders",
        [(1, 10, "paid"), (2, 10, None), (3, 11, "paid"), (4, 12, None)],
        {"row_id": "int64", "order_id": "int64", "status": "string"},
    )
    results = run_checks(
        [
            Check("order_id is unique", "orders", unique(orders, "order_id")),
            Check("status is not null", "orders", not_null(orders, "status"), "warn"),
            Check("has rows", "orders", row_count_between(orders, min=1)),
        ],
        sample_size=1,
    )
    assert list(results.columns) == ["check", "table", "severity", "status", "failing_rows", "sample", "detail"]
    assert results[["check", "table", "severity", "status", "failing_rows"]].to_dict("records") == [
        {"check": "order_id is unique", "table": "orders", "severity": "error", "status": "fail", "failing_rows": 2},
        {"check": "status is not null", "table": "orders", "severity": "warn", "status": "warn", "failing_rows": 2},
        {"check": "has rows", "table": "orders", "severity": "error", "status": "pass", "failing_rows": 0},
    ]
    sample = results.loc[1, "sample"]
    assert len(sample) == 1
    assert sample[0]["status"] is None  # nulls come back as None, whatever the backend
    assert sample[0]["row_id"] in (2, 4)
    assert results.loc[2, "sample"] == []


def test_run_checks_names_the_check_that_cannot_run(duckdb_con):
    t = make_table(duckdb_con, "t", [(1,)], {"row_id": "int64"})
    check = Check("row_id is not null", "t", not_null(t, "row_id"))
    duckdb_con.drop_table("t")
    with pytest.raises(RuntimeError, match="check 'row_id is not null' on table 't' could not run"):
        run_checks([check])


def test_check_rejects_an_unknown_severity():
    with pytest.raises(ValueError, match="severity must be 'error' or 'warn', got 'fatal'"):
        Check("x", "t", ibis.memtable({"a": [1]}), "fatal")


def test_check_rejects_a_non_table_expression():
    with pytest.raises(TypeError, match="must be an Ibis table expression"):
        Check("x", "t", ibis.memtable({"a": [1]}).count())
