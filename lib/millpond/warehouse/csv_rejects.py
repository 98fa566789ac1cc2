"""Reading a CSV file that may hold malformed rows: the rows that parse, and one row per malformed line.

A raw CSV file is read as text (every column a string, an empty field NULL), with three
columns more, :data:`PROBLEM_COLUMNS`, NULL on every row that parsed:

- ``_source_line``: the line of the file where a malformed row starts (the header is line 1);
- ``_load_error``: what is wrong with it, ``expected 6 fields, found 7`` or ``invalid UTF-8``;
- ``_raw_line``: its text as it stands in the file (an invalid byte shown as ``?``).

A malformed row gets NULL in every column of the header. So nothing that arrived is
lost, the well-formed rows keep the right columns, and the stage that types the rows
(silver) can hold the malformed ones in quarantine with their file, line and reason.

On DuckDB the file is scanned once with ``read_csv(..., store_rejects = true)`` (DuckDB's
reject tables give each rejected line and its error), then read inside the query with
``ignore_errors = true`` (no temporary view: the expression survives an interactive
reconnect), plus the malformed rows as an in-memory table. Elsewhere PyArrow reads it;
only when that strict read fails is the file read by Python's ``csv`` module, which finds
the same lines. The dialect is fixed (``,`` delimiter, ``"`` quote and escape, a header):
DuckDB's sniffer is what made one broken row turn a file into a single column.

A 0-byte file has no header: it reads as no rows of the ``expected`` columns (an error
naming the file when none are given); the volume guard (:mod:`millpond.warehouse.audit`)
then decides whether that may replace a table.

>>> import tempfile, ibis
>>> path = Path(tempfile.mkdtemp()) / "t.csv"
>>> _ = path.write_bytes(b"id,name\\n1,ann\\n2,bob,extra\\n3,\\xffcat\\n4,\\n")
>>> con = ibis.duckdb.connect()
>>> rows = con.to_pyarrow(read_csv_duckdb(con, path)).to_pylist()
>>> [(r["id"], r["name"], r["_source_line"], r["_load_error"], r["_raw_line"]) for r in rows]  # doctest: +NORMALIZE_WHITESPACE
[('1', 'ann', None, None, None), ('4', None, None, None, None),
 (None, None, 3, 'expected 2 fields, found 3', '2,bob,extra'), (None, None, 4, 'invalid UTF-8', '3,?cat')]
>>> read_csv_arrow(path).to_pylist() == rows
True
"""

from __future__ import annotations

import csv
import re
import secrets
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from millpond.errors import MillpondError

if TYPE_CHECKING:
    import ibis.expr.types as ir

PROBLEM_COLUMNS: dict[str, pa.DataType] = {"_source_line": pa.int64(), "_load_error": pa.string(),
                                           "_raw_line": pa.string()}
"""What a malformed row carries; NULL on the rows that parsed."""

_DUCKDB_TYPES = {pa.int64(): "BIGINT", pa.string(): "VARCHAR"}
_FIELD_COUNT = re.compile(r"Expected Number of Columns: (\d+) Found: (\d+)")


def csv_header(path: Path, expected: Sequence[str] | None = None) -> list[str]:
    """The column names on the first line of ``path``, or ``expected`` for a 0-byte file.

    >>> import tempfile
    >>> empty = Path(tempfile.mkdtemp()) / "e.csv"
    >>> _ = empty.write_bytes(b"")
    >>> csv_header(empty, ["id", "v"])
    ['id', 'v']
    >>> csv_header(empty)
    Traceback (most recent call last):
    ...
    millpond.errors.MillpondError: ...e.csv: the file is empty (0 bytes): no header line to read its columns from
    """
    path = Path(path)
    if path.stat().st_size == 0:
        if expected is None:
            raise MillpondError(f"{path}: the file is empty (0 bytes): no header line to read its columns from")
        return list(expected)
    with path.open("rb") as handle:
        first = handle.readline()
    try:
        header = next(csv.reader([first.decode("utf-8-sig").rstrip("\r\n")]), [])
    except UnicodeDecodeError:
        raise MillpondError(f"{path}:1: the header line is not valid UTF-8") from None
    if not header or len(set(header)) != len(header) or not all(header):
        raise MillpondError(f"{path}:1: the header line must name every column once, found {header!r}")
    return header


def _schema(header: Sequence[str]) -> pa.Schema:
    return pa.schema([(name, pa.string()) for name in header] + list(PROBLEM_COLUMNS.items()))


