"""What ``ctx.materialize`` records for lineage: an expression's SQL and what it reads.

:func:`compiled_sql` compiles an Ibis expression to the SQL of the warehouse's dialect
and lists the tables it reads with their schemas (database tables by ``layer.table``,
in-memory tables by their generated name), so that ``SELECT *`` can be expanded later
without a warehouse connection. It costs one compilation, a few milliseconds.

>>> import ibis
>>> con = ibis.duckdb.connect()
>>> _ = con.raw_sql("CREATE SCHEMA bronze; CREATE TABLE bronze.t (a INT, b TEXT)")
>>> t = con.table("t", database="bronze")
>>> record = compiled_sql(con, t.select(c=t.a + 1), "silver.t")
>>> record.dialect, record.sources
('duckdb', {'bronze.t': {'a': 'int32', 'b': 'string'}})
>>> "bronze" in record.sql
True
"""

from __future__ import annotations

import logging

import ibis
import ibis.expr.operations as ops
import ibis.expr.types as ir
import sqlglot
from ibis.backends import BaseBackend

from millpond.engines import engine_for
from millpond.engines.file_origins import origin_of
from millpond.store.table_sql import TableSql
from millpond.warehouse.staging import unstaged

__all__ = ["compiled_sql", "dialect_of", "record_compiled_sql", "source_name"]

logger = logging.getLogger(__name__)


def dialect_of(con: BaseBackend) -> str:
    """The sqlglot dialect name of a backend (``duckdb``, ``postgres``, ``spark``...)."""
    return engine_for(con).dialect


def source_name(op: ops.Relation) -> str:
    """How the SQL names a table the expression reads: ``layer.table``, or the
    in-memory table's generated name."""
    if isinstance(op, ops.DatabaseTable):
        database = op.namespace.database
        if isinstance(database, tuple):  # (catalog, database)
            database = database[-1]
        return f"{database}.{op.name}" if database else op.name
    return op.name


def compiled_sql(
    con: BaseBackend, expr: ir.Table, name: str, *, run_id: str | None = None, stage: str | None = None
) -> TableSql:
    """The SQL ``expr`` compiles to on ``con`` and the schemas of the tables it reads."""
    from millpond.engines.duckdb_ctas import compiled_for

    dialect = dialect_of(con)
    sql = compiled_for(con, expr) or ibis.to_sql(expr, dialect=con.name)  # compiled once by the build
    sources = {
        source_name(op): {column: str(dtype) for column, dtype in op.schema.items()}
        for op in expr.op().find((ops.DatabaseTable, ops.InMemoryTable))
    }

    sql, read_from_files = _files_named(str(sql), dialect, expr)
    sources = {unstaged(source): columns for source, columns in sources.items() if source not in read_from_files}
    return TableSql(table_name=name, dialect=dialect, sql=unstaged(sql), sources=sources, run_id=run_id, stage=stage)


def _files_named(sql: str, dialect: str, expr: ir.Table) -> tuple[str, set[str]]:
    """``sql`` with each table read from raw files (:mod:`millpond.engines.file_origins`) named
    as the files, as DuckDB reads them (``read_csv(['data/raw/a.csv'])``); and those tables."""
    exp = sqlglot.exp
    tables = {op.name: op for op in expr.op().find((ops.DatabaseTable, ops.InMemoryTable))}
    origins = {name: found for name in tables if (found := origin_of(name)) is not None}
    if not origins:
        return sql, set()
    tree = sqlglot.parse_one(sql, dialect=dialect)
    for select in list(tree.find_all(exp.Select)):  # a star over the files: their columns, named
        source = select.args.get("from") or select.args.get("from_")
        table = source.this if source is not None else None
        if (
            isinstance(table, exp.Table)
            and table.name in origins
            and any(isinstance(e, exp.Star) for e in select.expressions)
        ):
            alias = table.alias_or_name
            select.set(
                "expressions", [exp.column(c, table=alias, quoted=True) for c in tables[table.name].schema.names]
            )
    for table in list(tree.find_all(exp.Table)):
        found = origins.get(table.name)
        if found is None or not isinstance(table.this, exp.Identifier):
            continue
        kind, paths = found
        files = exp.Array(expressions=[exp.Literal.string(p) for p in paths])
        reader = exp.Anonymous(this=f"read_{kind}", expressions=[files])
        alias = table.args.get("alias") or exp.TableAlias(this=exp.to_identifier(table.name, quoted=True))
        table.replace(exp.Table(this=reader, alias=alias))
    return tree.sql(dialect=dialect), set(origins)


def record_compiled_sql(
    con: BaseBackend, store, expr: ir.Table, name: str, *, run_id: str | None = None, stage: str | None = None
) -> TableSql | None:
    """Record ``expr``'s compiled SQL for table ``name`` in ``store`` (the metadata store).

    Called by ``ctx.materialize`` after a successful build. An expression that does
    not compile to SQL (a backend-specific operation) is logged and left without
    column lineage; the build itself stands.
    """
    try:
        record = compiled_sql(con, expr, name, run_id=run_id, stage=stage)
    except Exception as exc:  # noqa: BLE001  lineage must never undo a finished build
        logger.warning("no lineage recorded for %s: its expression does not compile to SQL (%s)", name, exc)
        return None
    store.record_table_sql(record)
    return record
