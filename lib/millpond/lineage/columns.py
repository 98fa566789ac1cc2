"""Column lineage of one table: which source columns each of its columns derives from.

:func:`column_sources` parses a table's recorded SQL once, qualifies it once against
the schemas of the tables it reads (so ``SELECT *`` expands) and walks sqlglot's
lineage graph of every output column (:func:`sqlglot.lineage.lineage` with
``column=None`` shares one cache across the columns). The result maps each column to
the *direct* sources it derives from: columns of the tables the SQL reads. Following
them through the intermediate tables is :mod:`millpond.lineage.graph`'s job.

A source is a :class:`ColumnRef`: a warehouse table (``silver.orders``), an in-memory
table (:data:`IN_MEMORY`, Ibis memtables, whose generated names mean nothing) or a
raw file read inside the query (``file:data/raw/orders.csv``).

Derivation counts, filtering does not: a column computed from ``a`` and ``b`` (also
through an aggregate, a window's ``PARTITION BY``/``ORDER BY``, a ``CASE``) derives
from both; a ``WHERE`` or a join condition selects rows without carrying values, and
``COUNT(*)`` or a constant derives from no column.

>>> sql = 'SELECT "t"."k", SUM("t"."a" * "t"."b") AS "ab" FROM "bronze"."t" AS "t" GROUP BY 1'
>>> found = column_sources(sql, "duckdb", {"bronze.t": {"k": "int64", "a": "int64", "b": "int64"}})
>>> {column: sorted(map(str, sources)) for column, sources in found.items()}
{'k': ['bronze.t.k'], 'ab': ['bronze.t.a', 'bronze.t.b']}
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

from sqlglot import exp, parse_one
from sqlglot.errors import SqlglotError
from sqlglot.lineage import Node, lineage

from millpond.errors import MillpondError
from millpond.lineage.refs import IN_MEMORY, ColumnRef
from millpond.lineage.rows import row_sources

_MEMORY_DB = "_millpond_memory"  # the stand-in schema of memtables and unqualified tables while qualifying
_NO_DB = "_millpond_default"

__all__ = ["IN_MEMORY", "ColumnRef", "TableLineage", "column_sources", "table_lineage", "tables_read"]


def _is_memtable(name: str) -> bool:
    return name.startswith("ibis_") and "_memtable_" in name


def _file_label(function: exp.Expr, root: str | None) -> str:
    """``file:<path>`` for a table function reading files (``read_csv('...')``)."""
    literal = next((e for e in function.iter_expressions() if isinstance(e, exp.Literal) and e.is_string), None)
    if literal is None:
        array = next((e for e in function.iter_expressions() if isinstance(e, exp.Array)), None)
        names = [e.name for e in array.expressions if isinstance(e, exp.Literal)] if array is not None else []
        path = ",".join(names) or function.sql()
    else:
        path = literal.name
    if root:
        prefix = root.rstrip("/") + "/"
        path = ",".join(p.removeprefix(prefix) for p in path.split(","))
    return f"file:{path}"


def _prepare(expression: exp.Expr) -> None:
    """Give every table a two-part name (memtables and unqualified tables a stand-in
    schema; catalogs dropped) so one schema mapping covers them all. References to
    common table expressions stay as they are."""
    ctes = {cte.alias_or_name for cte in expression.find_all(exp.CTE)}
    for table in expression.find_all(exp.Table):
        if not isinstance(table.this, exp.Identifier):
            continue  # a table function: read_csv(...), unnest(...)
        if not table.args.get("db") and table.name in ctes:
            continue
        if table.args.get("catalog") is not None:
            table.set("catalog", None)
        if not table.args.get("db"):
            table.set("db", exp.to_identifier(_MEMORY_DB if _is_memtable(table.name) else _NO_DB, quoted=True))
    _filters_to_where(expression)


def _filters_to_where(expression: exp.Expr) -> None:
    """Move each aggregate's ``FILTER (WHERE cond)`` into its SELECT's ``WHERE``.

    The condition picks the rows the aggregate reads, like a ``WHERE``, and carries no
    value: ``SUM(x) FILTER (WHERE ok)`` derives from ``x``, and ``ok`` decides rows
    (:mod:`millpond.lineage.rows`). The tree is only analysed, never run.
    """
    for found in list(expression.find_all(exp.Filter)):
        select = found.find_ancestor(exp.Select)
        where = found.expression
        if select is None or not isinstance(where, exp.Where):
            continue
        found.replace(found.this)
        select.where(where.this, copy=False)


def _schema_mapping(sources: dict[str, dict[str, str]]) -> dict[str, dict[str, dict[str, str]]]:
    mapping: dict[str, dict[str, dict[str, str]]] = {}
    for name, columns in sources.items():
        db, _, table = name.rpartition(".")
        db = db or (_MEMORY_DB if _is_memtable(table) else _NO_DB)
        mapping.setdefault(db, {})[table] = {column: "UNKNOWN" for column in columns}
    return mapping


def _table_name(table: exp.Table, root: str | None) -> str:
    if not isinstance(table.this, exp.Identifier):
        return _file_label(table.this, root)
    if table.db == _MEMORY_DB:
        return IN_MEMORY
    return table.name if table.db == _NO_DB else f"{table.db}.{table.name}"


@lru_cache(maxsize=4096)
def _column_name(name: str) -> str:
    """The column of a lineage node's name (``t0.x``, ``"t"."x"``)."""
    return name.rpartition(".")[2] if '"' not in name else exp.to_column(name).name


