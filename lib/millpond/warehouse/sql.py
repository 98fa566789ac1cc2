"""The SQL primitives every warehouse module builds on: names, quoting, queries, transactions.

The bottom of the warehouse package: it imports only the engine layer, and every module
that writes to the warehouse (materializations, versions, schema evolution, incremental
strategies, materialized views, audits, the lake) imports it, never each other's privates.

>>> import ibis
>>> con = ibis.duckdb.connect()
>>> ensure_schema(con, "gold")
>>> run_in_transaction(con, ["CREATE TABLE gold.t AS SELECT 1 AS id"])
>>> existing_kind(con, "gold", "t"), fetch(con, "SELECT id FROM gold.t"), quote(con, "gold", "t")
('table', [(1,)], '"gold"."t"')
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from millpond.engines import engine_for
from millpond.environment import active_env, env_schema
from millpond.errors import MillpondError

if TYPE_CHECKING:
    from ibis.backends import BaseBackend

TEMP_PREFIX = "_mp_tmp_"
"""Tables under construction (a build's temporary table, an incremental build's staging)."""


def split_name(name: str, env: str | None = None) -> tuple[str, str]:
    """``"gold.fct_orders"`` to where the table is in the warehouse: ``("gold",
    "fct_orders")`` in production, ``("gold__alice", "fct_orders")`` in environment
    ``alice`` (``env``, by default this process's :func:`~millpond.environment.active_env`).
    Every name the warehouse package sends to the engine goes through here.

    >>> split_name("gold.fct_orders", "prod"), split_name("gold.fct_orders", "alice")
    (('gold', 'fct_orders'), ('gold__alice', 'fct_orders'))
    """
    parts = name.split(".")
    if len(parts) != 2 or not all(p.isidentifier() for p in parts):
        raise MillpondError(f"table name {name!r} must be of the form layer.table (e.g. gold.fct_orders)")
    return env_schema(parts[0], env or active_env()), parts[1]


def quote(con: BaseBackend, *parts: str) -> str:
    """``"schema"."table"`` quoted in ``con``'s dialect."""
    return engine_for(con).quote(*parts)


def existing_kind(con: BaseBackend, schema: str, table: str) -> str | None:
    """``"table"``, ``"view"`` or ``None`` for ``schema.table`` in the warehouse."""
    return engine_for(con).existing_kind(schema, table)


def fetch(con: BaseBackend, sql: str) -> list[tuple]:
    """The rows of ``sql``."""
    return engine_for(con).fetch(sql)


def run_in_transaction(
    con: BaseBackend,
    statements: list[str],
    *,
    checks: Sequence[tuple[str, str]] = (),
    failure=None,
    guard: Callable[[Callable[[str], Any]], None] | None = None,
) -> None:
    """Run ``statements`` as one transaction (in order, where the engine has none).

    ``checks`` are ``(count query, message)`` pairs run after the statements, before the
    commit: a non-zero count rolls everything back and raises ``failure(messages)``
    (each message formatted with its count). ``guard(fetch_count)`` runs after them, before
    the commit too, and rolls everything back by raising (a volume guard: its count of rows).
    """

    def verify(fetch_count) -> None:
        problems = [message.format(n) for sql, message in checks if (n := fetch_count(sql))]
        if problems:
            raise failure(problems) if failure else MillpondError("; ".join(problems))
        if guard is not None:
            guard(fetch_count)

    engine_for(con).run_in_transaction(statements, verify if checks or guard else None)


def ensure_schema(con: BaseBackend, schema: str) -> None:
    """Create ``schema`` unless it exists."""
    run_in_transaction(con, [f"CREATE SCHEMA IF NOT EXISTS {quote(con, schema)}"])


def drop_statement(con: BaseBackend, kind: str, schema: str, table: str) -> str:
    """``DROP TABLE|VIEW IF EXISTS schema.table`` as the engine needs it."""
    return engine_for(con).drop_statement(kind, schema, table)
