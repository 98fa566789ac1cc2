"""PySpark as the warehouse, through Ibis's PySpark backend and Spark Connect.

A kernel connects to the workspace's Spark Connect server
(:mod:`millpond.engines.spark_server`) and gets an Ibis PySpark backend; the shared
library runs on it unchanged. What Spark lacks next to DuckDB and PostgreSQL is filled in
here, in one place:

- **In-memory tables** go to Spark as Arrow (exact types: decimals, dates, nulls), not
  through pandas; raw files read on a local server are first written as Parquet under
  ``<meta>/spark/staging`` and read by Spark itself (Parquet is the interchange format).
- **information_schema.tables**, which Spark has not, is answered from the catalog.
- **DELETE** on plain (Parquet) tables, which Spark refuses, is done copy-on-write: the
  kept rows are written to a new table that replaces the old one.
- **No transactions**: statements run one after another. A swap is a drop and a rename;
  a reader between the two sees no table (DuckDB and PostgreSQL swap atomically).
"""

from __future__ import annotations

import hashlib
import re
import secrets
import socket
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlparse

from millpond.engines.spark_server import SparkServer
from millpond.errors import MillpondError
from millpond.secrets import redact

if TYPE_CHECKING:
    from ibis.backends import BaseBackend

    from millpond.engines.base import WorkspaceView as Workspace

DIALECT = "spark"
"""The sqlglot dialect of Spark SQL (Ibis's backend is named ``pyspark``)."""
INFO_VIEW = "_mp_information_schema_tables"
_INFO_TABLES = re.compile(r"\binformation_schema\.tables\b", re.IGNORECASE)


def connect(workspace: Workspace) -> BaseBackend:
    """An Ibis PySpark backend on the workspace's Spark Connect server (started if needed)."""
    from pyspark.sql import SparkSession

    server = SparkServer(workspace)
    remote = server.remote_url()  # as written: a token stays a ${secret:...} reference here
    address = workspace.warehouse_url(resolve_secrets=True) if server.target.remote else remote
    try:
        _reachable(remote)  # Spark Connect connects lazily and retries for minutes: ask the port first
        session = SparkSession.builder.remote(address).create()
    except Exception as exc:
        reason = redact(str(exc), workspace.secret_env()).strip().splitlines() or ["no reason given"]
        raise MillpondError(f"cannot connect to the Spark server {remote}: {reason[0][:200]}") from None
    backend = _backend_class()().connect(session)
    local = server.target.remote is None and str(server.target.master).startswith("local")
    backend._millpond_staging = server.folder / "staging" if local else None
    return backend


def _reachable(remote: str, timeout: float = 5.0) -> None:
    """Raise ``OSError`` unless something listens at the ``sc://host:port`` address."""
    parsed = urlparse(remote.replace("sc://", "http://", 1).split(";")[0])
    with socket.create_connection((parsed.hostname or "localhost", parsed.port or 15002), timeout=timeout):
        pass


_BACKEND = None


def _backend_class():
    """Ibis's PySpark backend, with in-memory tables sent as Arrow (built once, on first use)."""
    global _BACKEND
    if _BACKEND is None:
        import sqlglot.expressions as sge
        from ibis.backends.pyspark import Backend
        from ibis.backends.pyspark.datatypes import PySparkSchema
        from ibis.backends.sql.compilers.pyspark import PySparkCompiler

        class SparkCompiler(PySparkCompiler):
            def visit_Strip(self, op, *, arg):
                # Ibis writes TRIM(' \t\n\r\v\f' FROM x); Spark reads '\v' and '\f' in a literal as the
                # letters v and f, and strips them too ('vera' -> 'era'). Java's \s is the same six blanks.
                return self.f.regexp_replace(arg, sge.convert(r"^\s+|\s+$"), sge.convert(""))

        class SparkBackend(Backend):
            compiler = SparkCompiler()
            _millpond_staging: Path | None = None

            def create_table(
                self,
                name,
                /,
                obj=None,
                *,
                schema=None,
                database=None,
                temp=None,
                overwrite=False,
                format="parquet",
                partition_by=None,
            ):
                import ibis.expr.types as ir

                if not isinstance(obj, ir.Table) or temp:
                    return super().create_table(
                        name,
                        obj,
                        schema=schema,
                        database=database,
                        temp=temp,
                        overwrite=overwrite,
                        format=format,
                        partition_by=partition_by,
                    )
                catalog, db = self._to_catalog_db_tuple(self._to_sqlglot_table(database))
                self._run_pre_execute_hooks(obj)
                target = ".".join(f"`{part}`" for part in (db, name) if part)
                frame = self._session.sql(typed_query(self.compile(obj), obj.schema()))
                frame.write.saveAsTable(
                    target, format=format, mode="overwrite" if overwrite else "error", partitionBy=partition_by
                )
                return self.table(name, database=(catalog, db))

            def _register_in_memory_table(self, op) -> None:
                table = op.data.to_pyarrow(op.schema)
                frame = self._session.createDataFrame(table, schema=PySparkSchema.from_ibis(op.schema))
                frame.createOrReplaceTempView(op.name)

        SparkBackend.register_options()  # ibis.options.pyspark, which the compiler reads
        _BACKEND = SparkBackend
    return _BACKEND


