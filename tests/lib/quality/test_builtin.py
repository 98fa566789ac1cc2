"""Tests for millpond.quality.builtin, on every backend (``con`` fixture).

Tables carry a ``row_id`` so a test names exactly the rows a check must return; the
expected ids are worked out by hand from the rows written next to them.
"""

from __future__ import annotations

import datetime

import ibis
import pandas as pd
import pytest

from millpond.quality import (
    EMAIL,
    between,
    expression_check,
    freshness,
    matches_regex,
    schema_contract,
    sql_check,
)

UTC = datetime.timezone.utc


def make_table(con: ibis.BaseBackend, name: str, rows: list[tuple], schema: dict[str, str]):
    """Create table ``name`` from ``rows`` (tuples in ``schema`` order) and return it."""
    frame = pd.DataFrame(rows, columns=list(schema), dtype=object)
    return con.create_table(name, ibis.memtable(frame, schema=schema))


def row_ids(expression) -> list[int]:
    return sorted(int(i) for i in expression.to_pandas()["row_id"])


AMOUNTS = [(1, -1.0), (2, 0.0), (3, 5.0), (4, None), (5, 10.0), (6, 11.0)]


@pytest.mark.parametrize(
    ("bounds", "expected"),
    [
        ({"min": 0, "max": 10}, [1, 6]),  # bounds inclusive: 0 and 10 pass; null ignored
        ({"min": 0, "max": 10, "inclusive": False}, [1, 2, 5, 6]),
        ({"min": 0}, [1]),
        ({"max": 10}, [6]),
        ({"min": 5, "max": 5}, [1, 2, 5, 6]),
    ],
)
def test_between(con, bounds, expected):
    t = make_table(con, "t", AMOUNTS, {"row_id": "int64", "amount": "float64"})
    assert row_ids(between(t, "amount", **bounds)) == expected


def test_between_on_dates(con):
    t = make_table(
        con,
        "t",
        [(1, datetime.date(2023, 12, 31)), (2, datetime.date(2024, 1, 1)), (3, None)],
        {"row_id": "int64", "day": "date"},
    )
    assert row_ids(between(t, "day", min=datetime.date(2024, 1, 1))) == [1]


@pytest.mark.parametrize(
    ("bounds", "message"),
    [({}, "needs min=, max= or both"), ({"min": 3, "max": 1}, "min=3 is greater than max=1")],
)
def test_between_rejects_bad_bounds(bounds, message):
    with pytest.raises(ValueError, match=message):
        between(ibis.table({"x": "int64"}, name="t"), "x", **bounds)


def test_matches_regex_with_the_email_pattern(con):
    t = make_table(
        con,
        "t",
        [
            (1, "ann@example.com"),
            (2, "bob@"),  # no domain
            (3, None),  # nulls are not violations
            (4, " ann@example.com"),  # leading space: the match must be whole
            (5, "ann.lee+shop@mail.example.co.uk"),
            (6, "ANN@EXAMPLE.COM"),
            (7, "ann@example.com extra"),  # trailing text
            (8, "ann@example.c"),  # one-letter top-level domain
        ],
        {"row_id": "int64", "email": "string"},
    )
    assert row_ids(matches_regex(t, "email", EMAIL)) == [2, 4, 7, 8]


def test_matches_regex_anchors_the_whole_value_and_alternatives(con):
    t = make_table(
        con,
        "t",
        [(1, "12"), (2, "12a"), (3, "a12"), (4, ""), (5, "ab"), (6, "12\n")],
        {"row_id": "int64", "code": "string"},
    )
    # Without the group, ^[0-9]+|ab$ would accept "12a"; "" and "12\n" do not match.
    assert row_ids(matches_regex(t, "code", "[0-9]+|ab")) == [2, 3, 4, 6]


def timestamps(con, values, dtype="timestamp"):
    return make_table(con, "events", list(enumerate(values, 1)), {"row_id": "int64", "ts": dtype})


NOW = datetime.datetime(2024, 1, 5, 0, 0)
EVENTS = [datetime.datetime(2024, 1, 1), datetime.datetime(2024, 1, 3, 12, 0), None]


def stale_rows(expression) -> list[tuple]:
    return [(row["newest"], row["cutoff"]) for row in expression.to_pyarrow().to_pylist()]


def test_freshness_reports_the_newest_timestamp_when_stale(con):
    t = timestamps(con, EVENTS)
    # The newest is 2024-01-03 12:00; with 1 day the cutoff is 2024-01-04 00:00.
    assert stale_rows(freshness(t, "ts", datetime.timedelta(days=1), NOW)) == [
        (datetime.datetime(2024, 1, 3, 12, 0), datetime.datetime(2024, 1, 4, 0, 0))
    ]


@pytest.mark.parametrize("max_age", [datetime.timedelta(hours=36), datetime.timedelta(days=2)])
def test_freshness_passes_at_or_after_the_cutoff(con, max_age):
    # 36 hours puts the cutoff exactly at the newest timestamp: not older, so fresh.
    t = timestamps(con, EVENTS)
    assert stale_rows(freshness(t, "ts", max_age, NOW)) == []


@pytest.mark.parametrize("values", [[], [None, None]], ids=["empty", "only-nulls"])
def test_freshness_of_a_table_without_timestamps_is_stale(con, values):
    t = timestamps(con, values)
    assert stale_rows(freshness(t, "ts", datetime.timedelta(days=1), NOW)) == [
        (None, datetime.datetime(2024, 1, 4, 0, 0))
    ]


