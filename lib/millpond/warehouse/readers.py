"""Reading raw files into Ibis tables on any backend.

On DuckDB the files are read by the engine itself inside the query
(``read_csv(...)``), so the expression holds no connection state and survives the
reconnects of an interactive session. Engines that cannot read local files
(PostgreSQL) get the rows through PyArrow as an in-memory table.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from millpond.engines import engine_for
from millpond.engines.base import sql_literal  # noqa: F401 - re-exported for the readers of raw files

if TYPE_CHECKING:
    import ibis.expr.types as ir
    from ibis.backends import BaseBackend

_DUCKDB_FUNCTION = {"csv": "read_csv", "parquet": "read_parquet", "json": "read_json"}


def read_files(con: BaseBackend, kind: str, paths: list[Path], options: dict[str, Any]) -> ir.Table:
    """Read ``paths`` (all of one ``kind``) as one table; CSV columns are all text.

    Examples
    --------
    >>> import ibis, tempfile
    >>> p = Path(tempfile.mkdtemp()) / "a.csv"
    >>> _ = p.write_text("id,amount\\n1,2.50\\n2,three\\n")
    >>> t = read_files(ibis.duckdb.connect(), "csv", [p], {})
    >>> t.schema()
    ibis.Schema {
      id      string
      amount  string
    }
    """
    if kind == "csv":
        options = {"all_varchar": True, "header": True, **options}

    return engine_for(con).read_files(kind, paths, options, lambda: _arrow(kind, paths))


def _arrow(kind: str, paths: list[Path]):
    import pyarrow as pa
    import pyarrow.csv as pacsv
    import pyarrow.json as pajson
    import pyarrow.parquet as pq

    tables = []
    for p in paths:
        if kind == "csv":
            with open(p, newline="") as fh:
                header = fh.readline().strip().split(",")
            types = {name: pa.string() for name in header}
            tables.append(
                pacsv.read_csv(p, convert_options=pacsv.ConvertOptions(column_types=types, strings_can_be_null=False))
            )
        elif kind == "parquet":
            tables.append(pq.read_table(p))
        else:
            tables.append(pajson.read_json(p))
    return pa.concat_tables(tables, promote_options="default")
