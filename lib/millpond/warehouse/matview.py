"""Materialized views: tables that keep their defining expression and what it read.

``materialize(con, expr, "gold.daily", kind="materialized_view", upstream_version=...)``
keeps, in the warehouse table ``_millpond.materialized_views`` and in the same
transaction as the rows, the view's compiled SQL, the version of each upstream table
(the Ibis ``DatabaseTable`` operations of ``expr``) and the view's row count and schema.
A build then:

- does nothing (``up to date``) when the definition, every upstream version and the
  view's own rows and schema are what was kept;
- otherwise refreshes **incrementally** when ``watermark`` names a column and the
  rule below holds, inserting only the rows past the upstream's previous maximum;
- otherwise rebuilds the table whole through the atomic swap (``refreshed whole``).

An upstream's version is, in order: its own refresh state when it is a materialized
view; ``upstream_version(name)`` (the stage context gives the latest recorded build
from the metadata store); else its row count and schema. Without ``upstream_version``
(no metadata store) the view always refreshes.

**The incremental rule.** The expression is row-wise over exactly one upstream table:
only selections, filters and column expressions (no join, aggregate, window, sort,
limit, distinct, set operation, subquery, random value or current time), so each
output row depends on one upstream row only; the ``watermark`` column is an upstream
column passed through (it may be renamed); and since the last refresh the upstream
only gained rows past its previous maximum of that column: the rows at or below it
still number exactly the rows it had then. Then the new output rows are exactly the
expression over the new upstream rows, so the incremental refresh equals a rebuild.
A ``group_by(...).aggregate(...)`` over such a row-wise expression (group keys plain
columns, any aggregates; ``watermark`` a column of its input) is refreshed by group:
the groups the new upstream rows touch are deleted and recomputed over all their rows.
An in-place update of old upstream rows is not seen by that count: an upstream that
updates rows is not append-only and its views should not name a ``watermark``.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable

import ibis
import ibis.expr.operations as ops

from millpond.errors import MillpondError
from millpond.warehouse.contracts import enforce_contract, key_checks_sql, violation_error
from millpond.warehouse.evolution import sql_type
from millpond.warehouse.incremental import drop_stale_staging, staging_name
from millpond.warehouse.sql import existing_kind, fetch, quote, run_in_transaction
from millpond.warehouse.swap import swap_in_table

if TYPE_CHECKING:
    import ibis.expr.types as ir
    from ibis.backends import BaseBackend

    from millpond.settings.tables import Contract

STATE_SCHEMA, STATE_TABLE = "_millpond", "materialized_views"
STATE_COLUMNS = {
    "name": "string",
    "definition": "string",
    "upstream": "string",
    "watermark": "string",
    "upstream_max": "string",
    "upstream_rows": "int64",
    "view_shape": "string",
    "refreshes": "int64",
}
_ROW_WISE_RELATIONS = (ops.DatabaseTable, ops.Project, ops.Filter)
_NOT_GROUP_WISE_VALUES = (
    ops.Analytic,
    ops.WindowFunction,
    ops.ScalarSubquery,
    ops.InSubquery,
    ops.ExistsSubquery,
    ops.RandomScalar,
    ops.RandomUUID,
    ops.TimestampNow,
    ops.DateNow,
)
_NOT_ROW_WISE_VALUES = (ops.Reduction, *_NOT_GROUP_WISE_VALUES)


def upstream_tables(con: BaseBackend, expr: ir.Table) -> list[str]:
    """The ``schema.table`` names ``expr`` reads, sorted.

    >>> con = ibis.duckdb.connect()
    >>> t = con.create_table("t", ibis.memtable({"id": [1]}))
    >>> upstream_tables(con, t.filter(t.id > 0))
    ['main.t']
    """
    names = set()
    for table in expr.op().find(ops.DatabaseTable):
        names.add(f"{table.namespace.database or con.current_database}.{table.name}")
    return sorted(names)


def incremental_source(expr: ir.Table, watermark: str | None) -> tuple[ops.DatabaseTable, str] | None:
    """The one upstream table and its watermark column when ``expr`` follows the incremental
    rule (see the module docstring), else ``None``.

    >>> con = ibis.duckdb.connect()
    >>> t = con.create_table("t", ibis.memtable({"id": [1], "v": [2.0]}))
    >>> source = incremental_source(t.filter(t.v > 0).select(seq=t.id, w=t.v * 2), "seq")
    >>> source[0].name, source[1]
    ('t', 'id')
    >>> incremental_source(t.mutate(n=t.count()), "id") is None, incremental_source(t, None) is None
    (True, True)
    """
    op = expr.op()
    if watermark is None or watermark not in expr.columns:
        return None
    if any(not isinstance(r, _ROW_WISE_RELATIONS) for r in op.find(ops.Relation)) or op.find(_NOT_ROW_WISE_VALUES):
        return None
    if len(op.find(ops.DatabaseTable)) != 1:
        return None
    node, column = op, watermark
    while not isinstance(node, ops.DatabaseTable):
        if isinstance(node, ops.Project):
            value = node.values.get(column)
            if not isinstance(value, ops.Field):
                return None
            node, column = value.rel, value.name
        elif isinstance(node, ops.Filter):
            node = node.parent
        else:
            return None
    return node, column


@dataclass(frozen=True)
class IncrementalRefresh:
    """How a view can be refreshed incrementally: along ``column`` of its one ``upstream``;
    for an aggregate, by recomputing the groups (``(output name, input column)`` pairs)
    the new upstream rows touch."""

    upstream: ops.DatabaseTable
    column: str
    groups: tuple[tuple[str, str], ...] = ()


def incremental_refresh(expr: ir.Table, watermark: str | None) -> IncrementalRefresh | None:
    """The incremental refresh ``expr`` allows along ``watermark``, or ``None`` (rebuild whole).

    >>> con = ibis.duckdb.connect()
    >>> t = con.create_table("t", ibis.memtable({"id": [1], "shop": ["a"], "v": [2.0]}))
    >>> incremental_refresh(t.filter(t.v > 0).group_by("shop").agg(total=t.v.sum()), "id").groups
    (('shop', 'shop'),)
    >>> incremental_refresh(t.group_by(s=t.shop.upper()).agg(total=t.v.sum()), "id") is None  # a computed key
    True
    """
    op = expr.op()
    if not isinstance(op, ops.Aggregate):
        source = incremental_source(expr, watermark)
        return IncrementalRefresh(*source) if source else None
    if not op.groups or not all(isinstance(v, ops.Field) for v in op.groups.values()):
        return None
    if any(v.find(_NOT_GROUP_WISE_VALUES) for v in op.metrics.values()):
        return None
    source = incremental_source(op.parent.to_expr(), watermark)
    groups = tuple((out, v.name) for out, v in op.groups.items())
    return IncrementalRefresh(*source, groups) if source else None


def refresh_materialized_view(
    con: BaseBackend,
    expr: ir.Table,
    schema: str,
    table: str,
    *,
    upstream_version: Callable[[str], str | None] | None = None,
    watermark: str | None = None,
    contract: Contract | None = None,
) -> tuple[int | None, str]:
    """Bring the materialized view ``schema.table`` up to date; returns (new rows, what it did).

    Examples
    --------
    >>> con = ibis.duckdb.connect()
    >>> src = con.create_table("src", ibis.memtable({"id": [1, 2, 3]}))
    >>> never_rebuilt = lambda name: "v1"
    >>> view = src.filter(src.id > 1)
    >>> refresh_materialized_view(con, view, "main", "big", upstream_version=never_rebuilt, watermark="id")
    (None, 'refreshed whole')
    >>> refresh_materialized_view(con, view, "main", "big", upstream_version=never_rebuilt, watermark="id")
    (None, 'up to date')
    >>> con.insert("src", ibis.memtable({"id": [4]}))
    >>> refresh_materialized_view(con, view, "main", "big", upstream_version=lambda name: "v2", watermark="id")
    (1, 'refreshed incrementally')
    """

    name = f"{schema}.{table}"
    if expr.op().find(ops.InMemoryTable):
        raise MillpondError(
            f"materialize {name}: a materialized view cannot be built over in-memory data; use kind='table'"
        )
    inputs = expr.op().parent.schema if isinstance(expr.op(), ops.Aggregate) else expr.schema()
    if watermark is not None and watermark not in inputs:
        raise MillpondError(f"materialized view {name}: no column {watermark} (columns: {', '.join(inputs)})")
    _ensure_state_table(con)
    drop_stale_staging(con, schema, table)  # what a killed refresh left behind (its transaction never committed)
    definition = con.compile(expr)
    versions = _versions(con, expr, upstream_version)
    state = _read_state(con, name)
    exists = existing_kind(con, schema, table) == "table"
    shape = _shape(con.table(table, database=schema)) if exists else None
    same = state is not None and exists and state["definition"] == definition and state["view_shape"] == shape
    if same and versions is not None and json.loads(state["upstream"]) == versions:
        return None, "up to date"
    plan = incremental_refresh(expr, watermark)
    stats = _upstream_stats(con, plan) if plan else (None, None)
    refreshes = (state["refreshes"] if state else 0) + 1
    if same and plan and state["watermark"] == watermark and state["upstream_max"] is not None:
        base = con.table(plan.upstream.name, database=plan.upstream.namespace.database)
        edge = ibis.literal(state["upstream_max"]).cast(base.schema()[plan.column])
        if int(base.filter(base[plan.column] <= edge).count().execute()) == state["upstream_rows"]:
            new = _apply(
                con,
                expr,
                plan,
                watermark,
                edge,
                schema,
                table,
                contract,
                lambda rows: _state_statements(con, name, definition, versions, watermark, stats, rows, refreshes),
            )
            return new, "refreshed incrementally"
    verify = (lambda temp: enforce_contract(name, contract, temp)) if contract else None  # noqa: E731
    swap_in_table(
        con,
        expr,
        schema,
        table,
        verify=verify,
        also=lambda built: _state_statements(
            con, name, definition, versions, watermark, stats, _shape(built), refreshes
        ),
    )
    return None, "refreshed whole"


def _apply(
    con: BaseBackend,
    expr: ir.Table,
    plan: IncrementalRefresh,
    watermark: str,
    edge: ir.Value,
    schema: str,
    table: str,
    contract: Contract | None,
    state: Callable[[str], list[str]],
) -> int:
    """Stage the rows past ``edge`` (rows) or the recomputed groups they touch (aggregate),
    check them, then delete the touched groups, insert and write the state in one transaction."""

    target = con.table(table, database=schema)
    temps: list[str] = []
    statements: list[str] = []
    deleted = 0
    try:
        if plan.groups:
            op = expr.op()
            parent = op.parent.to_expr()
            edge = edge.cast(parent.schema()[watermark])
            keys = parent.filter(parent[watermark] > edge).select(**{o: parent[i] for o, i in plan.groups}).distinct()
            temps.append(staging_name(table))
            touched = con.create_table(temps[-1], keys, database=schema)
            narrowed = parent.semi_join(touched, [parent[i].identical_to(touched[o]) for o, i in plan.groups])
            rows = op.replace({op.parent: narrowed.op()}).to_expr()
            deleted = int(
                target.semi_join(touched, [target[o].identical_to(touched[o]) for o, _ in plan.groups])
                .count()
                .execute()
            )
            match = " AND ".join(f"s.{quote(con, o)} IS NOT DISTINCT FROM t.{quote(con, o)}" for o, _ in plan.groups)
            statements.append(
                f"DELETE FROM {quote(con, schema, table)} AS t WHERE EXISTS "
                f"(SELECT 1 FROM {quote(con, schema, temps[-1])} AS s WHERE {match})"
            )
        else:
            rows = expr.filter(expr[watermark] > edge.cast(expr.schema()[watermark]))
        temps.append(staging_name(table))
        staged = con.create_table(temps[-1], rows, database=schema)
        enforce_contract(f"{schema}.{table}", contract, staged, check_key=False)
        count = int(staged.count().execute())
        columns = ", ".join(quote(con, c) for c in target.columns)
        statements.append(
            f"INSERT INTO {quote(con, schema, table)} ({columns}) SELECT {columns} FROM {quote(con, schema, temps[-1])}"
        )
        statements += [f"DROP TABLE {quote(con, schema, t)}" for t in temps]
        statements += state(_shape_after(target, count - deleted))
        checks = key_checks_sql(con, contract, schema, table)
        run_in_transaction(
            con, statements, checks=checks, failure=lambda problems: violation_error(f"{schema}.{table}", problems)
        )
        temps = []
        return count
    finally:
        if temps:
            try:
                run_in_transaction(con, [f"DROP TABLE IF EXISTS {quote(con, schema, t)}" for t in temps])
            except Exception:  # noqa: S110 - the original error matters more
                pass


def _shape(table: ir.Table) -> str:
    """The view's row count and schema: a build of another kind over the same name changes it."""
    return json.dumps([int(table.count().execute()), {c: str(t) for c, t in table.schema().items()}])


