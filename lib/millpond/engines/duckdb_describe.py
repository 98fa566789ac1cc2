"""A DuckDB table as an Ibis table, its schema read with one ``DESCRIBE``.

``con.table(name, database=...)`` on DuckDB runs ``DESCRIBE`` and parses every column's
type name with sqlglot, about 1 ms for a table of ten columns, on every read of every
stage. :func:`described_table` parses each type name once per process and builds the
same expression (the same operation, equal to the one ``con.table`` returns). It is the
DuckDB engine's ``describe`` (:mod:`millpond.engines.duckdb`).

>>> import ibis
>>> con = ibis.duckdb.connect()
>>> _ = con.raw_sql("CREATE SCHEMA s; CREATE TABLE s.t (a DECIMAL(18, 2) NOT NULL, b TEXT[])")
>>> described_table(con, "t", "s").op() == con.table("t", database="s").op()
True
"""

from __future__ import annotations

import functools

import ibis
import ibis.expr.datatypes as dt
import ibis.expr.operations as ops
import ibis.expr.types as ir
from ibis.backends import BaseBackend

__all__ = ["described_table", "duckdb_table", "parsed_type", "quoted"]


def described_table(con: BaseBackend, table: str, database: str) -> ir.Table:
    """``con.table(table, database=database)`` of a DuckDB ``con``, without parsing a type twice.

    A missing table raises what DuckDB raises (``duckdb.CatalogException``).
    """
    described = con.con.execute(f"DESCRIBE {quoted(database)}.{quoted(table)}").fetchall()  # name, type, null, ...
    schema = ibis.schema({column: parsed_type(typ, null == "YES") for column, typ, null, *_ in described})
    return duckdb_table(con, table, database, schema)


def duckdb_table(con: BaseBackend, table: str, database: str, schema: ibis.Schema) -> ir.Table:
    """The expression ``con.table`` returns for a DuckDB table whose schema is known."""
    return ops.DatabaseTable(
        table, schema=schema, source=con, namespace=ops.Namespace(catalog=None, database=database)
    ).to_expr()


def quoted(identifier: str) -> str:
    """A DuckDB (and standard SQL) quoted identifier."""
    return '"' + identifier.replace('"', '""') + '"'


@functools.lru_cache(maxsize=1024)
def parsed_type(duckdb_type: str, nullable: bool = True) -> dt.DataType:
    """The Ibis type ``con.table`` gives a DuckDB column of this type (parsed once per process)."""
    from ibis.backends.sql.datatypes import DuckDBType

    return DuckDBType.from_string(duckdb_type, nullable=nullable)