def _problem_table(header: Sequence[str], problems: list[dict[str, Any]]) -> pa.Table:
    """Malformed rows: NULL in every header column, then line, error and text."""
    return pa.Table.from_pylist([{**dict.fromkeys(header), **p} for p in problems], schema=_schema(header))


# -- DuckDB ---------------------------------------------------------------------------
def read_csv_duckdb(con: Any, path: Path, expected: Sequence[str] | None = None) -> ir.Table:
    """Read one CSV file through a DuckDB backend (see the module docstring)."""
    import ibis

    from millpond.warehouse.readers import sql_literal

    path = Path(path)
    header = csv_header(path, expected)
    columns = "{" + ", ".join(f"{sql_literal(c)}: 'VARCHAR'" for c in header) + "}"
    nulls = ", ".join(f"CAST(NULL AS {_DUCKDB_TYPES[t]}) AS {c}" for c, t in PROBLEM_COLUMNS.items())
    if path.stat().st_size == 0:
        text = ", ".join(f"CAST(NULL AS VARCHAR) AS {_identifier(c)}" for c in header)
        return con.sql(f"SELECT {text}, {nulls} WHERE false")
    options = (f"{sql_literal(str(path))}, all_varchar = true, header = true, delim = ',', quote = '\"', "
               f"escape = '\"', columns = {columns}")
    problems = _duckdb_rejects(con, path, options, header)
    if not problems:
        return con.sql(f"SELECT *, {nulls} FROM read_csv({options})")
    # Skip the rejected rows. A row's text is checked only when a column of it is read, so
    # a filter that reads them all keeps a `count(*)` from counting an invalid row as good.
    every = ", ".join(_identifier(c) for c in header)
    rows = con.sql(f"SELECT *, {nulls} FROM read_csv({options}, ignore_errors = true) "
                   f"WHERE length(concat_ws('', {every})) >= 0")
    return ibis.union(rows, ibis.memtable(_problem_table(header, problems)), distinct=False)