def _shape_after(table: ir.Table, added: int) -> str:
    rows, schema = json.loads(_shape(table))
    return json.dumps([rows + added, schema])


def _versions(
    con: BaseBackend, expr: ir.Table, upstream_version: Callable[[str], str | None] | None
) -> dict[str, str] | None:
    """``{upstream: version}``, or ``None`` when versions are unknown (no metadata store)."""
    if upstream_version is None:
        return None
    versions = {}
    for name in upstream_tables(con, expr):
        view = _read_state(con, name)
        if view is not None:
            versions[name] = "view " + hashlib.sha256(json.dumps(view, sort_keys=True).encode()).hexdigest()[:16]
            continue
        schema, table = name.split(".", 1)
        versions[name] = upstream_version(name) or "shape " + _shape(con.table(table, database=schema))
    return versions


def _upstream_stats(con: BaseBackend, plan: IncrementalRefresh) -> tuple[str | None, int]:
    """The upstream's maximum of the watermark column (as text) and its row count."""
    column = plan.column
    base = con.table(plan.upstream.name, database=plan.upstream.namespace.database)
    row = base.aggregate(top=base[column].max().cast("string"), n=base.count()).to_pyarrow().to_pylist()[0]
    return row["top"], int(row["n"])


def _ensure_state_table(con: BaseBackend) -> None:
    columns = ", ".join(f"{quote(con, c)} {sql_type(con, ibis.dtype(t))}" for c, t in STATE_COLUMNS.items())
    run_in_transaction(
        con,
        [
            f"CREATE SCHEMA IF NOT EXISTS {quote(con, STATE_SCHEMA)}",
            f"CREATE TABLE IF NOT EXISTS {quote(con, STATE_SCHEMA, STATE_TABLE)} ({columns})",
        ],
    )


