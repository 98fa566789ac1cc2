"""Which tables exist in the warehouse, asked without importing Ibis when possible."""

from __future__ import annotations

from millpond.warehouse.lease import Lease
from millpond.workspace import Workspace

_QUERY = (
    "SELECT table_schema || '.' || table_name FROM information_schema.tables "
    "WHERE table_schema NOT IN ('information_schema', 'pg_catalog')"
)


def existing_tables(workspace: Workspace) -> set[str]:
    """``{"layer.table", ...}`` for every table and view in the warehouse."""
    db_file = workspace.duckdb_file()
    if db_file is not None:
        if not db_file.exists():
            return set()
        import duckdb

        with Lease(db_file, "the runner checking products"):
            con = duckdb.connect(str(db_file), read_only=True)
            try:
                return {row[0] for row in con.execute(_QUERY).fetchall()}
            finally:
                con.close()
    from millpond.warehouse.connect import connect

    con = connect(workspace)
    try:
        rows = con.sql(_QUERY.replace("table_schema || '.' || table_name", "table_schema || '.' || table_name AS name")).execute()
        return set(rows.iloc[:, 0])
    finally:
        con.disconnect()
