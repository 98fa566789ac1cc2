"""Atomic, idempotent, recorded materializations of Ibis expressions.

A ``table`` is built under a temporary name in the target schema, then swapped in
with one transaction (drop the old object, rename the new one), so a reader sees
the old table or the new one, never a half-built or missing one; a failed build
drops its temporary table and leaves the old one in place. A ``view`` is replaced
with ``CREATE OR REPLACE VIEW`` (inside the same kind of transaction when it
replaces a table). An ``incremental`` table adds only what is new to the existing
one (strategies in :mod:`millpond.warehouse.incremental`); it is built whole, by the
same swap, the first time and on a full refresh. Running the same materialization
twice leaves the same rows.
"""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from millpond.errors import MillpondError

if TYPE_CHECKING:
    import ibis.expr.types as ir
    from ibis.backends import BaseBackend

    from millpond.warehouse.incremental import Incremental

KINDS = ("table", "view", "incremental")
TEMP_PREFIX = "_mp_tmp_"


@dataclass
class Materialized:
    """What a materialization built; its ``repr`` is what a notebook shows."""

    name: str
    kind: str
    rows: int | None
    schema: dict[str, str] = field(repr=False)
    duration: float = field(repr=False)
    new_rows: int | None = field(default=None, repr=False)
    """For ``incremental``: the rows this build staged and applied (``None`` when built whole)."""
    strategy: str | None = field(default=None, repr=False)

    def __repr__(self) -> str:
        rows = "?" if self.rows is None else f"{self.rows:,}"
        text = f"Materialized {self.name} ({self.kind}): {rows} rows, {len(self.schema)} columns"
        if self.kind == "incremental":
            text += ", built whole" if self.new_rows is None else f", {self.new_rows:,} new rows by {self.strategy}"
        return text

    _repr_pretty_ = lambda self, p, cycle: p.text(repr(self))  # noqa: E731


def split_name(name: str) -> tuple[str, str]:
    """``"gold.fct_orders"`` to ``("gold", "fct_orders")``.

    >>> split_name("gold.fct_orders")
    ('gold', 'fct_orders')
    """
    parts = name.split(".")
    if len(parts) != 2 or not all(p.isidentifier() for p in parts):
        raise MillpondError(f"table name {name!r} must be of the form layer.table (e.g. gold.fct_orders)")
    return parts[0], parts[1]


def _quote(con: BaseBackend, *parts: str) -> str:
    import sqlglot as sg

    ident = [sg.to_identifier(p, quoted=True).sql(con.name) for p in parts]
    return ".".join(ident)


def existing_kind(con: BaseBackend, schema: str, table: str) -> str | None:
    """``"table"``, ``"view"`` or ``None`` for ``schema.table`` in the warehouse."""
    sql = (
        "SELECT table_type FROM information_schema.tables "
        f"WHERE table_schema = '{schema}' AND table_name = '{table}'"
    )
    rows = _fetch(con, sql)
    if not rows:
        return None
    return "view" if "VIEW" in str(rows[0][0]).upper() else "table"


def _fetch(con: BaseBackend, sql: str) -> list[tuple]:
    if con.name == "duckdb":
        return con.con.execute(sql).fetchall()
    if con.name == "postgres":
        with con.con.cursor() as cur:
            cur.execute(sql)
            return list(cur.fetchall())
    with con.raw_sql(sql) as cur:  # pragma: no cover - other engines
        return list(cur.fetchall())


def run_in_transaction(con: BaseBackend, statements: list[str]) -> None:
    """Run ``statements`` as one transaction on DuckDB or PostgreSQL."""
    if con.name == "duckdb":
        raw = con.con
        raw.execute("BEGIN TRANSACTION")
        try:
            for sql in statements:
                raw.execute(sql)
            raw.execute("COMMIT")
        except BaseException:
            raw.execute("ROLLBACK")
            raise
    elif con.name == "postgres":
        raw = con.con
        with raw.transaction(), raw.cursor() as cur:
            for sql in statements:
                cur.execute(sql)
    else:  # pragma: no cover - other engines arrive with their own issue
        for sql in statements:
            con.raw_sql(sql)


def ensure_schema(con: BaseBackend, schema: str) -> None:
    run_in_transaction(con, [f"CREATE SCHEMA IF NOT EXISTS {_quote(con, schema)}"])


def _drop_statement(con: BaseBackend, kind: str, schema: str, table: str) -> str:
    cascade = " CASCADE" if con.name == "postgres" else ""
    return f"DROP {kind.upper()} IF EXISTS {_quote(con, schema, table)}{cascade}"