def test_freshness_on_a_date_column_counts_from_midnight(con):
    t = timestamps(con, [datetime.date(2024, 1, 3)], dtype="date")
    assert stale_rows(freshness(t, "ts", datetime.timedelta(days=2), NOW)) == []
    assert len(stale_rows(freshness(t, "ts", datetime.timedelta(hours=47), NOW))) == 1


def test_freshness_with_time_zones(con):
    t = timestamps(con, [datetime.datetime(2024, 1, 3, 12, 0, tzinfo=UTC)], dtype="timestamp('UTC')")
    # 2024-01-05 02:00 at UTC+2 is 2024-01-05 00:00 UTC: the cutoff of 36h is the newest.
    now = datetime.datetime(2024, 1, 5, 2, 0, tzinfo=datetime.timezone(datetime.timedelta(hours=2)))
    assert freshness(t, "ts", datetime.timedelta(hours=36), now).count().execute() == 0
    assert freshness(t, "ts", datetime.timedelta(hours=35), now).count().execute() == 1


def test_freshness_rejects_mixing_naive_and_aware_times():
    naive = ibis.table({"ts": "timestamp"}, name="t")
    aware = ibis.table({"ts": "timestamp('UTC')"}, name="t")
    with pytest.raises(ValueError, match="now must be naive"):
        freshness(naive, "ts", datetime.timedelta(days=1), NOW.replace(tzinfo=UTC))
    with pytest.raises(ValueError, match="now must be timezone-aware"):
        freshness(aware, "ts", datetime.timedelta(days=1), NOW)


def test_freshness_rejects_a_column_that_is_not_a_time():
    with pytest.raises(TypeError, match="needs a timestamp or date column; 'ts' is string"):
        freshness(ibis.table({"ts": "string"}, name="t"), "ts", datetime.timedelta(days=1), NOW)


SCHEMA = {"order_id": "int64", "status": "string", "ordered_at": "timestamp", "net": "decimal(10, 2)"}


def test_schema_contract_passes_when_the_schema_fits(con):
    t = make_table(con, "orders", [], SCHEMA)
    # "timestamp" fits DuckDB's timestamp(6) and PostgreSQL's timestamp; "decimal" any precision.
    contract = {"order_id": "int64", "ordered_at": "timestamp", "net": "decimal", "status": "String"}
    assert schema_contract(t, contract).to_pyarrow().to_pylist() == []


def test_schema_contract_lists_missing_wrong_and_unexpected_columns(con):
    t = make_table(con, "orders", [], SCHEMA)
    contract = {
        "order_id": "int32",  # wrong type
        "status": "string",  # fits
        "email": "string",  # missing
        "net": "decimal(12, 2)",  # wrong precision
        "ordered_at": "!timestamp",  # the column allows nulls
    }
    problem = schema_contract(t, contract, allow_extra=False).to_pyarrow().to_pylist()
    assert problem == [
        {"column": "order_id", "expected": "int32", "actual": "int64", "problem": "wrong type"},
        {"column": "email", "expected": "string", "actual": None, "problem": "missing"},
        {"column": "net", "expected": "decimal(12, 2)", "actual": "decimal(10, 2)", "problem": "wrong type"},
        {"column": "ordered_at", "expected": "!timestamp", "actual": problem[3]["actual"], "problem": "wrong type"},
    ]
    assert problem[3]["actual"].startswith("timestamp")
    # allow_extra=True (the default) keeps quiet about columns not in the contract.
    assert schema_contract(t, {"status": "string"}).count().execute() == 0
    assert schema_contract(t, {"status": "string"}, allow_extra=False).to_pyarrow().column("column").to_pylist() == [
        "order_id",
        "ordered_at",
        "net",
    ]


def test_schema_contract_rejects_an_unknown_type():
    with pytest.raises(ValueError, match="column 'id': 'integr' is not an Ibis type"):
        schema_contract(ibis.table({"id": "int64"}, name="t"), {"id": "integr"})


NET_GROSS = [(1, 8, 10), (2, 12, 10), (3, None, 10), (4, 10, 10), (5, 11, None)]


def test_expression_check_ignores_null_results(con):
    t = make_table(con, "t", NET_GROSS, {"row_id": "int64", "net": "int64", "gross": "int64"})
    # Row 2 breaks net <= gross; rows 3 and 5 compare with a null: unknown, not a violation.
    assert row_ids(expression_check(t, lambda t: t.net <= t.gross)) == [2]
    assert row_ids(expression_check(t, ibis._.net <= ibis._.gross)) == [2]


def test_expression_check_counts_nulls_when_the_rule_says_so(con):
    t = make_table(con, "t", NET_GROSS, {"row_id": "int64", "net": "int64", "gross": "int64"})
    assert row_ids(expression_check(t, lambda t: (t.net <= t.gross).fill_null(False))) == [2, 3, 5]


def test_expression_check_rejects_a_condition_that_is_not_boolean():
    t = ibis.table({"net": "int64"}, name="t")
    with pytest.raises(TypeError, match="must give a boolean expression, got IntegerColumn"):
        expression_check(t, lambda t: t.net + 1)


def test_sql_check_returns_the_rows_of_the_query(con):
    make_table(con, "orders", NET_GROSS, {"row_id": "int64", "net": "int64", "gross": "int64"})
    violations = sql_check(con, "SELECT row_id FROM orders WHERE net > gross OR gross IS NULL")
    assert row_ids(violations) == [2, 5]


def test_sql_check_rejects_an_empty_query(duckdb_con):
    with pytest.raises(ValueError, match="got an empty one"):
        sql_check(duckdb_con, "  ")
