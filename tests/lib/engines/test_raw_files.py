"""Malformed CSV rows: kept with their line, error and text; the rest read with the right columns.

The same files through DuckDB (``store_rejects``) and through PyArrow (and Python's
``csv`` module): the expected rows and lines are those the tests write.
"""

from __future__ import annotations

import ibis
import pytest

from millpond.engines.duckdb_raw import read_csv as read_csv_duckdb
from millpond.engines.raw_arrow import PROBLEM_COLUMNS, read_csv_arrow
from millpond.errors import MillpondError

HEADER = ["id", "name", "note"]
# line 1 the header; line 3 an extra field; line 4 a missing one; lines 5-6 one quoted
# record over two lines; line 7 blank; line 8 a byte that is not UTF-8; line 9 an empty field
LINES = [
    b"id,name,note",
    b"1,ann,first",
    b"2,bob,x,EXTRA",
    b"3,cat",
    b'4,"dan',
    b'son",two lines',
    b"",
    b"5,\xe9ve,latin-1",
    b"6,,empty name",
]
GOOD = [("1", "ann", "first"), ("4", "dan\nson", "two lines"), ("6", None, "empty name")]
BAD = [
    (3, "expected 3 fields, found 4", "2,bob,x,EXTRA"),
    (4, "expected 3 fields, found 2", "3,cat"),
    (8, "invalid UTF-8", "5,?ve,latin-1"),
]


@pytest.fixture
def broken(tmp_path):
    path = tmp_path / "people.csv"
    path.write_bytes(b"\n".join(LINES) + b"\n")
    return path


def split(rows: list[dict]) -> tuple[list[tuple], list[tuple]]:
    good = sorted((tuple(r[c] for c in HEADER) for r in rows if r["_load_error"] is None), key=lambda r: r[0])
    bad = sorted((r["_source_line"], r["_load_error"], r["_raw_line"]) for r in rows if r["_load_error"] is not None)
    assert all(r[c] is None for r in rows if r["_load_error"] is not None for c in HEADER)
    assert all(r["_source_line"] is None and r["_raw_line"] is None for r in rows if r["_load_error"] is None)
    return good, bad


def duckdb_rows(path, expected=None) -> tuple[list[str], list[dict]]:
    con = ibis.duckdb.connect()
    table = con.to_pyarrow(read_csv_duckdb(con, path, expected))
    return table.column_names, table.to_pylist()


def arrow_rows(path, expected=None) -> tuple[list[str], list[dict]]:
    table = read_csv_arrow(path, expected)
    return table.column_names, table.to_pylist()


READERS = [pytest.param(duckdb_rows, id="duckdb"), pytest.param(arrow_rows, id="arrow")]


@pytest.mark.parametrize("read", READERS)
def test_malformed_rows_are_kept_with_line_error_and_text(broken, read):
    columns, rows = read(broken)
    assert columns == [*HEADER, *PROBLEM_COLUMNS]
    assert len(rows) == len(GOOD) + len(BAD)  # every record of the file, once
    assert split(rows) == (GOOD, BAD)


@pytest.mark.parametrize("read", READERS)
def test_a_clean_file_has_no_problem(tmp_path, read):
    path = tmp_path / "ok.csv"
    path.write_text("id,name,note\n1,ann,a\n2,bob,\n")
    assert split(read(path)[1]) == ([("1", "ann", "a"), ("2", "bob", None)], [])


@pytest.mark.parametrize("read", READERS)
def test_empty_and_header_only_files_have_their_columns_and_no_rows(tmp_path, read):
    empty, header_only = tmp_path / "empty.csv", tmp_path / "header.csv"
    empty.write_bytes(b"")
    header_only.write_text("id,name,note\n")
    assert read(empty, HEADER) == ([*HEADER, *PROBLEM_COLUMNS], [])
    assert read(header_only) == ([*HEADER, *PROBLEM_COLUMNS], [])
    with pytest.raises(MillpondError, match=r"empty\.csv: the file is empty \(0 bytes\): no header line"):
        read(empty)


@pytest.mark.parametrize("read", READERS)
def test_a_broken_header_names_the_file_and_line(tmp_path, read):
    path = tmp_path / "bad_header.csv"
    path.write_bytes(b"id,n\xe9\n1,a\n")
    with pytest.raises(MillpondError, match=r"bad_header\.csv:1: the header line is not valid UTF-8"):
        read(path)


def test_counting_rows_never_counts_a_malformed_row_twice(broken):
    # DuckDB checks a value's text only when a column is read: a bare count(*) must see the same rows
    con = ibis.duckdb.connect()
    table = read_csv_duckdb(con, broken)
    assert con.execute(table.count()) == len(GOOD) + len(BAD)
    assert con.execute(table.filter(table._load_error.isnull()).count()) == len(GOOD)
