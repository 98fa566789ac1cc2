"""Tests for millpond.model.dates, on every backend (``con`` fixture).

Expected values come from the calendar: 2024 is a leap year, 2024-12-30 (a Monday)
starts ISO week 1 of 2025, and 2021-01-03 (a Sunday) is in ISO week 53 of 2020.
"""

from __future__ import annotations

from datetime import date

import ibis.expr.operations as ops
import pytest

from millpond.errors import MillpondError
from millpond.model.dates import date_dimension


def test_date_dimension_columns_and_types(con):
    days = date_dimension(date(2024, 1, 1), date(2024, 1, 2))
    assert {name: str(dtype) for name, dtype in days.schema().items()} == {
        "date_key": "int32",
        "date": "date",
        "year": "int32",
        "quarter": "int32",
        "month": "int32",
        "month_name": "string",
        "day": "int32",
        "day_of_week": "int16",
        "day_name": "string",
        "day_of_year": "int32",
        "iso_year": "int32",
        "iso_week": "int32",
        "is_weekend": "boolean",
        "first_day_of_month": "date",
        "last_day_of_month": "date",
    }
    assert con.to_pyarrow(days).num_rows == 2


def test_date_dimension_one_leap_day(con):
    [row] = con.to_pyarrow(date_dimension(date(2024, 2, 29), date(2024, 2, 29))).to_pylist()
    assert row == {
        "date_key": 20240229,
        "date": date(2024, 2, 29),
        "year": 2024,
        "quarter": 1,
        "month": 2,
        "month_name": "February",
        "day": 29,
        "day_of_week": 4,
        "day_name": "Thursday",
        "day_of_year": 60,
        "iso_year": 2024,
        "iso_week": 9,
        "is_weekend": False,
        "first_day_of_month": date(2024, 2, 1),
        "last_day_of_month": date(2024, 2, 29),
    }


def test_date_dimension_across_a_year_end(con):
    rows = con.to_pyarrow(date_dimension(date(2024, 12, 28), date(2025, 1, 1))).to_pylist()
    assert [r["date"] for r in rows] == [date(2024, 12, d) for d in range(28, 32)] + [date(2025, 1, 1)]
    assert [(r["day_name"], r["day_of_week"], r["is_weekend"]) for r in rows] == [
        ("Saturday", 6, True),
        ("Sunday", 7, True),
        ("Monday", 1, False),
        ("Tuesday", 2, False),
        ("Wednesday", 3, False),
    ]
    assert [(r["iso_year"], r["iso_week"]) for r in rows] == [(2024, 52), (2024, 52), (2025, 1), (2025, 1), (2025, 1)]
    assert [(r["quarter"], r["day_of_year"], r["month_name"]) for r in rows] == [
        (4, 363, "December"),
        (4, 364, "December"),
        (4, 365, "December"),
        (4, 366, "December"),
        (1, 1, "January"),
    ]
    assert {r["last_day_of_month"] for r in rows[:4]} == {date(2024, 12, 31)}
    assert rows[4]["first_day_of_month"] == date(2025, 1, 1) and rows[4]["last_day_of_month"] == date(2025, 1, 31)


def test_date_dimension_iso_week_53_and_every_month_end(con):
    [row] = con.to_pyarrow(date_dimension(date(2021, 1, 3), date(2021, 1, 3))).to_pylist()
    assert (row["iso_year"], row["iso_week"], row["year"]) == (2020, 53, 2021)
    year = con.to_pyarrow(date_dimension(date(2023, 1, 1), date(2023, 12, 31))).to_pylist()
    assert len(year) == 365
    month_ends = sorted({(r["month"], r["last_day_of_month"].day) for r in year})
    assert month_ends == [
        (1, 31),
        (2, 28),
        (3, 31),
        (4, 30),
        (5, 31),
        (6, 30),
        (7, 31),
        (8, 31),
        (9, 30),
        (10, 31),
        (11, 30),
        (12, 31),
    ]
    assert sum(r["is_weekend"] for r in year) == 105  # 2023 began on a Sunday: 53 Sundays, 52 Saturdays
    assert len({r["date_key"] for r in year}) == 365


def test_date_dimension_rejects_an_end_before_the_start():
    with pytest.raises(MillpondError, match="end 2024-01-01 is before start 2024-01-02"):
        date_dimension(date(2024, 1, 2), date(2024, 1, 1))


def test_a_selection_builds_only_its_columns_with_the_same_values(con):
    chosen = ["day_name", "date", "month_name", "is_weekend"]
    days = date_dimension(date(2024, 2, 26), date(2024, 3, 4), columns=chosen)
    assert list(days.columns) == chosen
    unbuilt = (ops.ExtractDayOfYear, ops.ExtractIsoYear, ops.ExtractWeekOfYear, ops.ExtractQuarter, ops.DateTruncate)
    assert not days.op().find(unbuilt)  # the other columns are not built
    assert date_dimension(date(2024, 2, 26), date(2024, 3, 4)).op().find(unbuilt)
    whole = con.to_pyarrow(date_dimension(date(2024, 2, 26), date(2024, 3, 4))).to_pylist()
    assert con.to_pyarrow(days).to_pylist() == [{name: row[name] for name in chosen} for row in whole]
    # 2024-02-26 is a Monday; 2024-03-02 and 03 the weekend
    assert [r["day_name"][:2] for r in whole] == ["Mo", "Tu", "We", "Th", "Fr", "Sa", "Su", "Mo"]
    assert [r["month_name"] for r in whole][3:5] == ["February", "March"]


def test_a_selection_without_the_date_is_not_ordered_but_complete(con):
    keys = con.to_pyarrow(date_dimension(date(2024, 1, 30), date(2024, 2, 2), columns=["date_key"]))
    assert sorted(keys.column("date_key").to_pylist()) == [20240130, 20240131, 20240201, 20240202]


def test_unknown_or_no_columns_are_refused():
    with pytest.raises(MillpondError, match="no column 'weekday'; choose of date_key, date"):
        date_dimension(date(2024, 1, 1), date(2024, 1, 2), columns=["date", "weekday"])
    with pytest.raises(MillpondError, match="columns is empty"):
        date_dimension(date(2024, 1, 1), date(2024, 1, 2), columns=[])
