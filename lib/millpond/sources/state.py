"""What loads have taken, kept in the warehouse: ``_millpond.load_state``.

One row per source and item (a file, a cursor, a log position): ``source``, ``item``,
``state`` (JSON text), ``loaded_at`` and ``run_id``. It lives with the data, in the same
warehouse and environment (the schema is mapped like any other, so a development
environment keeps its own), and :func:`state_statements` writes it in the transaction that
commits the loaded rows: after a crash both are as they were, or both are new.

>>> import ibis
>>> con = ibis.duckdb.connect()
>>> read_state(con, "orders")
{}
>>> statements = state_statements(con, "orders", {"a.csv": {"size": 3}}, [], whole=False,
...                               loaded_at=datetime(2024, 2, 1), run_id="r1")
>>> from millpond.warehouse.sql import run_in_transaction
>>> run_in_transaction(con, statements)
>>> read_state(con, "orders")
{'a.csv': {'size': 3}}
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import TYPE_CHECKING, Any

import ibis
import pyarrow as pa

from millpond.engines import create_table_as, engine_for
from millpond.warehouse.incremental import drop_stale_staging, staging_name
from millpond.warehouse.sql import ensure_schema, quote, split_name

if TYPE_CHECKING:
    from ibis.backends import BaseBackend

STATE_TABLE = "_millpond.load_state"
STATE_SCHEMA = ibis.schema(
    {"source": "string", "item": "string", "state": "string", "loaded_at": "timestamp", "run_id": "string"}
)


def _where() -> tuple[str, str]:
    return split_name(STATE_TABLE)


def read_state(con: BaseBackend, source: str) -> dict[str, dict[str, Any]]:
    """Every item of ``source``'s state: ``{item: state}``; empty before its first load."""
    schema, table = _where()
    found = engine_for(con).maybe_table(table, schema)
    if found is None:
        return {}
    rows = found.filter(found.source == source).select("item", "state").to_pyarrow().to_pylist()
    return {row["item"]: json.loads(row["state"]) for row in rows}


def state_statements(
    con: BaseBackend,
    source: str,
    items: dict[str, dict[str, Any]],
    dropped: list[str],
    *,
    whole: bool,
    loaded_at: datetime,
    run_id: str | None,
) -> list[str]:
    """The statements that record ``items`` (and forget ``dropped``, or, ``whole``, everything
    else) for ``source``, to run in the load's own transaction.

    The new rows wait in a staging table of the source's own, created here (dropped by the
    statements; one an interrupted load left is dropped by the source's next load, never one
    of another source loading at the same time). ``source`` is a declared name (an identifier).
    """
    schema, table = _where()
    ensure_schema(con, schema)
    mine = f"{table}_{source}"  # staged per source: loads of other sources run beside this one
    drop_stale_staging(con, schema, mine)
    if engine_for(con).maybe_table(table, schema) is None:
        create_table_as(con, table, ibis.memtable(_arrow({c: [] for c in STATE_SCHEMA.names})), schema)
    rows = {
        "source": [source] * len(items),
        "item": list(items),
        "state": [json.dumps(value, sort_keys=True) for value in items.values()],
        "loaded_at": [loaded_at] * len(items),
        "run_id": [run_id] * len(items),
    }
    staged = staging_name(mine)
    create_table_as(con, staged, ibis.memtable(_arrow(rows)), schema)
    live, new = quote(con, schema, table), quote(con, schema, staged)
    named = f"source = '{source}'"
    forget = [f"DELETE FROM {live} WHERE {named}"] if whole else []
    forget += [f"DELETE FROM {live} WHERE {named} AND item IN (SELECT item FROM {new})"] if not whole else []
    for item in [] if whole else dropped:
        forget.append(f"DELETE FROM {live} WHERE {named} AND item = {_text(item)}")
    return [*forget, f"INSERT INTO {live} SELECT * FROM {new}", f"DROP TABLE {new}"]


def _arrow(columns: dict[str, list]) -> pa.Table:
    """State rows as Arrow, typed even when there are none (pandas would make empty columns floats)."""
    return pa.table(columns, schema=STATE_SCHEMA.to_pyarrow())


def _text(value: str) -> str:
    """A SQL string literal (quotes doubled)."""
    return "'" + value.replace("'", "''") + "'"
