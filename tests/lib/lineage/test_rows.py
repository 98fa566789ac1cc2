"""Row lineage: the source columns that decide which rows a query returns, worked out by hand."""

from __future__ import annotations

import pytest

from millpond.lineage.columns import table_lineage

SOURCES = {
    "s.o": {"id": "int64", "amount": "int64", "status": "string", "day": "date", "cust": "int64"},
    "s.c": {"cust": "int64", "country": "string", "vip": "boolean"},
}


def rows(sql: str) -> list[str]:
    return sorted(map(str, table_lineage(sql, "duckdb", SOURCES).rows))


@pytest.mark.parametrize(
    ("sql", "expected"),
    [
        ("SELECT id, amount FROM s.o", []),
        ("SELECT id FROM s.o WHERE status = 'paid' AND amount > 0", ["s.o.amount", "s.o.status"]),
        ("SELECT day, SUM(amount) AS t FROM s.o GROUP BY day HAVING COUNT(*) > 1", ["s.o.day"]),
        ("SELECT o.id, c.country FROM s.o AS o JOIN s.c AS c ON o.cust = c.cust", ["s.c.cust", "s.o.cust"]),
        ("SELECT o.id FROM s.o AS o JOIN s.c AS c USING (cust)", ["s.c.cust", "s.o.cust"]),
        (
            "SELECT o.id FROM s.o AS o LEFT JOIN s.c AS c ON o.cust = c.cust AND c.vip",
            ["s.c.cust", "s.c.vip", "s.o.cust"],
        ),
        # a CTE's filter and a derived column used as a filter resolve to the source columns
        (
            "WITH big AS (SELECT id, amount * 2 AS twice FROM s.o WHERE status <> 'x') SELECT id FROM big WHERE twice > 10",
            ["s.o.amount", "s.o.status"],
        ),
        # each branch of a UNION
        ("SELECT id FROM s.o WHERE amount > 0 UNION ALL SELECT cust FROM s.c WHERE vip", ["s.c.vip", "s.o.amount"]),
        # ORDER BY picks rows only with a LIMIT
        ("SELECT id FROM s.o ORDER BY day", []),
        ("SELECT id FROM s.o ORDER BY day DESC LIMIT 5", ["s.o.day"]),
        # a window's PARTITION BY/ORDER BY feeds values (value lineage), QUALIFY picks rows
        ("SELECT id, ROW_NUMBER() OVER (PARTITION BY cust ORDER BY day) AS n FROM s.o", []),
        (
            "SELECT id FROM s.o QUALIFY ROW_NUMBER() OVER (PARTITION BY cust ORDER BY day DESC) = 1",
            ["s.o.cust", "s.o.day"],
        ),
        # a filter in a subquery in WHERE: its own columns and the IN's left side
        ("SELECT id FROM s.o WHERE cust IN (SELECT cust FROM s.c WHERE vip)", ["s.c.cust", "s.c.vip", "s.o.cust"]),
    ],
)
def test_row_deciding_columns(sql, expected):
    assert rows(sql) == expected


def test_a_file_read_in_the_query_is_named_by_its_path():
    found = table_lineage("SELECT a FROM read_csv('data/raw/x.csv') WHERE b > 0", "duckdb", {})
    assert sorted(map(str, found.rows)) == ["file:data/raw/x.csv.b"]
