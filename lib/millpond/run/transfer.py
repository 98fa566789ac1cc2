"""``millpond export`` and ``millpond import``: a warehouse table or query out to files, and
such files back in as a table (:mod:`millpond.warehouse.transfer` writes and reads them).

Both hold the warehouse like a run does (its lease), name tables as every command does (the
active environment's), and import by an atomic swap: readers see the old table or the new
one, never half of it.
"""

from __future__ import annotations

from pathlib import Path

import ibis

from millpond.errors import MillpondError
from millpond.project import project_of
from millpond.warehouse.materialize import Materialized, materialize
from millpond.warehouse.sql import split_name
from millpond.warehouse.transfer import Exported, export_rows, read_exported
from millpond.workspace import Workspace


def export_table(
    workspace: Workspace,
    folder: Path,
    *,
    table: str | None = None,
    query: str | None = None,
    fmt: str = "parquet",
    partition_by: list[str] | None = None,
    compression: str | None = None,
    overwrite: bool = False,
) -> Exported:
    """Write ``table`` (``layer.table``) or the rows of ``query`` (SQL) under ``folder``."""
    if (table is None) == (query is None):
        raise MillpondError("export: give a table (layer.table) or --query, not both")
    warehouse = project_of(workspace).warehouse(f"export of {table or 'a query'}")
    try:
        con = warehouse.hold()
        if table is not None:
            schema, name = split_name(table)
            if name not in con.list_tables(database=schema):
                raise MillpondError(f"export: no table {table} in the warehouse")
            rows = con.table(name, database=schema)
        else:
            try:
                rows = con.sql(query)
            except Exception as exc:  # the engine's own word on the SQL, in one line
                raise MillpondError(f"export --query: {str(exc).splitlines()[0]}") from None
        data = rows.to_pyarrow()
    finally:
        warehouse.close()
    return export_rows(data, folder, fmt=fmt, partition_by=partition_by, compression=compression, overwrite=overwrite)


def import_table(workspace: Workspace, folder: Path, table: str) -> Materialized:
    """Build ``table`` (``layer.table``) from the files an export wrote under ``folder``."""
    data = read_exported(folder)
    warehouse = project_of(workspace).warehouse(f"import into {table}")
    try:
        return materialize(warehouse.hold(), ibis.memtable(data), table)
    finally:
        warehouse.close()
