"""The atomic table swap every whole build ends with.

A table is built under a temporary name in its schema, audited, then swapped in by one
transaction (the old table dropped, or kept as a version: :func:`millpond.warehouse.versions.swap_statements`),
so a reader sees the old table or the new one, never a half-built or missing one; a failed
build drops its temporary table and leaves the old one in place.

>>> import ibis
>>> con = ibis.duckdb.connect()
>>> ensure_schema(con, "gold")
>>> swap_in_table(con, ibis.memtable({"id": [1, 2]}), "gold", "t")
>>> con.table("t", database="gold").count().execute()
2
"""

from __future__ import annotations

import secrets
from typing import TYPE_CHECKING, Callable

from millpond.engines import create_table_as
from millpond.warehouse.sql import TEMP_PREFIX, drop_statement, ensure_schema, existing_kind, run_in_transaction
from millpond.warehouse.versions import swap_statements

if TYPE_CHECKING:
    import ibis.expr.types as ir
    from ibis.backends import BaseBackend

__all__ = ["ensure_schema", "swap_in_table"]


def swap_in_table(
    con: BaseBackend,
    expr: ir.Table,
    schema: str,
    table: str,
    *,
    verify: Callable[[ir.Table], None] | None = None,
    also: Callable[[ir.Table], list[str]] | None = None,
) -> None:
    """Build ``expr`` under a temporary name, ``verify`` it (a contract), then swap it in with
    one transaction that also runs the statements ``also(built)`` returns (e.g. filing
    quarantined rows, a materialized view's state)."""
    temp = f"{TEMP_PREFIX}{table}_{secrets.token_hex(4)}"
    try:
        built = create_table_as(con, temp, expr, schema)
        if verify is not None:
            verify(built)
        old = existing_kind(con, schema, table)
        statements = swap_statements(con, schema, table, temp, old)  # drops the old table or keeps it as a version
        run_in_transaction(con, [*statements, *(also(built) if also else [])])
    except BaseException:
        try:
            run_in_transaction(con, [drop_statement(con, "table", schema, temp)])
        except Exception:  # noqa: S110 - the original error matters more
            pass
        raise
