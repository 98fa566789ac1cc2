"""Tests for millpond.quality.declared: parse, reject and build declared checks.

Building runs on every backend (``con`` fixture); the expected failing rows are
worked out by hand from the orders written below.
"""

from __future__ import annotations

import datetime

import ibis
import pandas as pd
import pytest
import yaml
from pydantic import ValidationError

from millpond.quality import CheckBuildError, build_checks, parse_checks, run_checks

DECLARED = """
checks:
  gold.fct_orders:
    - not_null: [order_id, customer_key]
    - unique: order_id
    - relationships: {column: customer_key, to: gold.dim_customer, field: customer_key}
    - accepted_values: {column: status, values: [placed, shipped, delivered, cancelled, returned]}
    - between: {column: net_amount, min: 0}
    - regex: {column: email, pattern: email}
    - row_count: {min: 1, max: 1000000}
    - freshness: {column: order_ts, max_age: 2d}
    - schema: {columns: {order_id: int64, status: string}}
    - sql: {name: no negative totals, query: "SELECT * FROM fct_orders WHERE net_amount < 0"}
    - unique: {columns: [order_id], severity: warn, error_if: {percent: 1}, name: order_id is mostly unique}
    - between: {column: net_amount, max: 7, warn_if: {rows: 1}, error_if: {rows: 2}}
  gold.dim_customer:
    - unique: [customer_key, name]
"""

ORDERS = [
    # order_id, customer_key, status, net_amount, email, order_ts
    (1, 1, "placed", 10.0, "a@x.com", datetime.datetime(2024, 1, 30, 8)),
    (2, 2, "shipped", 0.0, "b@x", datetime.datetime(2024, 1, 30, 9)),  # bad email
    (3, 9, "lost", -5.0, None, datetime.datetime(2024, 1, 31, 10)),  # orphan, status, negative
    (3, None, None, 7.5, "c@y.org", None),  # duplicate order_id, null customer
    (5, 3, "delivered", None, "d@y.org", datetime.datetime(2024, 1, 29)),
]
ORDER_SCHEMA = {
    "order_id": "int64",
    "customer_key": "int64",
    "status": "string",
    "net_amount": "float64",
    "email": "string",
    "order_ts": "timestamp",
}


def make_table(con, name, rows, schema):
    frame = pd.DataFrame(rows, columns=list(schema), dtype=object)
    return con.create_table(name, ibis.memtable(frame, schema=schema))


@pytest.fixture
def tables(con):
    """The gold tables, by the names declarations use."""
    return {
        "gold.fct_orders": make_table(con, "fct_orders", ORDERS, ORDER_SCHEMA),
        "gold.dim_customer": make_table(
            con, "dim_customer", [(1, "ann"), (2, "bob"), (3, "cy")], {"customer_key": "int64", "name": "string"}
        ),
    }


def test_parse_reads_every_check_type_and_names_it():
    declared = parse_checks(yaml.safe_load(DECLARED))
    orders = declared.checks["gold.fct_orders"]
    assert [d.kind for d in orders] == [
        "not_null",
        "unique",
        "relationships",
        "accepted_values",
        "between",
        "regex",
        "row_count",
        "freshness",
        "schema",
        "sql",
        "unique",
        "between",
    ]
    assert [name for d in orders for name in d.names()] == [
        "order_id is not null",
        "customer_key is not null",
        "order_id is unique",
        "customer_key references gold.dim_customer.customer_key",
        "status is one of placed, shipped, delivered, cancelled, returned",
        "net_amount >= 0",
        "email matches the email pattern",
        "has 1 to 1000000 rows",
        "newest order_ts is at most 2d old",
        "schema fits the contract",
        "no negative totals",
        "order_id is mostly unique",
        "net_amount <= 7",
    ]
    assert declared.checks["gold.dim_customer"][0].names() == ["(customer_key, name) is unique"]
    assert orders[7].arguments.max_age == datetime.timedelta(days=2)


@pytest.mark.parametrize(
    ("check", "name"),
    [
        ({"between": {"column": "x", "min": 1, "max": 5}}, "1 <= x <= 5"),
        ({"between": {"column": "x", "min": 1, "max": 5, "inclusive": False}}, "1 < x < 5"),
        ({"regex": {"column": "code", "pattern": "[A-Z]{3}"}}, "code matches [A-Z]{3}"),
        ({"row_count": {"min": 1}}, "has at least 1 row"),
        ({"row_count": {"max": 0}}, "has at most 0 rows"),
        ({"freshness": {"column": "ts", "max_age": "90m"}}, "newest ts is at most 90m old"),
        ({"freshness": {"column": "ts", "max_age": "24h"}}, "newest ts is at most 1d old"),
        ({"schema": {"columns": {"a": "int64"}, "allow_extra": False}}, "schema is exactly the contract"),
        ({"relationships": {"column": "k", "to": "gold.dim"}}, "k references gold.dim.k"),
        ({"unique": {"columns": "k", "name": "one row per k"}}, "one row per k"),
    ],
)
def test_default_and_given_names(check, name):
    assert parse_checks({"checks": {"t": [check]}}).checks["t"][0].names() == [name]


