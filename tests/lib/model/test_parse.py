"""Guarded parsing and normalizing of raw text, on a fresh in-memory DuckDB per test."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

import ibis
import pyarrow as pa
import pytest

from millpond.model.parse import (
    normalize_email,
    normalize_phone,
    parse_date,
    parse_int,
    parse_money,
    parse_timestamp,
)


def _column(con, values, parser):
    table = ibis.memtable(pa.table({"i": list(range(len(values))), "raw": values}))
    return con.to_pyarrow(table.select("i", value=parser(table.raw)).order_by("i"))["value"].to_pylist()


def test_integers_parse_only_when_whole(con):
    assert _column(con, ["12", " 7 ", "-3", "three", "1.5", "", None], parse_int) == [12, 7, -3, None, None, None, None]


def test_money_keeps_cents_exactly(con):
    values = ["0.10", "12.5", "99999999.99", "12,50", "N/A", "1.005", "€10.00"]
    expected = [Decimal("0.10"), Decimal("12.50"), Decimal("99999999.99"), None, None, None, None]
    assert _column(con, values, parse_money) == expected


def test_float_money_is_rounded_to_the_cent(con):
    expected = [Decimal("19.99"), Decimal("0.30"), Decimal("249.99")]
    assert _column(con, [19.99, 0.1 + 0.2, 249.99], parse_money) == expected


def test_dates_and_timestamps_accept_one_format(con):
    assert _column(con, ["2024-02-29", "29/02/2024", "2024-13-01", "2024-02-29 10:00:00"], parse_date) == [
        date(2024, 2, 29),
        None,
        None,
        None,
    ]
    assert _column(
        con, ["2024-01-05 23:59:59", "2024-01-05T10:00:00", "2024/01/05 10:00", "2024-01-05 24:00:00"], parse_timestamp
    ) == [datetime(2024, 1, 5, 23, 59, 59), None, None, None]


def test_typed_input_passes_through(con):
    assert _column(con, [1, None], parse_int) == [1, None]


def test_emails_are_trimmed_and_lower_cased(con):
    assert _column(con, ["  Ann.B@Example.COM ", "   ", None], normalize_email) == ["ann.b@example.com", None, None]


@pytest.mark.parametrize(
    ("raw", "code", "expected"),
    [
        ("+31612345678", "31", "+31612345678"),
        ("+31 6 1234 5678", "31", "+31612345678"),
        ("0031 612345678", "31", "+31612345678"),
        ("06-12345678", "31", "+31612345678"),
        ("06.12.34.56.78", "31", "+31612345678"),
        ("(555) 123-4567", "1", "+15551234567"),
        ("555.123.4567", "1", "+15551234567"),
        ("001 5551234567", "1", "+15551234567"),
        ("07123 456789", "44", "+447123456789"),
        ("unknown", "31", None),
    ],
)
def test_phones_become_e164(con, raw, code, expected):
    table = ibis.memtable(pa.table({"raw": [raw], "code": [code]}))
    assert con.to_pyarrow(table.select(p=normalize_phone(table.raw, table.code)))["p"].to_pylist() == [expected]


def test_impossible_calendar_day_is_null_on_duckdb(duckdb_con):
    """The pattern lets 2023-02-29 through; DuckDB's TRY_CAST then gives NULL (PostgreSQL would raise)."""
    assert _column(duckdb_con, ["2023-02-29"], parse_date) == [None]
