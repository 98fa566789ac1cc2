"""Build a table from an Ibis expression with one ``CREATE TABLE ... AS`` on DuckDB.

Ibis's ``create_table`` compiles the expression, then runs ``CREATE TABLE`` with the
expression's schema, ``INSERT ... SELECT`` and, to replace, ``DROP`` and ``RENAME``. On
DuckDB, :func:`create_table_as` runs one statement instead, casting each column to the
type Ibis would have declared, so the table is the same (column names, order, types):

    CREATE TABLE "gold"."t" AS SELECT CAST("a" AS DECIMAL(18, 2)) AS "a", ... FROM (<query>)

The cast is free where the query already has that type (DuckDB drops it). It compiles
the expression once and keeps the SQL (:func:`compiled_for`), so the lineage record of
``ctx.materialize`` does not compile it again.

It is the DuckDB engine's ``create_table_as`` (:mod:`millpond.engines.duckdb`). Anything
else goes through ``create_table``: in-memory tables (Ibis
registers them first) and a schema with a ``NOT NULL`` column (a ``CREATE TABLE AS``
cannot declare it).
"""

from __future__ import annotations

import functools
from collections import OrderedDict

import ibis
import ibis.expr.datatypes as dt
import ibis.expr.operations as ops
import ibis.expr.types as ir
from ibis.backends import BaseBackend

from millpond.engines.duckdb_describe import described_table, duckdb_table, parsed_type, quoted

__all__ = ["compiled_for", "create_table_as"]

_COMPILED: OrderedDict[tuple[int, ops.Node], str] = OrderedDict()
_KEEP = 16


def create_table_as(con: BaseBackend, name: str, expr: ir.Table, database: str) -> ir.Table:
    """Create table ``database.name`` holding ``expr``'s rows and return it.

    Examples
    --------
    >>> import ibis
    >>> con = ibis.duckdb.connect()
    >>> _ = con.raw_sql("CREATE SCHEMA s; CREATE TABLE s.src AS SELECT 1.5::DOUBLE AS x, 'a' AS k")
    >>> src = con.table("src", database="s")
    >>> built = create_table_as(con, "out", src.select(k=src.k, x=src.x.cast("decimal(9, 2)")), "s")
    >>> built.schema()
    ibis.Schema {
      k  string
      x  decimal(9, 2)
    }
    >>> built.to_pyarrow().to_pylist()
    [{'k': 'a', 'x': Decimal('1.50')}]
    """
    schema = expr.schema()
    if schema.null_fields or any(not dtype.nullable for dtype in schema.types) or expr.op().find(ops.InMemoryTable):
        return con.create_table(name, expr, database=database)
    query = con.compile(expr)
    columns = ", ".join(f"CAST({quoted(c)} AS {_duckdb_type(dtype)}) AS {quoted(c)}" for c, dtype in schema.items())
    con.con.execute(
        f"CREATE TABLE {quoted(database)}.{quoted(name)} AS SELECT {columns} FROM ({query}) AS _millpond_query"
    )
    _remember(con, expr, query)
    stored = [_stored_type(dtype) for dtype in schema.types]
    if None in stored:  # a type whose DuckDB spelling may not come back as written
        return described_table(con, name, database)
    return duckdb_table(con, name, database, ibis.schema(dict(zip(schema.names, stored, strict=True))))


@functools.lru_cache(maxsize=1024)
def _duckdb_type(dtype: dt.DataType) -> str:
    """DuckDB's name of an Ibis type, as ``create_table`` declares it (sqlglot's generator
    takes about 0.25 ms a column, so each type is spelled once)."""
    (column,) = ibis.schema({"c": dtype}).to_sqlglot_column_defs("duckdb")
    return column.kind.sql("duckdb")


#: Types whose DuckDB name, as cast to, is what DuckDB reports back (up to spelling:
#: ``TEXT`` / ``VARCHAR``, ``DECIMAL(18, 2)`` / ``DECIMAL(18,2)``), so parsing it gives
#: the type ``con.table`` reads.
_ROUND_TRIPS = (dt.Integer, dt.Floating, dt.String, dt.Boolean, dt.Date, dt.Time, dt.Binary, dt.UUID)


@functools.lru_cache(maxsize=1024)
def _stored_type(dtype: dt.DataType) -> dt.DataType | None:
    """The type ``con.table`` reads back for a column built as ``CAST(... AS <dtype>)``,
    without asking DuckDB (``DESCRIBE`` after the build took about 0.4 to 0.8 ms); ``None``
    where the spelling might not round-trip (e.g. a ``decimal`` without precision, which
    DuckDB stores as DECIMAL(18, 3), or an interval in seconds, read back in microseconds)."""
    return parsed_type(_duckdb_type(dtype)) if _round_trips(dtype) else None


def _round_trips(dtype: dt.DataType) -> bool:
    if isinstance(dtype, dt.Decimal):
        return dtype.precision is not None and dtype.scale is not None
    if isinstance(dtype, dt.Timestamp):  # TIMESTAMP(3) is stored as TIMESTAMP_MS
        return dtype.scale in (None, 6)
    if isinstance(dtype, dt.Array):
        return _round_trips(dtype.value_type)
    if isinstance(dtype, dt.Map):
        return _round_trips(dtype.key_type) and _round_trips(dtype.value_type)
    if isinstance(dtype, dt.Struct):
        return all(_round_trips(field) for field in dtype.types)
    return isinstance(dtype, _ROUND_TRIPS)


def compiled_for(con: BaseBackend, expr: ir.Table) -> str | None:
    """The SQL :func:`create_table_as` compiled ``expr`` to on ``con``, if it built it lately."""
    return _COMPILED.get((id(con), expr.op()))


def _remember(con: BaseBackend, expr: ir.Table, query: str) -> None:
    _COMPILED[(id(con), expr.op())] = query
    while len(_COMPILED) > _KEEP:
        _COMPILED.popitem(last=False)
