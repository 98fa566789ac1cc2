"""Raw files read by Arrow: a CSV file that may hold malformed rows (the rows that parse, and
one row per malformed line), Parquet, JSON lines.

A raw CSV file is read as text (every column a string, an empty field NULL), with three
columns more, :data:`PROBLEM_COLUMNS`, NULL on every row that parsed:

- ``_source_line``: the line of the file where a malformed row starts (the header is line 1);
- ``_load_error``: what is wrong with it, ``expected 6 fields, found 7`` or ``invalid UTF-8``;
- ``_raw_line``: its text as it stands in the file (an invalid byte shown as ``?``).

A malformed row gets NULL in every column of the header. So nothing that arrived is
lost, the well-formed rows keep the right columns, and the stage that types the rows
(silver) can hold the malformed ones in quarantine with their file, line and reason.

This is how an engine that does not read files itself gets them (``Engine.read_raw_files``):
PyArrow reads the file; only when that strict read fails is it read by Python's ``csv``
module, which finds the malformed lines. An engine that reads files finds the same lines
its own way (the DuckDB engine: :mod:`millpond.engines.duckdb_raw`). The dialect is fixed (``,`` delimiter, ``"`` quote and escape, a header):
DuckDB's sniffer is what made one broken row turn a file into a single column.

A 0-byte file has no header: it reads as no rows of the ``expected`` columns (an error
naming the file when none are given); the volume guard (:mod:`millpond.warehouse.audit`)
then decides whether that may replace a table.

>>> import tempfile, ibis
>>> path = Path(tempfile.mkdtemp()) / "t.csv"
>>> _ = path.write_bytes(b"id,name\\n1,ann\\n2,bob,extra\\n3,\\xffcat\\n4,\\n")
>>> rows = read_csv_arrow(path).to_pylist()
>>> [(r["id"], r["name"], r["_source_line"], r["_load_error"], r["_raw_line"]) for r in rows]  # doctest: +NORMALIZE_WHITESPACE
[('1', 'ann', None, None, None), ('4', None, None, None, None),
 (None, None, 3, 'expected 2 fields, found 3', '2,bob,extra'), (None, None, 4, 'invalid UTF-8', '3,?cat')]
"""

from __future__ import annotations

import csv
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pyarrow as pa
import pyarrow.json as pa_json
import pyarrow.parquet as pq

from millpond.errors import MillpondError

if TYPE_CHECKING:
    pass

PROBLEM_COLUMNS: dict[str, pa.DataType] = {
    "_source_line": pa.int64(),
    "_load_error": pa.string(),
    "_raw_line": pa.string(),
}
"""What a malformed row carries; NULL on the rows that parsed."""


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
    >>> _ = empty.write_bytes(bytes(range(256)))
    >>> csv_header(empty)
    Traceback (most recent call last):
    ...
    millpond.errors.MillpondError: ...e.csv:1: the header line holds control characters: is this a CSV file?
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
    if any(ch < " " and ch != "\t" for name in header for ch in name):  # binary, not text
        raise MillpondError(f"{path}:1: the header line holds control characters: is this a CSV file?")
    return header


def _schema(header: Sequence[str]) -> pa.Schema:
    return pa.schema([(name, pa.string()) for name in header] + list(PROBLEM_COLUMNS.items()))


def problem_table(header: Sequence[str], problems: list[dict[str, Any]]) -> pa.Table:
    """Malformed rows: NULL in every header column, then line, error and text."""
    return pa.Table.from_pylist([{**dict.fromkeys(header), **p} for p in problems], schema=_schema(header))


def records_at(path: Path, spans: list[tuple[int, int]]) -> list[tuple[int, str]]:
    """For each ``(byte position, lines)`` of ``path``: the line (1-based) where the record
    at that position starts (blank lines skipped), and its text as :func:`_shown` shows it
    (DuckDB's own copy of a rejected line loses the bytes around an invalid one)."""
    data = path.read_bytes()[: max(p for p, _ in spans) + (1 << 20)] if spans else b""
    found = []
    for position, lines in spans:
        position = data.rfind(b"\n", 0, position) + 1  # DuckDB may point one byte into the line
        while position < len(data) and data[position : position + 1] in (b"\n", b"\r"):
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
        options = pa_csv.ConvertOptions(
            column_types={n: pa.string() for n in header}, strings_can_be_null=True, null_values=[""]
        )
        table = pa_csv.read_csv(
            path, convert_options=options, read_options=pa_csv.ReadOptions(column_names=header, skip_rows=1)
        )
    except pa.ArrowInvalid:  # a malformed row: find every one, with its line, the slow way
        good, problems = scan_csv(path, header)
        table = pa.Table.from_pylist(
            [dict(zip(header, row, strict=True)) for row in good], schema=pa.schema([(n, pa.string()) for n in header])
        )
        return pa.concat_tables([_with_no_problems(table), problem_table(header, problems)])
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


def read_any_arrow(path: Path, expected: Sequence[str] | None = None, json_schema: pa.Schema | None = None) -> pa.Table:
    """Read one raw file (``.csv``, ``.parquet`` or ``.jsonl``) into a ``pyarrow.Table``.

    CSV columns are all strings and only an empty field is NULL (``"N/A"`` stays text);
    ``expected`` names the columns of a 0-byte CSV file (it has no header); ``json_schema``
    fixes the columns and types of a ``.jsonl`` file (a field it lacks is an error).

    >>> import tempfile
    >>> path = Path(tempfile.mkdtemp()) / "t.csv"
    >>> _ = path.write_text("id,amount\\n1,N/A\\n2,\\n")
    >>> [{k: v for k, v in row.items() if k in ("id", "amount")} for row in read_any_arrow(path).to_pylist()]
    [{'id': '1', 'amount': 'N/A'}, {'id': '2', 'amount': None}]
    """
    path = Path(path)
    if path.suffix == ".csv":
        return read_csv_arrow(path, expected)
    if path.suffix == ".parquet":
        return pq.read_table(path)
    if path.suffix == ".jsonl":
        options = pa_json.ParseOptions(
            explicit_schema=json_schema, unexpected_field_behavior="error" if json_schema else "infer"
        )
        return pa_json.read_json(path, parse_options=options)
    raise ValueError(f"cannot read raw file {path}: expected .csv, .parquet or .jsonl")
