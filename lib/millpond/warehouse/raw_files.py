"""Loading raw files as they are: every column of a CSV file as text, malformed rows kept, and where and when each row was loaded.

The framework half of a bronze stage, for any workspace:

* :func:`read_native` reads files through the engine's own readers (DuckDB's ``read_csv``,
  ``read_parquet``, ``read_json``: :mod:`millpond.engines.duckdb_raw`);
* :func:`read_arrow` reads one file into a ``pyarrow.Table`` with the same columns and
  types, for engines that cannot read files (PostgreSQL): wrap it in ``ibis.memtable``;
* :func:`table_from_files` makes a table of rows read from files some other way (pandas),
  whose lineage still ends at the files;
* :func:`with_load_metadata` adds ``_source_file`` (the path from the workspace root, with
  ``/``) and ``_loaded_at`` (passed in, so runs are reproducible);
* :func:`load_files` does both for a list of files and unions them, natively where the
  engine reads files (:attr:`millpond.engines.base.Engine.reads_raw_files`);
* :func:`malformed_rows_warning` says in one line which rows did not parse, and where.

CSV columns are always text, so nothing is lost before silver types them; an empty
CSV field is NULL. A CSV row that does not parse (a missing or an extra field, a byte
that is not UTF-8) is kept as a row of NULLs with its ``_source_line``, ``_load_error``
and ``_raw_line``; silver holds it in quarantine (reason ``malformed_row``,
:mod:`millpond.model.rejection`). Parquet and JSON lines keep their types.

>>> import tempfile, ibis
>>> root = Path(tempfile.mkdtemp())
>>> _ = (root / "raw").mkdir()
>>> _ = (root / "raw" / "a.csv").write_text("id,name\\n1,ann\\n")
>>> _ = (root / "raw" / "b.csv").write_text("id,name\\n2,\\n")
>>> con = ibis.duckdb.connect()
>>> t = load_files(con, sorted((root / "raw").glob("*.csv")), root=root, loaded_at=datetime(2024, 2, 1))
>>> sorted((r["id"], r["name"], r["_source_file"]) for r in con.to_pyarrow(t).to_pylist())
[('1', 'ann', 'raw/a.csv'), ('2', None, 'raw/b.csv')]
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import Literal

import ibis
import ibis.expr.types as ir
import pyarrow as pa

from millpond.engines import engine_for
from millpond.engines.file_origins import from_files, kind_of
from millpond.engines.raw_arrow import read_any_arrow as read_arrow


def source_file_name(path: Path, root: Path) -> str:
    """Return ``path`` relative to the workspace ``root``, with ``/`` separators.

    >>> source_file_name(Path("/ws/data/raw/orders.csv"), Path("/ws"))
    'data/raw/orders.csv'
    >>> source_file_name(Path("/elsewhere/orders.csv"), Path("/ws"))
    Traceback (most recent call last):
    ...
    ValueError: raw file /elsewhere/orders.csv is outside the workspace root /ws; keep raw data under the workspace
    """
    path, root = Path(path).absolute(), Path(root).absolute()
    if not path.is_relative_to(root):
        raise ValueError(f"raw file {path} is outside the workspace root {root}; keep raw data under the workspace")
    return path.relative_to(root).as_posix()


def read_native(
    con,
    path: Path | Sequence[Path],
    *,
    filename: bool = False,
    expected: Sequence[str] | None = None,
    json_schema: pa.Schema | None = None,
) -> ir.Table:
    """Read raw files of one format through the engine's own readers, as :func:`read_arrow`
    types them (:meth:`millpond.engines.base.Engine.read_raw_files`; where the engine has
    none, Arrow reads them into a memtable).

    ``path`` may be a list of files of the same format, read as one table; with
    ``filename=True`` a ``filename`` column holds each row's file, as given;
    ``expected`` names the columns of a 0-byte CSV file; ``json_schema`` those of JSON lines.
    """
    paths = [Path(path)] if isinstance(path, (str, Path)) else [Path(p) for p in path]
    return engine_for(con).read_raw_files(paths, filename=filename, expected=expected, json_schema=json_schema)


def table_from_files(data, paths: Sequence[Path | str], kind: str | None = None) -> ir.Table:
    """``data`` (a pandas frame or a ``pyarrow.Table`` read from the raw files ``paths``) as
    an in-memory table whose lineage ends at those files, on every engine
    (:mod:`millpond.engines.file_origins`). ``kind``: ``csv``, ``parquet`` or ``json``
    (default: by the first file's suffix).

    >>> t = table_from_files(pa.table({"a": [1]}), ["/ws/data/raw/a.csv"])
    >>> from millpond.engines.file_origins import origin_of
    >>> origin_of(t.op().name)
    ('csv', ('/ws/data/raw/a.csv',))
    """
    return from_files(ibis.memtable(data), kind or kind_of(paths[0]), paths)


def with_load_metadata(table: ir.Table, *, source_file: str, loaded_at: datetime) -> ir.Table:
    """Append ``_source_file`` and ``_loaded_at`` (naive UTC; aware times are converted).

    >>> import pyarrow as pa
    >>> t = with_load_metadata(ibis.memtable(pa.table({"a": [1]})), source_file="raw/a.csv",
    ...                        loaded_at=datetime(2024, 2, 1, 6, tzinfo=timezone.utc))
    >>> ibis.duckdb.connect().to_pyarrow(t).to_pylist()
    [{'a': 1, '_source_file': 'raw/a.csv', '_loaded_at': datetime.datetime(2024, 2, 1, 6, 0)}]
    """
    if loaded_at.tzinfo is not None:
        loaded_at = loaded_at.astimezone(timezone.utc).replace(tzinfo=None)
    return table.mutate(
        _source_file=ibis.literal(source_file, type="string"),
        _loaded_at=ibis.literal(loaded_at, type="timestamp"),
    )


def load_files(
    con,
    paths: Sequence[Path],
    *,
    root: Path,
    loaded_at: datetime,
    reader: Literal["native", "arrow"] | None = None,
    expected: Sequence[str] | None = None,
    json_schema: pa.Schema | None = None,
) -> ir.Table:
    """Return the rows of ``paths`` (all of one format) as one table, with load metadata.

    Parameters
    ----------
    con
        Ibis backend; it reads the files itself when ``reader="native"``.
    paths
        The files, all ``.csv``, all ``.parquet`` or all ``.jsonl``; at least one.
    root
        Workspace root; ``_source_file`` is relative to it.
    loaded_at
        Load time to stamp on every row.
    reader
        ``"native"`` reads through the warehouse's own file readers (DuckDB's); ``"arrow"``
        reads with pyarrow into memtables (works on any engine); by default, natively where
        the engine can (:attr:`millpond.engines.base.Engine.reads_raw_files`).
    expected
        The columns of a 0-byte CSV file (it has no header).
    json_schema
        The columns and types of JSON lines files.
    """
    if reader is None:
        reader = "native" if engine_for(con).reads_raw_files else "arrow"
    if not paths:
        raise ValueError("load_files: no files given")
    if reader == "native" and len(paths) > 1:
        raw = read_native(con, paths, filename=True, expected=expected, json_schema=json_schema)
        names = {str(path): source_file_name(path, root) for path in paths}
        stamped = with_load_metadata(raw, source_file="", loaded_at=loaded_at)
        stamped = stamped.mutate(_source_file=raw.filename.substitute(names))
        return stamped.drop("filename")
    tables = []
    for path in paths:
        raw = (
            read_native(con, path, expected=expected, json_schema=json_schema)
            if reader == "native"
            else table_from_files(read_arrow(path, expected, json_schema), [path])
        )
        tables.append(with_load_metadata(raw, source_file=source_file_name(path, root), loaded_at=loaded_at))
    return tables[0] if len(tables) == 1 else ibis.union(*tables, distinct=False)


def malformed_rows_warning(bronze_table: ir.Table, *, shown: int = 5) -> str | None:
    """One line naming the malformed rows of a bronze table: per file, how many, and the
    first ``shown`` lines with their error; ``None`` when every row parsed.

    >>> import tempfile
    >>> root = Path(tempfile.mkdtemp())
    >>> _ = (root / "orders.csv").write_bytes(b"id,v\\n1,a\\n2,b,c\\n3,\\xff\\n")
    >>> con = ibis.duckdb.connect()
    >>> table = with_load_metadata(read_native(con, root / "orders.csv"), source_file="raw/orders.csv",
    ...                            loaded_at=datetime(2024, 2, 1))
    >>> malformed_rows_warning(table)
    'raw/orders.csv: 2 malformed rows, held in quarantine (reason malformed_row): line 3: expected 2 fields, found 3; line 4: invalid UTF-8'
    """
    if "_load_error" not in bronze_table.columns:
        return None
    bad = bronze_table.filter(bronze_table._load_error.notnull())
    counts = bad.group_by("_source_file").agg(rows=bad.count()).order_by("_source_file").to_pyarrow().to_pylist()
    if not counts:
        return None
    first = (
        bad.select("_source_file", "_source_line", "_load_error")
        .order_by(["_source_file", "_source_line"])
        .limit(shown)
        .to_pyarrow()
        .to_pylist()
    )
    parts = []
    for count in counts:
        lines = "; ".join(
            f"line {r['_source_line']}: {r['_load_error']}" for r in first if r["_source_file"] == count["_source_file"]
        )
        more = "" if count["rows"] <= shown else " ..."
        noun = "row" if count["rows"] == 1 else "rows"
        parts.append(
            f"{count['_source_file']}: {count['rows']:,} malformed {noun}, held in quarantine "
            f"(reason malformed_row): {lines}{more}"
        )
    return "; ".join(parts)