def typed_query(query: str, schema) -> str:
    """``query`` with every column cast to the type Ibis declares for it.

    Ibis drops a cast it believes changes nothing (``int64 * decimal(18, 2)`` is
    ``decimal(18, 2)`` to Ibis, ``decimal(38, 2)`` to Spark; ``row_number()`` is ``int64``
    to Ibis, ``int`` to Spark), so a table Spark writes keeps the types Ibis promised only
    when they are stated again here.

    >>> typed_query("SELECT 1 AS n", {"n": "int64"})
    'SELECT CAST(`n` AS BIGINT) AS `n` FROM (SELECT 1 AS n) AS _mp_typed'
    """
    import ibis
    from ibis.backends.pyspark.datatypes import PySparkType

    columns = ", ".join(
        f"CAST(`{name}` AS {PySparkType.from_ibis(dtype).simpleString().upper()}) AS `{name}`"
        for name, dtype in ibis.schema(schema).items()
    )
    return f"SELECT {columns} FROM ({query}) AS _mp_typed"


def is_spark(con: BaseBackend) -> bool:
    return con.name == "pyspark"


def read_arrow_as_parquet(con: BaseBackend, table):
    """An Ibis table of the Arrow ``table``: through a Parquet file Spark reads itself when the
    server is local, else sent over the connection as Arrow."""
    import ibis

    staging = getattr(con, "_millpond_staging", None)
    if staging is None:
        return ibis.memtable(table)
    import pyarrow.parquet as pq

    staging.mkdir(parents=True, exist_ok=True)
    digest = hashlib.sha256(str(table.schema).encode())
    for batch in table.to_batches():
        digest.update(str(batch.num_rows).encode())
    path = staging / f"{digest.hexdigest()[:16]}_{secrets.token_hex(4)}.parquet"
    pq.write_table(table, path)
    return con.read_parquet(str(path))


# -- SQL that DuckDB and PostgreSQL run natively ---------------------------------------
def fetch(con: BaseBackend, sql: str) -> list[tuple]:
    """The rows of ``sql`` (``information_schema.tables`` answered from the catalog)."""
    if _INFO_TABLES.search(sql):
        return _information_schema_query(con, sql)
    return [tuple(row) for row in con._session.sql(sql).collect()]


def run_statements(con: BaseBackend, statements: list[str]) -> None:
    """Run ``statements`` in order; a ``DELETE`` is done copy-on-write."""
    for sql in statements:
        if sql.lstrip()[:6].upper() == "DELETE":
            _delete_copy_on_write(con, sql)
        else:
            con._session.sql(sql)


def catalog_tables(con: BaseBackend, databases: list[str] | None = None) -> list[tuple[str, str, str]]:
    """``(table_schema, table_name, table_type)`` of every table and view (of ``databases``)."""
    session = con._session
    if databases is None:
        databases = [row[0] for row in session.sql("SHOW DATABASES").collect()]
    rows = []
    for database in databases:
        quoted = f"`{database}`"
        try:
            views = {row[1] for row in session.sql(f"SHOW VIEWS IN {quoted}").collect() if not row[2]}
            tables = [row[1] for row in session.sql(f"SHOW TABLES IN {quoted}").collect() if not row[2]]
        except Exception as exc:  # a database that does not exist holds no tables
            if "SCHEMA_NOT_FOUND" in str(exc) or "not found" in str(exc).lower():
                continue
            raise
        rows += [(database, name, "VIEW" if name in views else "BASE TABLE") for name in tables]
    return rows


_SCHEMA_FILTER = re.compile(r"\btable_schema\s*=\s*'([^']*)'", re.IGNORECASE)


def _information_schema_query(con: BaseBackend, sql: str) -> list[tuple]:
    """Run a query over ``information_schema.tables`` on the catalog's answer, in DuckDB."""
    import duckdb
    import pyarrow as pa

    only = _SCHEMA_FILTER.findall(sql)
    rows = catalog_tables(con, sorted(set(only)) if only else None)
    names = ["table_schema", "table_name", "table_type"]
    info = pa.table({n: pa.array([r[i] for r in rows], pa.string()) for i, n in enumerate(names)})
    local = duckdb.connect()
    try:
        local.register(INFO_VIEW, info)
        return local.execute(_INFO_TABLES.sub(INFO_VIEW, sql)).fetchall()
    finally:
        local.close()


def _delete_copy_on_write(con: BaseBackend, sql: str) -> None:
    """``DELETE FROM t [AS a] [WHERE c]`` as: keep the rows where ``c`` is not true (none without
    a ``WHERE``), swap them in."""
    import sqlglot as sg
    from sqlglot import exp

    statement = sg.parse_one(sql, dialect=DIALECT)
    if not isinstance(statement, exp.Delete):  # pragma: no cover - only DELETE comes here
        raise MillpondError(f"not a DELETE: {sql[:80]}")
    target = statement.this
    schema, table = target.db, target.name
    where = statement.args.get("where")
    condition = where.this if where is not None else exp.true()
    kept = exp.select("*").from_(target.copy()).where(exp.not_(exp.func("coalesce", condition, exp.false())))
    temp = f"_mp_tmp_{table}_{secrets.token_hex(4)}"

    def q(*parts: str) -> str:
        return ".".join(sg.to_identifier(p, quoted=True).sql(DIALECT) for p in parts)

    session = con._session
    session.sql(f"CREATE TABLE {q(schema, temp)} AS {kept.sql(DIALECT)}")
    try:
        session.sql(f"DROP TABLE {q(schema, table)}")
    except Exception:
        session.sql(f"DROP TABLE IF EXISTS {q(schema, temp)}")
        raise
    session.sql(f"ALTER TABLE {q(schema, temp)} RENAME TO {q(schema, table)}")
