"""Which source columns decide the *rows* of a table: filters, join keys and groupings.

Value lineage (:mod:`millpond.lineage.columns`) says where each column's values come
from. A column used only in a ``WHERE``, a join condition, a ``GROUP BY``, a ``HAVING``,
a ``QUALIFY``, the ``ORDER BY`` of a ``LIMIT`` or an aggregate's ``FILTER (WHERE ...)``
(which :mod:`millpond.lineage.columns` moves to the ``WHERE``) carries no value into the
table, yet changing it changes which rows the table holds, so every column of the table. Impact
analysis needs both (:meth:`millpond.lineage.graph.LineageGraph.affected`).

:func:`row_sources` walks every scope of an already qualified query (the CTEs and
subqueries included: a row dropped inside one never reaches the output) and resolves
each such column to the source tables' columns, through the derived tables' select
expressions. It errs on the side of *more*: a filter inside a scalar subquery changes
values, not rows, but is listed too, since it affects the table all the same.

>>> from sqlglot import parse_one
>>> from sqlglot.optimizer.qualify import qualify
>>> sql = ('WITH c AS (SELECT o.id, o.amount FROM silver.o AS o WHERE o.status = 1) '
...        'SELECT c.id, SUM(c.amount) AS total FROM c JOIN silver.p AS p ON c.id = p.order_id GROUP BY c.id')
>>> schema = {"silver": {"o": {"id": "INT", "amount": "INT", "status": "INT"}, "p": {"order_id": "INT"}}}
>>> sorted(map(str, row_sources(qualify(parse_one(sql), schema=schema))))
['silver.o.id', 'silver.o.status', 'silver.p.order_id']
"""

from __future__ import annotations

from collections.abc import Callable

from sqlglot import exp
from sqlglot.optimizer.scope import Scope, ScopeType, build_scope

from millpond.lineage.refs import ColumnRef

__all__ = ["row_sources"]

_ROW_CLAUSES = ("where", "group", "having", "qualify")


def row_sources(expression: exp.Expr, table_name: Callable[[exp.Table], str] | None = None) -> frozenset[ColumnRef]:
    """The source columns that decide which rows ``expression`` (qualified) returns.

    ``table_name`` turns a source table into its name (default ``db.table``).
    """
    name_of = table_name or (lambda t: f"{t.db}.{t.name}" if t.db else t.name)
    root = build_scope(expression)
    if root is None:
        return frozenset()
    found: set[ColumnRef] = set()
    for scope in root.traverse():
        columns = _deciding_columns(scope.expression)
        if scope.scope_type == ScopeType.SUBQUERY and _in_deciding_clause(scope.expression):
            # `x IN (SELECT k ...)`, `EXISTS (...)`: what the subquery selects picks the outer rows
            columns += [c for projection in scope.expression.expressions for c in projection.find_all(exp.Column)]
        for column in columns:
            found |= _resolve(scope, column, name_of, set())
    return frozenset(found)


def _in_deciding_clause(select: exp.Expr) -> bool:
    """Whether a subquery sits in a row-picking clause (or a join condition) of the SELECT around it."""
    node = select
    while node.parent is not None and not isinstance(node.parent, exp.Select):
        node = node.parent
    return node.parent is not None and (node.arg_key in _ROW_CLAUSES or isinstance(node, exp.Join))


def _deciding_columns(select: exp.Expr) -> list[exp.Column]:
    """Columns in the clauses of this SELECT (not of nested ones) that pick or group rows."""
    if not isinstance(select, exp.Select):
        return []
    parts: list[exp.Expr] = [select.args[key] for key in _ROW_CLAUSES if select.args.get(key) is not None]
    for join in select.args.get("joins") or []:  # qualifying turned USING into ON
        if join.args.get("on") is not None:
            parts.append(join.args["on"])
    if select.args.get("limit") is not None or select.args.get("offset") is not None:
        if select.args.get("order") is not None:
            parts.append(select.args["order"])
    columns: list[exp.Column] = []
    for part in parts:
        columns += [c for c in part.find_all(exp.Column) if _own(c, select)]
    return columns


def _own(column: exp.Column, select: exp.Select) -> bool:
    """Whether ``column`` belongs to ``select`` itself, not to a subquery inside it
    (subqueries are scopes of their own and are walked separately)."""
    parent = column.parent
    while parent is not None and parent is not select:
        if isinstance(parent, exp.Select):
            return False
        parent = parent.parent
    return True


def _resolve(scope: Scope, column: exp.Column, name_of, seen: set) -> set[ColumnRef]:
    """The source-table columns ``column`` (in ``scope``) stands for."""
    source = scope.sources.get(column.table)
    if isinstance(source, exp.Table):  # a table, or a table function such as read_csv(...)
        return {ColumnRef(name_of(source), column.name)}
    if isinstance(source, Scope):
        key = (id(source), column.name)
        if key in seen:
            return set()
        seen.add(key)
        found: set[ColumnRef] = set()
        for branch in _branches(source):
            for projection in branch.expression.expressions:
                if projection.alias_or_name == column.name:
                    for inner in projection.find_all(exp.Column):
                        found |= _resolve(branch, inner, name_of, seen)
        return found
    return set()  # an unqualified or correlated name: nothing to follow


def _branches(scope: Scope) -> list[Scope]:
    """The SELECT scopes that give a derived table its columns (each branch of a UNION)."""
    if scope.union_scopes:
        return [branch for inner in scope.union_scopes for branch in _branches(inner)]
    return [scope] if isinstance(scope.expression, exp.Select) else []
