"""Schema evolution: what a table does when its new rows gain, lose or retype columns.

The new expression's schema is compared with the existing table's, column by column
(:func:`compare_schemas`); nullability is ignored (millpond's tables carry no NOT NULL
constraints, so a nullable column always fits). Each difference is one of:

- ``added``: a column the table lacks;
- ``dropped``: a column of the table the new rows lack (breaking);
- ``widened``: the table's type must grow to hold the new values (int32 -> int64,
  float32 -> float64, an integer into a decimal with enough integer digits, a
  decimal with no fewer integer digits and no smaller scale, or any string);
- ``changed``: anything else, a narrowing or another kind of type (breaking).

A new type that fits in the table's column (int32 values into an int64 column) is no
difference: the values are cast up and the table keeps its type.

Each table's ``on_schema_change`` policy decides (:data:`POLICIES`):

========================  =====================================================
``fail``                  refuse in one line naming each column, old -> new type
``append_new_columns``    add new columns, widen types; a dropped column stays,
                          NULL in new rows; a ``changed`` type fails
``sync_all_columns``      the same, and drop the columns the new rows lost: like
                          dbt, declaring it *is* accepting drops; ``changed`` fails
``quarantine``            the table's schema is frozen: rows whose values do not
                          fit it (a value that does not convert to the column's
                          type and back unchanged, or a non-null value in a column
                          the table lacks) go to ``quarantine.<table>``, once
========================  =====================================================

An ``incremental`` table defaults to ``fail`` and fails on *any* difference. A
``table`` (rebuilt whole) is checked only when it declares a policy; then added and
widened columns are free and ``fail`` refuses only breaking changes. ``--full-refresh``
accepts everything. All DDL (``ALTER TABLE ... ADD/ALTER/DROP COLUMN``) runs in the
same transaction as the rows, so a failure leaves the table as it was.
"""

from __future__ import annotations

import datetime as dt_
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import ibis

from millpond.engines import described_table, engine_for
from millpond.errors import MillpondError
from millpond.quality.quarantine import quarantine_name, quarantine_table
from millpond.warehouse.incremental_strategies import staging_name
from millpond.warehouse.sql import ensure_schema, existing_kind, quote, run_in_transaction, split_name
from millpond.warehouse.swap import swap_in_table

if TYPE_CHECKING:
    import ibis.expr.datatypes as dt
    import ibis.expr.types as ir
    from ibis.backends import BaseBackend

POLICIES = ("fail", "append_new_columns", "sync_all_columns", "quarantine")
HELD_REASON = "reason"
HELD_CHECK = "on_schema_change"


def widens(old: dt.DataType, new: dt.DataType) -> bool:
    """Whether every value of type ``old`` is a value of type ``new`` (nullability aside).

    >>> import ibis.expr.datatypes as dt
    >>> widens(dt.int32, dt.int64), widens(dt.int64, dt.int32), widens(dt.int32, dt.Decimal(12, 2))
    (True, False, True)
    >>> widens(dt.Decimal(10, 2), dt.Decimal(12, 3)), widens(dt.Decimal(10, 2), dt.Decimal(10, 3))
    (True, False)
    """
    old, new = old.copy(nullable=True), new.copy(nullable=True)
    if old == new or (old.is_string() and new.is_string()):
        return True
    if old.is_integer() and new.is_integer():
        return new.bounds.lower <= old.bounds.lower and new.bounds.upper >= old.bounds.upper
    if old.is_floating() and new.is_floating():
        return new.nbytes >= old.nbytes
    if old.is_integer() and new.is_decimal() and new.precision is not None:
        return new.precision - (new.scale or 0) >= len(str(old.bounds.upper))
    if old.is_decimal() and new.is_decimal() and None not in (old.precision, new.precision):
        old_scale, new_scale = old.scale or 0, new.scale or 0
        return new_scale >= old_scale and new.precision - new_scale >= old.precision - old_scale
    if old.is_timestamp() and new.is_timestamp():
        return old.timezone == new.timezone  # a scale is no schema change (as before evolution existed)
    return False


@dataclass(frozen=True)
class ColumnChange:
    """One difference between a table's column and the new rows' column."""

    column: str
    change: str
    """``added``, ``dropped``, ``widened`` or ``changed``."""
    old: dt.DataType | None
    new: dt.DataType | None

    @property
    def breaking(self) -> bool:
        return self.change in ("dropped", "changed")

    def __str__(self) -> str:
        if self.change == "added":
            return f"unexpected {self.column} ({self.new})"
        if self.change == "dropped":
            return f"missing {self.column} ({self.old})"
        return f"{self.column} is {self.new} but {self.old} in the table"


def compare_schemas(old: Any, new: Any) -> list[ColumnChange]:
    """The differences between a table's schema ``old`` and new rows' schema ``new``.

    >>> import ibis
    >>> [str(c) for c in compare_schemas(ibis.schema({"id": "int32", "v": "string"}),
    ...                                  ibis.schema({"id": "int64", "w": "float64"}))]
    ['id is int64 but int32 in the table', 'missing v (string)', 'unexpected w (float64)']
    """
    changes = []
    for column, have in old.items():
        if column not in new:
            changes.append(ColumnChange(column, "dropped", have, None))
        elif not widens(new[column], have):
            kind = "widened" if widens(have, new[column]) else "changed"
            changes.append(ColumnChange(column, kind, have, new[column]))
    changes += [ColumnChange(c, "added", None, t) for c, t in new.items() if c not in old]
    return changes


