"""Tests for millpond.quality.thresholds and the thresholds of ``run_check``.

Statuses are worked out by hand from the rule in the module's docstring: fail when
``error_if`` is exceeded (default: any row for ``error``, never for ``warn``), else
warn when ``warn_if`` is exceeded (default: any row), else pass.
"""

from __future__ import annotations

import ibis
import pandas as pd
import pytest
from pydantic import ValidationError

from millpond.quality import Check, Threshold, check_status, not_null, run_check

ROWS_10 = Threshold(rows=10)
PERCENT_2 = Threshold(percent=2)


@pytest.mark.parametrize(
    ("severity", "failing", "total", "thresholds", "expected"),
    [
        ("error", 0, None, {}, "pass"),
        ("error", 1, None, {}, "fail"),
        ("warn", 1, None, {}, "warn"),
        ("warn", 0, None, {"error_if": ROWS_10}, "pass"),
        ("error", 10, None, {"error_if": ROWS_10}, "warn"),  # exactly at: not exceeded
        ("error", 11, None, {"error_if": ROWS_10}, "fail"),
        ("warn", 11, None, {"error_if": ROWS_10}, "fail"),  # error_if escalates a warn check
        ("error", 10, None, {"warn_if": ROWS_10, "error_if": ROWS_10}, "pass"),
        ("warn", 10, None, {"warn_if": ROWS_10}, "pass"),
        ("warn", 11, None, {"warn_if": ROWS_10}, "warn"),
        ("error", 5, None, {"warn_if": ROWS_10}, "fail"),  # error's default error_if wins
        ("error", 2, 100, {"error_if": PERCENT_2}, "warn"),  # 2 % is not above 2 %
        ("error", 3, 100, {"error_if": PERCENT_2}, "fail"),
        ("error", 3, 150, {"error_if": PERCENT_2}, "warn"),  # 2 % of 150 is 3
        ("error", 4, 150, {"warn_if": PERCENT_2, "error_if": Threshold(percent=50)}, "warn"),
        ("error", 3, 150, {"warn_if": PERCENT_2, "error_if": Threshold(percent=50)}, "pass"),
        ("error", 7, 10_000, {"error_if": Threshold(percent=0.07)}, "warn"),  # 0.07 % of 10,000 is 7
        ("error", 8, 10_000, {"error_if": Threshold(percent=0.07)}, "fail"),
        ("error", 1, 0, {"error_if": Threshold(percent=100)}, "fail"),  # rows but no population
        ("error", 0, 0, {"error_if": Threshold(percent=0)}, "pass"),
    ],
)
def test_check_status(severity, failing, total, thresholds, expected):
    assert check_status(severity, failing, total, **thresholds) == expected


def test_a_percent_threshold_needs_the_total():
    with pytest.raises(ValueError, match="needs the total number of rows"):
        check_status("error", 1, None, error_if=PERCENT_2)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"rows": 1, "percent": 1}, "either rows or percent, not both"),
        ({}, "give rows"),
        ({"rows": -1}, "greater than or equal to 0"),
        ({"percent": 101}, "less than or equal to 100"),
        ({"row": 1}, "Extra inputs"),
    ],
)
def test_threshold_rejects_bad_values(data, message):
    with pytest.raises(ValidationError, match=message):
        Threshold.model_validate(data)


def make_table(con, name, rows, schema):
    frame = pd.DataFrame(rows, columns=list(schema), dtype=object)
    return con.create_table(name, ibis.memtable(frame, schema=schema))


def test_run_check_weighs_violations_against_the_population(con):
    # 2 null names in 8 rows: 25 %.
    people = make_table(
        con,
        "people",
        [(1, "a"), (2, None), (3, "c"), (4, "d"), (5, None), (6, "f"), (7, "g"), (8, "h")],
        {"row_id": "int64", "name": "string"},
    )
    nulls = not_null(people, "name")

    def status(**thresholds):
        return run_check(Check("name is not null", "people", nulls, population=people, **thresholds))

    at_threshold = status(error_if={"percent": 25})
    assert (at_threshold.status, at_threshold.failing_rows, at_threshold.total_rows) == ("warn", 2, 8)
    assert status(error_if={"percent": 24.9}).status == "fail"
    assert status(warn_if={"percent": 25}, error_if={"percent": 50}).status == "pass"
    by_rows = status(error_if={"rows": 1})
    assert (by_rows.status, by_rows.total_rows) == ("fail", None)  # not counted: not needed


def test_run_check_does_not_count_the_population_without_violations(con):
    people = make_table(con, "people", [(1, "a")], {"row_id": "int64", "name": "string"})
    result = run_check(
        Check("name is not null", "people", not_null(people, "name"), population=people, error_if={"percent": 1})
    )
    assert (result.status, result.failing_rows, result.total_rows) == ("pass", 0, None)


def test_run_check_on_an_empty_population(con):
    empty = make_table(con, "empty", [], {"row_id": "int64"})
    other = make_table(con, "other", [(1,)], {"row_id": "int64"})
    # A SQL-like check can find rows elsewhere while the guarded table is empty.
    result = run_check(Check("x", "empty", other, population=empty, error_if={"percent": 50}))
    assert (result.status, result.failing_rows, result.total_rows) == ("fail", 1, 0)


def test_check_needs_a_population_for_a_percent_threshold():
    t = ibis.memtable({"a": [1]})
    with pytest.raises(ValueError, match="a percent threshold needs population="):
        Check("a is not null", "t", not_null(t, "a"), warn_if={"percent": 1})


def test_check_rejects_a_threshold_of_the_wrong_type():
    t = ibis.memtable({"a": [1]})
    with pytest.raises(TypeError, match="error_if must be a Threshold or a mapping"):
        Check("a is not null", "t", not_null(t, "a"), error_if=10)