def _leaf_ref(leaf: Node, parent: Node | None, root: str | None) -> ColumnRef | None:
    if not isinstance(leaf.expression, exp.Table):
        return None  # a constant or COUNT(*): derived from no column
    column = _column_name(leaf.name)
    if column == "*":  # SELECT * over a source of unknown columns (a file): the name is one level up
        if parent is None or not isinstance(parent.expression, exp.Star):
            return None
        column = _column_name(parent.name)
    return ColumnRef(_table_name(leaf.expression, root), column)


def _sources_of(node: Node, root: str | None) -> frozenset[ColumnRef]:
    found: set[ColumnRef] = set()
    seen: set[tuple[int, int]] = set()
    stack: list[tuple[Node, Node | None]] = [(node, None)]
    while stack:
        current, parent = stack.pop()
        key = (id(current), id(parent) if not current.downstream else 0)
        if key in seen:
            continue
        seen.add(key)
        if not current.downstream:
            ref = _leaf_ref(current, parent, root)
            if ref is not None:
                found.add(ref)
        stack.extend((child, current) for child in current.downstream)
    return frozenset(found)


@dataclass(frozen=True)
class TableLineage:
    """One table's lineage: each column's value sources, and the columns deciding its rows
    (:mod:`millpond.lineage.rows`)."""

    columns: dict[str, frozenset[ColumnRef]]
    rows: frozenset[ColumnRef]


def column_sources(
    sql: str, dialect: str, sources: dict[str, dict[str, str]], *, table: str = "the query", root: str | None = None
) -> dict[str, frozenset[ColumnRef]]:
    """Each output column of ``sql`` mapped to the source columns it derives from.

    ``sources`` maps the tables the SQL reads (``layer.table``) to their columns, for
    ``SELECT *`` expansion; ``root`` (the workspace root) is stripped from file paths.
    """
    return table_lineage(sql, dialect, sources, table=table, root=root).columns


def table_lineage(
    sql: str, dialect: str, sources: dict[str, dict[str, str]], *, table: str = "the query", root: str | None = None
) -> TableLineage:
    """:func:`column_sources` and the row-deciding columns of ``sql``, from one parse.

    >>> sql = 'SELECT "t"."k" FROM "bronze"."t" AS "t" WHERE "t"."ok"'
    >>> found = table_lineage(sql, "duckdb", {"bronze.t": {"k": "int64", "ok": "boolean"}})
    >>> sorted(map(str, found.columns["k"])), sorted(map(str, found.rows))
    (['bronze.t.k'], ['bronze.t.ok'])
    """
    try:
        expression = parse_one(sql, dialect=dialect)
        _prepare(expression)
        # trim_selects=False: sqlglot would copy the whole SELECT for each node's label, which we never show.
        # copy=False: sqlglot qualifies ``expression`` in place, which row_sources then reads.
        nodes = lineage(
            None, expression, schema=_schema_mapping(sources), dialect=dialect, copy=False, trim_selects=False
        )
        rows = row_sources(expression, lambda t: _table_name(t, root))
    except SqlglotError as exc:
        raise MillpondError(f"lineage of {table}: its recorded SQL cannot be analysed ({exc})") from None
    return TableLineage({column: _sources_of(node, root) for column, node in nodes.items()}, rows)


def tables_read(sql: str, dialect: str, *, root: str | None = None) -> set[str]:
    """The tables (and files, and :data:`IN_MEMORY`) ``sql`` reads, CTE names excluded.

    >>> sorted(tables_read('WITH c AS (SELECT * FROM "a"."x") SELECT * FROM c JOIN "a"."y" USING (k)', "duckdb"))
    ['a.x', 'a.y']
    """
    expression = parse_one(sql, dialect=dialect)
    _prepare(expression)
    return {
        _table_name(t, root) for t in expression.find_all(exp.Table) if t.db or not isinstance(t.this, exp.Identifier)
    }
