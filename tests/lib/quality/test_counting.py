"""Tests for millpond.quality.counting: many checks counted in one query, on every backend.

Expected counts are worked out by hand from the rows written next to them.
"""

from __future__ import annotations

import ibis
import pandas as pd
import pytest

from millpond.quality import Check, not_null, run_checks, unique
from millpond.quality.counting import BATCH, count_rows


def make_table(con, name: str, rows: list[tuple], schema: dict[str, str]):
    frame = pd.DataFrame(rows, columns=list(schema), dtype=object)
    return con.create_table(name, ibis.memtable(frame, schema=schema))


def test_counts_of_more_expressions_than_one_batch_are_each_right(con):
    # ids 1..10; "x" is null for the even ids (5 rows)
    t = make_table(con, "t", [(i, None if i % 2 == 0 else i * 10) for i in range(1, 11)], {"id": "int64", "x": "int64"})
    expressions, expected = [], []
    for k in range(BATCH + 6):  # two queries
        bound = k % 12  # ids greater than bound: 10 - bound rows, none when bound >= 10
        expressions.append(t.filter(t.id > bound))
        expected.append(max(0, 10 - bound))
    expressions.append(t.filter(t.x.isnull()))
    expected.append(5)
    expressions.append(unique(t, "id"))  # no duplicate ids
    expected.append(0)
    assert count_rows(expressions) == expected


def test_tables_of_two_connections_are_not_counted_together():
    first, second = ibis.duckdb.connect(), ibis.duckdb.connect()
    a = make_table(first, "a", [(1,), (None,)], {"id": "int64"})
    b = make_table(second, "b", [(None,), (None,), (3,)], {"id": "int64"})
    assert count_rows([not_null(a, "id"), not_null(b, "id")]) is None
    # run_checks then counts each on its own connection
    results = run_checks([Check("a", "a", not_null(a, "id")), Check("b", "b", not_null(b, "id"))])
    assert results["failing_rows"].tolist() == [1, 2]
    assert results["status"].tolist() == ["fail", "fail"]


def test_a_check_that_cannot_run_is_still_named_when_others_share_its_query(duckdb_con):
    good = make_table(duckdb_con, "good", [(1,), (1,)], {"id": "int64"})
    gone = make_table(duckdb_con, "gone", [(1,)], {"id": "int64"})
    checks = [Check("id is unique", "good", unique(good, "id")), Check("id is not null", "gone", not_null(gone, "id"))]
    duckdb_con.drop_table("gone")
    assert count_rows([c.expression for c in checks]) is None
    with pytest.raises(RuntimeError, match="check 'id is not null' on table 'gone' could not run"):
        run_checks(checks)
