"""Tests for millpond.engines.duckdb_describe: the same table expression ``con.table`` returns.

The reference is Ibis's own ``con.table`` on the same connection: the operations must be
equal (name, namespace, schema with every type and its nullability).
"""

from __future__ import annotations

import duckdb
import ibis
import pytest

from millpond.engines import described_table

TYPES = '''
CREATE SCHEMA "odd schema";
CREATE TABLE "odd schema"."odd ""table""" (
    i TINYINT, s SMALLINT, n INTEGER NOT NULL, b BIGINT, h HUGEINT, u UBIGINT,
    f FLOAT, d DOUBLE, m DECIMAL(18, 2), w DECIMAL(38, 10),
    t TEXT, v VARCHAR, blob BLOB, flag BOOLEAN, uid UUID,
    day DATE, tm TIME, ts TIMESTAMP, tz TIMESTAMPTZ, ms TIMESTAMP_MS, iv INTERVAL,
    tags TEXT[], nested STRUCT(k INTEGER, v DECIMAL(9, 3)[]), pairs MAP(TEXT, BIGINT),
    "quoted ""name""" JSON
)
'''


def test_every_type_reads_as_ibis_reads_it():
    con = ibis.duckdb.connect()
    con.raw_sql(TYPES)
    for _ in range(2):  # the second read takes the parsed types from the cache
        built = described_table(con, 'odd "table"', "odd schema")
        assert built.op() == con.table('odd "table"', database="odd schema").op()
    assert not built.schema()["n"].nullable and built.schema()["b"].nullable
    assert built.count().execute() == 0


def test_a_missing_table_raises_duckdbs_catalog_error():
    con = ibis.duckdb.connect()
    with pytest.raises(duckdb.CatalogException):
        described_table(con, "missing", "main")


def test_other_engines_read_through_ibis(pg_con):
    pg_con.raw_sql("CREATE TABLE t (a NUMERIC(18, 2) NOT NULL, b TEXT)")
    assert described_table(pg_con, "t", "public").op() == pg_con.table("t", database="public").op()