def check_policy(policy: str | None, name: str) -> str | None:
    if policy is not None and policy not in POLICIES:
        raise MillpondError(f"{name}: unknown on_schema_change {policy!r} (choose from {', '.join(POLICIES)})")
    return policy


@dataclass
class SchemaPlan:
    """How new rows go into an existing table: its columns afterwards and the DDL to get there."""

    name: str
    policy: str
    changes: list[ColumnChange]
    columns: dict[str, dt.DataType]
    """The table's columns and types once the change is applied, in order."""
    ddl: list[str]

    def conform(self, expr: ir.Table) -> ir.Table:
        """``expr`` with exactly the table's columns: cast to their types, NULL where missing."""
        return expr.select(
            *[
                (expr[c] if expr.schema()[c].copy(nullable=True) == t.copy(nullable=True) else expr[c].cast(t)).name(c)
                if c in expr.columns
                else ibis.null(t).name(c)
                for c, t in self.columns.items()
            ]
        )


def plan_schema_change(
    con: BaseBackend, name: str, target: ir.Table, expr: ir.Table, policy: str | None, *, incremental: bool
) -> SchemaPlan:
    """The plan for putting ``expr``'s rows into ``target`` under ``policy``, or a one-line error.

    ``incremental`` tables apply the DDL to the existing table; a rebuilt ``table``
    only needs the columns (its DDL is empty).
    """
    policy = check_policy(policy, name) or "fail"
    old, new = target.schema(), expr.schema()
    changes = compare_schemas(old, new)
    if policy == "quarantine":
        return SchemaPlan(name, policy, changes, dict(old.items()), [])
    where = f"incremental {name}" if incremental else f"materialize {name}"
    refused = [c for c in changes if c.change == "changed" or (c.breaking and policy == "fail")]
    if incremental and policy == "fail":
        refused = changes
    if refused:
        fix = "set on_schema_change, " if policy == "fail" else f"on_schema_change={policy} does not narrow types; "
        raise MillpondError(
            f"{where}: the new rows do not fit the table ({'; '.join(map(str, refused))}); "
            f"change them, {fix}or rebuild it with --full-refresh {name}"
        )
    by_column = {c.column: c for c in changes}
    order = (
        [*old.names, *(c for c in new.names if c not in old)]
        if incremental
        else [*new.names, *(c for c in old.names if c not in new)]
    )
    columns: dict[str, dt.DataType] = {}
    for column in order:
        change = by_column.get(column)
        if change is None:
            columns[column] = old[column]
        elif change.change in ("added", "widened"):
            columns[column] = change.new
        elif policy == "append_new_columns":  # dropped: kept, NULL in the new rows
            columns[column] = change.old
    ddl: list[str] = []
    if incremental:
        schema, table = split_name(name)
        target_sql = quote(con, schema, table)
        for change in changes:
            column, type_sql = quote(con, change.column), sql_type(con, change.new or change.old)
            if change.change == "added":
                ddl.append(f"ALTER TABLE {target_sql} ADD COLUMN {column} {type_sql}")
            elif change.change == "widened":
                ddl.append(f"ALTER TABLE {target_sql} ALTER COLUMN {column} TYPE {type_sql}")
            elif change.change == "dropped" and policy == "sync_all_columns":
                ddl.append(f"ALTER TABLE {target_sql} DROP COLUMN {column}")
    return SchemaPlan(name, policy, changes, columns, ddl)


def sql_type(con: BaseBackend, dtype: dt.DataType) -> str:
    return con.compiler.type_mapper.to_string(dtype.copy(nullable=True))


# -- quarantine: rows that do not fit the table ----------------------------------
@dataclass
class Held:
    """Rows held back by the ``quarantine`` policy, staged, and the statements that file them."""

    staging: str
    rows: int
    statements: list[str]


def misfit_reason(con: BaseBackend, expr: ir.Table, columns: dict[str, dt.DataType]) -> ir.StringValue:
    """Why a row of ``expr`` does not fit a table of ``columns`` (its first misfit), NULL when it fits.

    >>> import ibis
    >>> con = ibis.duckdb.connect()
    >>> t = ibis.memtable({"id": ["1", "x", "007", None]})
    >>> con.to_pyarrow(t.mutate(why=misfit_reason(con, t, {"id": ibis.dtype("int64")})))["why"].to_pylist()
    [None, 'id: does not fit int64', 'id: does not fit int64', None]
    """
    cases = []
    for column, actual in expr.schema().items():
        value = expr[column]
        if column not in columns:
            cases.append((value.notnull(), f"{column}: not a column of the table"))
        elif actual.copy(nullable=True) != columns[column].copy(nullable=True):
            cases.append(
                (
                    value.notnull() & ~_converts_back(con, value, columns[column]),
                    f"{column}: does not fit {columns[column].copy(nullable=True)}",
                )
            )
    if not cases:
        return ibis.null("string")
    return ibis.cases(*cases, else_=ibis.null("string"))