def first_error(data):
    with pytest.raises(ValidationError) as caught:
        parse_checks(data)
    error = caught.value.errors()[0]
    return error["loc"], error["msg"]


@pytest.mark.parametrize(
    ("check", "loc", "message"),
    [
        ({"not_nul": ["a"]}, (), "unknown check type 'not_nul' (known: not_null, unique,"),
        ({"unique": "a", "severity": "warn"}, (), "found unique, severity; put severity inside"),
        ({}, (), "exactly one key, its type; found none"),
        ("not_null", (), "'not_null' needs its arguments"),
        ({"not_null": None}, (), "not_null needs arguments, such as"),
        ({"not_null": 5}, ("not_null",), "expected a mapping of arguments"),
        ({"not_null": []}, ("not_null", "columns"), "at least 1 item"),
        ({"not_null": {"columns": ["a", "b"], "name": "x"}}, ("not_null",), "declare each column separately"),
        ({"between": "a"}, ("between",), "expected a mapping of arguments, such as {column:"),
        ({"between": {"column": "a", "minn": 0}}, ("between", "minn"), "Extra inputs"),
        ({"between": {"column": "a"}}, ("between",), "between needs min, max or both"),
        ({"between": {"column": "a", "min": 5, "max": 1}}, ("between",), "min 5 is greater than max 1"),
        # found by the type checker: these raised TypeError, a traceback, before
        ({"between": {"column": "a", "min": datetime.date(2024, 1, 2), "max": 5}}, ("between",), "cannot be compared"),
        (
            {
                "between": {
                    "column": "a",
                    "min": datetime.datetime(2024, 1, 1, tzinfo=datetime.timezone.utc),
                    "max": datetime.datetime(2024, 2, 1),
                }
            },
            ("between",),
            "cannot be compared",
        ),
        (
            {"between": {"column": "a", "min": datetime.date(2024, 3, 1), "max": datetime.datetime(2024, 2, 1)}},
            ("between",),
            "min 2024-03-01 is greater than max 2024-02-01 00:00:00",
        ),
        ({"accepted_values": {"column": "a", "values": []}}, ("accepted_values", "values"), "at least 1 item"),
        ({"freshness": {"column": "t", "max_age": "2 days"}}, ("freshness", "max_age"), "'2 days' is not a duration"),
        ({"schema": {"columns": {"a": "integr"}}}, ("schema", "columns"), "column 'a': 'integr' is not an Ibis type"),
        ({"row_count": {"min": 1, "error_if": {"percent": 1}}}, ("row_count", "error_if"), "in rows, not percent"),
        ({"unique": {"columns": "a", "warn_if": {"rows": 1, "percent": 2}}}, ("unique", "warn_if"), "not both"),
        ({"unique": {"columns": "a", "severity": "fatal"}}, ("unique", "severity"), "'error' or 'warn'"),
        ({"sql": {"query": "SELECT 1"}}, ("sql", "name"), "Field required"),
    ],
)
def test_parse_rejects_bad_checks_at_their_place(check, loc, message):
    found_loc, found_message = first_error({"checks": {"gold.t": [{"not_null": "ok"}, check]}})
    assert found_loc == ("checks", "gold.t", 1, *loc)
    assert message in found_message


def test_parse_rejects_two_checks_with_the_same_name():
    # The brief's example repeats `unique: order_id` with other options: it needs a name.
    loc, message = first_error(
        {"checks": {"t": [{"unique": "order_id"}, {"unique": {"columns": ["order_id"], "severity": "warn"}}]}}
    )
    assert loc == ("checks", "t")
    assert (
        message
        == "Value error, checks [0] and [1] are both named 'order_id is unique': remove one or give it another name"
    )


def test_parse_rejects_unknown_top_level_keys():
    assert first_error({"checks": {}, "check": {}})[0] == ("check",)