def _read_state(con: BaseBackend, name: str) -> dict[str, Any] | None:
    if (
        fetch(
            con,
            "SELECT 1 FROM information_schema.tables "
            f"WHERE table_schema = '{STATE_SCHEMA}' AND table_name = '{STATE_TABLE}'",
        )
        == []
    ):
        return None
    rows = fetch(
        con,
        f"SELECT {', '.join(quote(con, c) for c in STATE_COLUMNS)} "
        f"FROM {quote(con, STATE_SCHEMA, STATE_TABLE)} WHERE name = {_literal(con, name)}",
    )
    return dict(zip(STATE_COLUMNS, rows[0])) if rows else None


def _state_statements(
    con: BaseBackend,
    name: str,
    definition: str,
    versions: dict[str, str] | None,
    watermark: str | None,
    stats: tuple[str | None, int | None],
    shape: str,
    refreshes: int,
) -> list[str]:

    target = quote(con, STATE_SCHEMA, STATE_TABLE)
    values = [name, definition, json.dumps(versions), watermark, stats[0], stats[1], shape, refreshes]
    return [
        f"DELETE FROM {target} WHERE name = {_literal(con, name)}",
        f"INSERT INTO {target} VALUES ({', '.join(_literal(con, v) for v in values)})",
    ]


def _literal(con: BaseBackend, value: Any) -> str:
    import sqlglot as sg

    return sg.exp.convert(value).sql(dialect=con.dialect)