def materialize(con: BaseBackend, expr: ir.Table, name: str, kind: str = "table", *,
                incremental: Incremental | None = None, full_refresh: bool = False) -> Materialized:
    """Build ``expr`` as ``name`` atomically and return what was built.

    Parameters
    ----------
    con
        An Ibis backend (DuckDB or PostgreSQL).
    expr
        The table expression to materialize.
    name
        ``layer.table``; the layer is a schema, created if missing.
    kind
        ``"table"``, ``"view"`` or ``"incremental"``.
    incremental
        For ``kind="incremental"``: the strategy and its columns, an
        :class:`~millpond.warehouse.incremental.Incremental`.
    full_refresh
        For ``kind="incremental"``: rebuild the table whole from ``expr``.

    Examples
    --------
    >>> import ibis
    >>> con = ibis.duckdb.connect()
    >>> t = ibis.memtable({"id": [1, 2, 3]})
    >>> materialize(con, t, "gold.numbers")
    Materialized gold.numbers (table): 3 rows, 1 columns
    >>> materialize(con, t, "gold.numbers")  # idempotent
    Materialized gold.numbers (table): 3 rows, 1 columns
    >>> materialize(con, con.table("numbers", database="gold").filter(lambda t: t.id > 1), "gold.big", kind="view")
    Materialized gold.big (view): 2 rows, 1 columns
    >>> from millpond.warehouse.incremental import Incremental
    >>> materialize(con, ibis.memtable({"id": [2, 3, 4]}), "gold.numbers", kind="incremental",
    ...             incremental=Incremental.of("append", watermark="id"))
    Materialized gold.numbers (incremental): 4 rows, 1 columns, 1 new rows by append
    """
    if kind not in KINDS:
        raise MillpondError(f"materialize {name}: unknown kind {kind!r} (choose from {', '.join(KINDS)})")
    if kind == "incremental" and incremental is None:
        raise MillpondError(f"materialize {name}: kind 'incremental' needs incremental=Incremental.of(strategy, ...)")
    schema, table = split_name(name)
    started = time.perf_counter()
    ensure_schema(con, schema)
    new_rows = None
    if kind == "incremental":
        from millpond.warehouse.incremental import apply_incremental, drop_stale_staging

        incremental.validate(name, list(expr.columns))
        drop_stale_staging(con, schema, table)
        if full_refresh or existing_kind(con, schema, table) != "table":
            _swap_in_table(con, expr, schema, table)
        else:
            new_rows = apply_incremental(con, expr, schema, table, incremental)
    elif kind == "table":
        _swap_in_table(con, expr, schema, table)
    else:
        _replace_view(con, expr, schema, table)
    built = con.table(table, database=schema)
    rows = int(built.count().execute())
    types = {col: str(dtype) for col, dtype in built.schema().items()}
    strategy = incremental.strategy if incremental is not None and kind == "incremental" else None
    return Materialized(name, kind, rows, types, time.perf_counter() - started, new_rows, strategy)


def _swap_in_table(con: BaseBackend, expr: ir.Table, schema: str, table: str) -> None:
    temp = f"{TEMP_PREFIX}{table}_{secrets.token_hex(4)}"
    try:
        con.create_table(temp, expr, database=schema)
        old = existing_kind(con, schema, table)
        statements = [_drop_statement(con, old, schema, table)] if old else []
        statements.append(f"ALTER TABLE {_quote(con, schema, temp)} RENAME TO {_quote(con, table)}")
        run_in_transaction(con, statements)
    except BaseException:
        try:
            run_in_transaction(con, [_drop_statement(con, "table", schema, temp)])
        except Exception:  # noqa: S110 - the original error matters more
            pass
        raise


def _replace_view(con: BaseBackend, expr: ir.Table, schema: str, table: str) -> None:
    import ibis.expr.operations as ops

    if expr.op().find(ops.InMemoryTable):
        raise MillpondError(
            f"materialize {schema}.{table}: a view cannot be built over in-memory data; use kind='table'"
        )
    query = con.compile(expr)
    old = existing_kind(con, schema, table)
    statements = [_drop_statement(con, old, schema, table)] if old == "table" else []
    statements.append(f"CREATE OR REPLACE VIEW {_quote(con, schema, table)} AS {query}")
    run_in_transaction(con, statements)


def drop_leftover_temporaries(con: BaseBackend, schema: str) -> list[str]:
    """Drop temporary tables a killed build left behind; returns their names."""
    rows = _fetch(
        con,
        "SELECT table_name FROM information_schema.tables "
        f"WHERE table_schema = '{schema}' AND table_name LIKE '{TEMP_PREFIX}%'",
    )
    names = [r[0] for r in rows]
    if names:
        run_in_transaction(con, [_drop_statement(con, "table", schema, n) for n in names])
    return names