def _identifier(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _duckdb_rejects(con: Any, path: Path, options: str, header: Sequence[str]) -> list[dict[str, Any]]:
    """Scan the file once with DuckDB's reject tables; one problem per malformed line."""
    token = secrets.token_hex(4)
    errors, scans = f"_mp_rejects_{token}", f"_mp_scans_{token}"
    every_column = ", ".join(f"count({_identifier(c)})" for c in header)  # all parsed: each is checked
    raw = con.con
    try:
        raw.execute(f"SELECT count(*), {every_column} FROM read_csv({options}, store_rejects = true, "
                    f"rejects_table = '{errors}', rejects_scan = '{scans}')").fetchall()
        found = raw.execute(f"SELECT line_byte_position, error_type, error_message, csv_line FROM {errors} "
                            "ORDER BY line_byte_position").fetchall()
    finally:
        raw.execute(f"DROP TABLE IF EXISTS {errors}")
        raw.execute(f"DROP TABLE IF EXISTS {scans}")
    if not found:
        return []
    spans = [(position, (text or "").strip("\r\n").count("\n") + 1) for position, _, _, text in found]
    problems: dict[int, dict[str, Any]] = {}
    for (_, kind, message, _), (line, text) in zip(found, _records_at(path, spans), strict=True):
        problems.setdefault(line, {"_source_line": line, "_load_error": _duckdb_error(kind, message), "_raw_line": text})
    return [problems[line] for line in sorted(problems)]


def _duckdb_error(kind: str, message: str) -> str:
    """DuckDB's reject error as the words this module uses.

    >>> _duckdb_error("TOO MANY COLUMNS", "Expected Number of Columns: 3 Found: 4")
    'expected 3 fields, found 4'
    >>> _duckdb_error("INVALID ENCODING", "Invalid unicode (byte sequence mismatch) detected.")
    'invalid UTF-8'
    """
    counted = _FIELD_COUNT.search(message or "")
    if counted:
        return f"expected {counted.group(1)} fields, found {counted.group(2)}"
    if "ENCODING" in kind or "UNICODE" in kind:
        return "invalid UTF-8"
    return f"{kind.lower()}: {(message or '').splitlines()[0] if message else ''}".rstrip(": ")


def _records_at(path: Path, spans: list[tuple[int, int]]) -> list[tuple[int, str]]:
    """For each ``(byte position, lines)`` of ``path``: the line (1-based) where the record
    at that position starts (blank lines skipped), and its text as :func:`_shown` shows it
    (DuckDB's own copy of a rejected line loses the bytes around an invalid one)."""
    data = path.read_bytes()[: max(p for p, _ in spans) + (1 << 20)] if spans else b""
    found = []
    for position, lines in spans:
        position = data.rfind(b"\n", 0, position) + 1  # DuckDB may point one byte into the line
        while position < len(data) and data[position:position + 1] in (b"\n", b"\r"):
            position += 1
        end = position
        for _ in range(lines):
            end = data.find(b"\n", end) + 1 or len(data)
        text = data[position:end].decode("utf-8", "surrogateescape")
        found.append((data.count(b"\n", 0, position) + 1, _shown(text)))
    return found


# -- PyArrow and Python ---------------------------------------------------------------
def read_csv_arrow(path: Path, expected: Sequence[str] | None = None) -> pa.Table:
    """Read one CSV file into a ``pyarrow.Table`` (see the module docstring)."""
    import pyarrow.csv as pa_csv

    path = Path(path)
    header = csv_header(path, expected)
    if path.stat().st_size == 0:
        return _schema(header).empty_table()
    try:
        options = pa_csv.ConvertOptions(column_types={n: pa.string() for n in header}, strings_can_be_null=True,
                                        null_values=[""])
        table = pa_csv.read_csv(path, convert_options=options,
                                read_options=pa_csv.ReadOptions(column_names=header, skip_rows=1))
    except pa.ArrowInvalid:  # a malformed row: find every one, with its line, the slow way
        good, problems = scan_csv(path, header)
        table = pa.Table.from_pylist([dict(zip(header, row, strict=True)) for row in good],
                                     schema=pa.schema([(n, pa.string()) for n in header]))
        return pa.concat_tables([_with_no_problems(table), _problem_table(header, problems)])
    return _with_no_problems(table)


def _with_no_problems(table: pa.Table) -> pa.Table:
    for name, dtype in PROBLEM_COLUMNS.items():
        table = table.append_column(name, pa.nulls(table.num_rows, dtype))
    return table


def scan_csv(path: Path, header: Sequence[str]) -> tuple[list[list[str | None]], list[dict[str, Any]]]:
    """Every row of ``path`` after the header: the well-formed ones (an empty field NULL),
    and a problem (line, error, text) for each malformed one. Blank lines are skipped.

    >>> import tempfile
    >>> path = Path(tempfile.mkdtemp()) / "t.csv"
    >>> _ = path.write_bytes(b'a,b\\n1,"x\\ny"\\n\\n2\\n3,\\n')
    >>> scan_csv(path, ["a", "b"])  # doctest: +NORMALIZE_WHITESPACE
    ([['1', 'x\\ny'], ['3', None]],
     [{'_source_line': 5, '_load_error': 'expected 2 fields, found 1', '_raw_line': '2'}])
    """
    good: list[list[str | None]] = []
    problems: list[dict[str, Any]] = []
    with Path(path).open(newline="", encoding="utf-8", errors="surrogateescape") as handle:
        source = _RecordingLines(handle)
        reader = csv.reader(source)
        next(reader, None)
        source.take()
        start = reader.line_num + 1
        for fields in reader:
            text = source.take()
            if fields:
                problem = None
                if len(fields) != len(header):
                    problem = f"expected {len(header)} fields, found {len(fields)}"
                elif not _is_utf8(text):
                    problem = "invalid UTF-8"
                if problem:
                    problems.append({"_source_line": start, "_load_error": problem, "_raw_line": _shown(text)})
                else:
                    good.append([field or None for field in fields])
            start = reader.line_num + 1
    return good, problems


class _RecordingLines:
    """The lines of a file, remembering those read since the last :meth:`take`."""

    def __init__(self, handle) -> None:
        self._lines: Iterator[str] = iter(handle)
        self._taken: list[str] = []

    def __iter__(self) -> _RecordingLines:
        return self

    def __next__(self) -> str:
        line = next(self._lines)
        self._taken.append(line)
        return line

    def take(self) -> str:
        text, self._taken = "".join(self._taken), []
        return text


def _is_utf8(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:  # a byte that did not decode, kept as a lone surrogate
        return False
    return True


def _shown(text: str) -> str:
    """A record's text as DuckDB shows it: without its line break, an invalid byte as ``?``."""
    return text.rstrip("\r\n").encode("utf-8", "surrogateescape").decode("utf-8", "replace").replace("\ufffd", "?")