def _converts_back(con: BaseBackend, value: ir.Column, target: dt.DataType) -> ir.BooleanValue:
    """Whether a non-null value converts to ``target`` and back to its own type unchanged
    (``1.5`` does not fit an integer, nor ``'007'``): the same rule on every engine."""
    return engine_for(con).converts_back(value, target)


def hold_misfits(
    con: BaseBackend, expr: ir.Table, columns: dict[str, dt.DataType], schema: str, table: str, run_id: str | None
) -> tuple[ir.Table, Held | None]:
    """Split ``expr`` into the rows that fit ``columns`` and the others, staged for ``quarantine.<table>``.

    Held rows keep every column as text, with ``reason``, ``check`` (``on_schema_change``),
    ``_run_id`` and ``_quarantined_at``. A row already held with the same values and
    reason is not held again, so rerunning holds nothing new. Returns the fitting rows
    and the :class:`Held` rows (``None`` when no column can misfit).
    """
    reason = misfit_reason(con, expr, columns)
    if isinstance(reason.op(), ibis.expr.operations.Literal):
        return expr, None
    checked = expr.mutate(_mp_reason=reason)
    raw = [checked[c].cast("string").name(c) for c in expr.columns]
    rejected = checked.filter(checked._mp_reason.notnull()).select(
        *raw, **{HELD_REASON: checked._mp_reason, "check": ibis.literal(HELD_CHECK)}
    )
    now = dt_.datetime.now(dt_.timezone.utc).replace(tzinfo=None, microsecond=0)
    held = quarantine_table(rejected, run_id=run_id, at=now)
    qschema, qtable = split_name(quarantine_name(f"{schema}.{table}"))
    ensure_schema(con, qschema)
    filed = con.table(qtable, database=qschema) if existing_kind(con, qschema, qtable) == "table" else None
    if filed is not None and set(expr.columns) | {HELD_REASON} <= set(filed.columns):
        same = [held[c].identical_to(filed[c].cast("string")) for c in [*expr.columns, HELD_REASON]]
        held = held.anti_join(filed, same)
    staging = staging_name(table)
    staged = con.create_table(staging, held, database=schema)
    source, target = quote(con, schema, staging), quote(con, qschema, qtable)
    if filed is None:
        statements = [f"CREATE TABLE {target} AS SELECT * FROM {source}"]
    else:
        text = sql_type(con, ibis.dtype("string"))
        statements = [
            f"ALTER TABLE {target} ADD COLUMN {quote(con, c)} {text}" for c in staged.columns if c not in filed.columns
        ]
        names = ", ".join(quote(con, c) for c in staged.columns)
        statements.append(f"INSERT INTO {target} ({names}) SELECT {names} FROM {source}")
    fitting = checked.filter(checked._mp_reason.isnull()).drop("_mp_reason")
    return fitting, Held(staging, int(staged.count().execute()), statements)


def rebuild(
    con: BaseBackend,
    expr: ir.Table,
    schema: str,
    table: str,
    policy: str | None,
    *,
    full_refresh: bool = False,
    run_id: str | None = None,
    verify: Any = None,
) -> int | None:
    """Rebuild ``schema.table`` whole from ``expr`` under its schema ``policy`` (kind ``table``).

    Without a policy, on the first build or a full refresh, ``expr`` is swapped in as it is.
    Otherwise breaking changes are refused (see the module docstring), types that fit
    keep the table's wider type, ``append_new_columns`` keeps dropped columns as NULL and
    ``quarantine`` keeps the table's schema, filing misfit rows in the swap's transaction.
    Returns the rows held in quarantine (``None`` without that policy).

    >>> import ibis
    >>> con = ibis.duckdb.connect()
    >>> _ = con.create_table("t", ibis.memtable({"id": [1], "v": ["a"]}))
    >>> rebuild(con, ibis.memtable({"id": [2]}), "main", "t", "append_new_columns")
    >>> con.table("t").to_pyarrow().to_pylist()
    [{'id': 2, 'v': None}]
    """
    if policy is None or full_refresh or existing_kind(con, schema, table) != "table":
        swap_in_table(con, expr, schema, table, verify=verify)
        return None
    plan = plan_schema_change(
        con, f"{schema}.{table}", described_table(con, table, schema), expr, policy, incremental=False
    )
    held = None
    if plan.policy == "quarantine":
        expr, held = hold_misfits(con, expr, plan.columns, schema, table, run_id)
    also = [*held.statements, f"DROP TABLE {quote(con, schema, held.staging)}"] if held else []
    try:
        swap_in_table(con, plan.conform(expr), schema, table, verify=verify, also=lambda built: also)
    except BaseException:
        if held:
            try:
                run_in_transaction(con, [f"DROP TABLE IF EXISTS {quote(con, schema, held.staging)}"])
            except Exception:  # noqa: S110 - the original error matters more
                pass
        raise
    return held.rows if held else (0 if plan.policy == "quarantine" else None)