def test_build_and_run_declared_checks(con, tables):
    checks = build_checks(
        parse_checks(yaml.safe_load(DECLARED)), tables.__getitem__, con=con, now=datetime.datetime(2024, 2, 1, 12)
    )
    results = run_checks(checks)
    # Hand-computed from ORDERS: the cutoff is 2024-01-30 12:00 and the newest order
    # 2024-01-31 10:00 (fresh); 2 rows of 5 share order_id 3 (40 % > 1 %); 2 amounts
    # exceed 7 (10.0 and 7.5): more than warn_if's 1 row, not more than error_if's 2.
    assert results[["table", "check", "severity", "status", "failing_rows"]].to_dict("records") == [
        {
            "table": "gold.fct_orders",
            "check": "order_id is not null",
            "severity": "error",
            "status": "pass",
            "failing_rows": 0,
        },
        {
            "table": "gold.fct_orders",
            "check": "customer_key is not null",
            "severity": "error",
            "status": "fail",
            "failing_rows": 1,
        },
        {
            "table": "gold.fct_orders",
            "check": "order_id is unique",
            "severity": "error",
            "status": "fail",
            "failing_rows": 2,
        },
        {
            "table": "gold.fct_orders",
            "check": "customer_key references gold.dim_customer.customer_key",
            "severity": "error",
            "status": "fail",
            "failing_rows": 1,
        },
        {
            "table": "gold.fct_orders",
            "check": "status is one of placed, shipped, delivered, cancelled, returned",
            "severity": "error",
            "status": "fail",
            "failing_rows": 1,
        },
        {
            "table": "gold.fct_orders",
            "check": "net_amount >= 0",
            "severity": "error",
            "status": "fail",
            "failing_rows": 1,
        },
        {
            "table": "gold.fct_orders",
            "check": "email matches the email pattern",
            "severity": "error",
            "status": "fail",
            "failing_rows": 1,
        },
        {
            "table": "gold.fct_orders",
            "check": "has 1 to 1000000 rows",
            "severity": "error",
            "status": "pass",
            "failing_rows": 0,
        },
        {
            "table": "gold.fct_orders",
            "check": "newest order_ts is at most 2d old",
            "severity": "error",
            "status": "pass",
            "failing_rows": 0,
        },
        {
            "table": "gold.fct_orders",
            "check": "schema fits the contract",
            "severity": "error",
            "status": "pass",
            "failing_rows": 0,
        },
        {
            "table": "gold.fct_orders",
            "check": "no negative totals",
            "severity": "error",
            "status": "fail",
            "failing_rows": 1,
        },
        {
            "table": "gold.fct_orders",
            "check": "order_id is mostly unique",
            "severity": "warn",
            "status": "fail",
            "failing_rows": 2,
        },
        {
            "table": "gold.fct_orders",
            "check": "net_amount <= 7",
            "severity": "error",
            "status": "warn",
            "failing_rows": 2,
        },
        {
            "table": "gold.dim_customer",
            "check": "(customer_key, name) is unique",
            "severity": "error",
            "status": "pass",
            "failing_rows": 0,
        },
    ]
    samples = {row["check"]: row["sample"] for row in results.to_dict("records")}
    assert [r["email"] for r in samples["email matches the email pattern"]] == ["b@x"]
    assert [r["status"] for r in samples["status is one of placed, shipped, delivered, cancelled, returned"]] == [
        "lost"
    ]


def test_build_calls_the_table_getter_once_per_table(con, tables):
    asked = []

    def getter(name):
        asked.append(name)
        return tables[name]

    declared = parse_checks(
        {
            "checks": {
                "gold.fct_orders": [
                    {"not_null": ["order_id", "status"]},
                    {"relationships": {"column": "customer_key", "to": "gold.dim_customer"}},
                ],
                "gold.dim_customer": [{"unique": "customer_key"}],
            }
        }
    )
    assert len(build_checks(declared, getter)) == 4
    assert asked == ["gold.fct_orders", "gold.dim_customer"]


@pytest.mark.parametrize(
    ("check", "message"),
    [
        ({"not_null": "no_such_column"}, "checks.gold.fct_orders[1]: not_null check 'no_such_column is not null': "),
        ({"sql": {"name": "q", "query": "SELECT 1"}}, "a sql check needs the backend: pass con="),
        ({"relationships": {"column": "customer_key", "to": "gold.nowhere"}}, "gold.nowhere"),
    ],
)
def test_build_names_the_check_it_cannot_build(tables, check, message):
    declared = parse_checks({"checks": {"gold.fct_orders": [{"unique": "order_id"}, check]}})
    with pytest.raises(CheckBuildError) as caught:
        build_checks(declared, tables.__getitem__)
    assert message in str(caught.value)
    assert caught.value.loc == ("checks", "gold.fct_orders", 1)
