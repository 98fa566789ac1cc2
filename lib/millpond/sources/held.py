"""Records a source could not read, held in ``quarantine.<layer>_<table>`` with a reason.

A load's malformed records (a CSV row with a missing or extra field, a byte that is not
UTF-8) never reach the bronze table: they are held with the file and line they came from,
the reader's error and the raw line, and ``reason`` ``malformed_row``. The held rows of a
file are replaced when the file is loaded again (fixed, they are gone), in the load's own
transaction (:func:`held_statements`).

>>> held_name("bronze.orders")
'quarantine.bronze_orders'
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import ibis
import pyarrow as pa

from millpond.engines import create_table_as, engine_for
from millpond.quality.quarantine import QUARANTINE_LAYER
from millpond.warehouse.incremental import drop_stale_staging, staging_name
from millpond.warehouse.sql import ensure_schema, quote, split_name

if TYPE_CHECKING:
    import ibis.expr.types as ir
    from ibis.backends import BaseBackend

HELD_SCHEMA = ibis.schema(
    {
        "_source_file": "string",
        "_source_line": "int64",
        "_load_error": "string",
        "_raw_line": "string",
        "reason": "string",
        "_loaded_at": "timestamp",
        "_run_id": "string",
    }
)


def held_name(target: str) -> str:
    """The quarantine table of a source landing in ``target``."""
    layer, table = target.split(".")
    return f"{QUARANTINE_LAYER}.{layer}_{table}"


def held_statements(
    con: BaseBackend,
    target: str,
    held: ir.Table | None,
    replaced: Sequence[Any],
    *,
    whole: bool,
    run_id: str | None,
) -> list[str]:
    """The statements that replace the held rows of the ``replaced`` files (every file, ``whole``)
    with ``held`` (its columns as :data:`HELD_SCHEMA` without ``_run_id``), for the load's transaction."""
    schema, table = split_name(held_name(target))
    engine = engine_for(con)
    exists = engine.maybe_table(table, schema) is not None
    if held is None and not exists:
        return []
    ensure_schema(con, schema)
    drop_stale_staging(con, schema, table)
    if not exists:
        empty = pa.table({c: [] for c in HELD_SCHEMA.names}, schema=HELD_SCHEMA.to_pyarrow())
        create_table_as(con, table, ibis.memtable(empty), schema)
    live = quote(con, schema, table)
    statements = [f"DELETE FROM {live}"] if whole else []
    if replaced and not whole:
        files = ", ".join("'" + str(name).replace("'", "''") + "'" for name in replaced)
        statements.append(f"DELETE FROM {live} WHERE _source_file IN ({files})")
    if held is not None:
        rows = held.select(*HELD_SCHEMA.names[:-1], _run_id=ibis.literal(run_id, type="string")).cast(HELD_SCHEMA)
        staged = staging_name(table)
        create_table_as(con, staged, rows, schema)
        new = quote(con, schema, staged)
        statements += [f"INSERT INTO {live} SELECT * FROM {new}", f"DROP TABLE {new}"]
    return statements


def split_malformed(rows: ir.Table) -> tuple[ir.Table, ir.Table | None]:
    """``(good rows without the reader's error columns, malformed rows to hold or None)``."""
    if "_load_error" not in rows.columns:
        return rows, None
    bad = rows.filter(rows._load_error.notnull())
    held = bad.select(
        "_source_file", "_source_line", "_load_error", "_raw_line", "_loaded_at", reason=ibis.literal("malformed_row")
    ).select(*HELD_SCHEMA.names[:-1])
    good = rows.filter(rows._load_error.isnull()).drop("_source_line", "_load_error", "_raw_line")
    return good, held
