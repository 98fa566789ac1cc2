"""Raw files read by DuckDB itself: CSV with its malformed rows, Parquet, JSON lines.

What :meth:`millpond.engines.duckdb.DuckDBEngine.read_raw_files` does, with the same
columns and types as the Arrow readers of :mod:`millpond.engines.raw_arrow` (every CSV column
text, an empty field NULL, a malformed row kept as NULLs with ``_source_line``,
``_load_error`` and ``_raw_line``).

A CSV file is scanned once with ``read_csv(..., store_rejects = true)`` (DuckDB's reject
tables give each rejected line and its error), then read inside the query with
``ignore_errors = true`` (no temporary view: the expression survives an interactive
reconnect), plus the malformed rows as an in-memory table. The dialect is fixed (``,``
delimiter, ``"`` quote and escape, a header): DuckDB's sniffer is what made one broken row
turn a file into a single column.

>>> import tempfile, ibis
>>> from millpond.engines.raw_arrow import read_csv_arrow
>>> path = Path(tempfile.mkdtemp()) / "t.csv"
>>> _ = path.write_bytes(b"id,name\\n1,ann\\n2,bob,extra\\n3,\\xffcat\\n4,\\n")
>>> con = ibis.duckdb.connect()
>>> rows = con.to_pyarrow(read_csv(con, path)).to_pylist()
>>> [(r["id"], r["_source_line"], r["_load_error"]) for r in rows]
[('1', None, None), ('4', None, None), (None, 3, 'expected 2 fields, found 3'), (None, 4, 'invalid UTF-8')]
>>> read_csv_arrow(path).to_pylist() == rows
True
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import ibis
import ibis.expr.types as ir
import pyarrow as pa

from millpond.engines.base import sql_literal
from millpond.engines.raw_arrow import PROBLEM_COLUMNS, csv_header, problem_table, records_at

_DUCKDB_TYPES = {pa.string(): "VARCHAR", pa.int64(): "BIGINT", pa.float64(): "DOUBLE", pa.bool_(): "BOOLEAN"}
_FIELD_COUNT = re.compile(r"Expected Number of Columns: (\d+) Found: (\d+)")


def read_raw(
    con,
    paths: list[Path],
    *,
    filename: bool = False,
    expected: Sequence[str] | None = None,
    json_schema: pa.Schema | None = None,
) -> ir.Table:
    """Raw files of one format read through a DuckDB backend, as one table (see the module
    docstring); ``filename=True`` adds a ``filename`` column holding each row's file."""
    suffixes = {p.suffix for p in paths}
    if len(suffixes) != 1:
        raise ValueError(f"cannot read {len(paths)} raw files with suffixes {sorted(suffixes)} as one table")
    # Read inside the query (no temporary view): the expression holds no connection
    # state, so it survives the reconnects of an interactive session.
    files = sql_literal([str(p) for p in paths])
    if suffixes == {".csv"}:  # file by file: each has its header, and its malformed rows their file
        tables = [read_csv(con, p, expected) for p in paths]
        if filename:
            tables = [
                t.mutate(filename=ibis.literal(str(p), type="string")) for t, p in zip(tables, paths, strict=True)
            ]
        return tables[0] if len(tables) == 1 else ibis.union(*tables, distinct=False)
    if suffixes == {".parquet"}:
        return con.sql(f"SELECT * FROM read_parquet({files}, filename = {filename})")
    if suffixes == {".jsonl"}:
        columns = (
            ""
            if json_schema is None
            else (", columns = {" + ", ".join(f"'{f.name}': '{_DUCKDB_TYPES[f.type]}'" for f in json_schema) + "}")
        )
        return con.sql(
            f"SELECT * FROM read_json({files}{columns}, format = 'newline_delimited', filename = {filename})"
        )
    raise ValueError(f"cannot read raw file {paths[0]}: expected .csv, .parquet or .jsonl")


def _identifier(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def read_csv(con: Any, path: Path, expected: Sequence[str] | None = None) -> ir.Table:
    """Read one CSV file through a DuckDB backend (see the module docstring)."""
    path = Path(path)
    header = csv_header(path, expected)
    columns = "{" + ", ".join(f"{sql_literal(c)}: 'VARCHAR'" for c in header) + "}"
    nulls = ", ".join(f"CAST(NULL AS {_DUCKDB_TYPES[t]}) AS {c}" for c, t in PROBLEM_COLUMNS.items())
    if path.stat().st_size == 0:
        text = ", ".join(f"CAST(NULL AS VARCHAR) AS {_identifier(c)}" for c in header)
        return con.sql(f"SELECT {text}, {nulls} WHERE false")
    options = (
        f"{sql_literal(str(path))}, all_varchar = true, header = true, delim = ',', quote = '\"', "
        f"escape = '\"', columns = {columns}"
    )
    problems = _rejects(con, path, options, header)
    if not problems:
        return con.sql(f"SELECT *, {nulls} FROM read_csv({options})")
    # Skip the rejected rows. A row's text is checked only when a column of it is read, so
    # a filter that reads them all keeps a `count(*)` from counting an invalid row as good.
    every = ", ".join(_identifier(c) for c in header)
    rows = con.sql(
        f"SELECT *, {nulls} FROM read_csv({options}, ignore_errors = true) WHERE length(concat_ws('', {every})) >= 0"
    )
    return ibis.union(rows, ibis.memtable(problem_table(header, problems)), distinct=False)


def _rejects(con: Any, path: Path, options: str, header: Sequence[str]) -> list[dict[str, Any]]:
    """Scan the file once with DuckDB's reject tables; one problem per malformed line."""
    token = secrets.token_hex(4)
    errors, scans = f"_mp_rejects_{token}", f"_mp_scans_{token}"
    every_column = ", ".join(f"count({_identifier(c)})" for c in header)  # all parsed: each is checked
    raw = con.con
    try:
        raw.execute(
            f"SELECT count(*), {every_column} FROM read_csv({options}, store_rejects = true, "
            f"rejects_table = '{errors}', rejects_scan = '{scans}')"
        ).fetchall()
        found = raw.execute(
            f"SELECT line_byte_position, error_type, error_message, csv_line FROM {errors} ORDER BY line_byte_position"
        ).fetchall()
    finally:
        raw.execute(f"DROP TABLE IF EXISTS {errors}")
        raw.execute(f"DROP TABLE IF EXISTS {scans}")
    if not found:
        return []
    spans = [(position, (text or "").strip("\r\n").count("\n") + 1) for position, _, _, text in found]
    problems: dict[int, dict[str, Any]] = {}
    for (_, kind, message, _), (line, text) in zip(found, records_at(path, spans), strict=True):
        problems.setdefault(
            line, {"_source_line": line, "_load_error": _reject_error(kind, message), "_raw_line": text}
        )
    return [problems[line] for line in sorted(problems)]


def _reject_error(kind: str, message: str) -> str:
    """DuckDB's reject error as the words this module uses.

    >>> _reject_error("TOO MANY COLUMNS", "Expected Number of Columns: 3 Found: 4")
    'expected 3 fields, found 4'
    >>> _reject_error("INVALID ENCODING", "Invalid unicode (byte sequence mismatch) detected.")
    'invalid UTF-8'
    """
    counted = _FIELD_COUNT.search(message or "")
    if counted:
        return f"expected {counted.group(1)} fields, found {counted.group(2)}"
    if "ENCODING" in kind or "UNICODE" in kind:
        return "invalid UTF-8"
    return f"{kind.lower()}: {(message or '').splitlines()[0] if message else ''}".rstrip(": ")
