"""Table sizes in bytes, asked of the warehouse only when that is cheap.

- PostgreSQL: ``pg_total_relation_size`` (table, indexes and TOAST), one query.
- DuckDB: the storage blocks a table's columns occupy (``pragma_storage_info``) times
  the block size: whole blocks, so an upper bound (a tiny table counts one block, as
  small tables may share one). Asked only when the warehouse lease is free at once:
  the catalog never waits for a running stage; then sizes are left out.

Views have no size. Any failure leaves the sizes out rather than failing the catalog.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import duckdb

    from millpond.workspace import Workspace


def warehouse_sizes(workspace: Workspace, names: list[str]) -> dict[str, int]:
    """``{layer.table: bytes}`` for the tables among ``names`` the warehouse holds."""
    db_file = workspace.duckdb_file()
    if db_file is not None:
        return _duckdb_file_sizes(db_file, names)
    from millpond.errors import MillpondError
    from millpond.warehouse.connect import connect

    try:
        con = connect(workspace)
    except MillpondError:
        return {}
    try:
        from millpond.engines import engine_for

        return engine_for(con).table_sizes(names)
    except Exception:  # noqa: BLE001 - sizes are optional
        return {}
    finally:
        con.disconnect()


def _duckdb_file_sizes(db_file, names: list[str]) -> dict[str, int]:
    import duckdb

    from millpond.warehouse.lease import Lease

    if not db_file.is_file():
        return {}
    lease = Lease(db_file, "millpond catalog (sizes)")
    if not lease.try_acquire():
        return {}
    try:
        con = duckdb.connect(str(db_file), read_only=True)
        try:
            return duckdb_sizes(con, names)
        finally:
            con.close()
    except duckdb.Error:
        return {}
    finally:
        lease.release()


def duckdb_sizes(con: duckdb.DuckDBPyConnection, names: list[str]) -> dict[str, int]:
    """Bytes of the storage blocks each table among ``names`` occupies.

    >>> import duckdb
    >>> con = duckdb.connect()
    >>> _ = con.execute("CREATE SCHEMA g; CREATE TABLE g.t AS SELECT 1 AS a; CREATE VIEW g.v AS SELECT 1 AS a")
    >>> duckdb_sizes(con, ["g.t", "g.v", "g.missing"])  # in memory: nothing written to blocks
    {'g.t': 0}
    """
    wanted = set(names)
    tables = con.execute(
        "SELECT schema_name, table_name FROM duckdb_tables() WHERE NOT internal AND NOT temporary"
        " AND database_name = current_database()"
    ).fetchall()
    block = con.execute("SELECT block_size FROM pragma_database_size()").fetchone()[0]
    sizes = {}
    for schema, table in tables:
        name = f"{schema}.{table}"
        if name not in wanted:
            continue
        blocks = con.execute(
            f"SELECT count(DISTINCT block_id) + coalesce(sum(len(additional_block_ids)), 0)"  # noqa: S608
            f" FROM pragma_storage_info('{schema}.{table}') WHERE block_id >= 0 AND persistent"  # -1: a constant segment, no block
        ).fetchone()[0]
        sizes[name] = int(blocks) * int(block)
    return sizes
