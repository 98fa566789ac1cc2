"""The PySpark engine: Spark SQL through Ibis's ``pyspark`` backend, local or Spark Connect.

Spark has no multi-statement transactions: statements run in order and a ``DELETE`` is
done copy-on-write (:mod:`millpond.engines.spark_support`).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from millpond.engines.base import Engine, WorkspaceView
from millpond.engines.file_origins import from_files
from millpond.engines.spark_server import WAREHOUSE_DIR, SparkServer, SparkTarget, describe_server
from millpond.engines.spark_support import connect, fetch, read_arrow_as_parquet, run_statements

if TYPE_CHECKING:
    from collections.abc import Callable

    import ibis.expr.types as ir
    from ibis.backends import BaseBackend


class SparkEngine(Engine):
    name = "pyspark"
    dialect = "spark"
    plan_statement = "EXPLAIN COST"
    schemes = ("pyspark", "sc")
    connect_before_run = False
    transactional = False
    cannot_compact = (
        "nothing to compact on Spark: each build writes its table's Parquet files whole "
        "(millpond compact is for DuckDB and PostgreSQL)"
    )

    @classmethod
    def open(cls, url: str, workspace: WorkspaceView) -> BaseBackend:
        return connect(workspace)

    @classmethod
    def identity(cls, url: str) -> str:
        """The tables' folder (``spark.sql.warehouse.dir``), whichever master computes them;
        a remote server's address.

        >>> SparkEngine.identity("pyspark://local[2]?spark.driver.memory=4g")
        'pyspark://data/spark-warehouse'
        """
        target = SparkTarget.parse(url)
        if target.remote is not None:
            return target.remote.split("?")[0]
        return f"pyspark://{target.conf.get('spark.sql.warehouse.dir', WAREHOUSE_DIR)}"

    @classmethod
    def prepare_run(cls, workspace: WorkspaceView, say: Callable[[str], None]) -> None:
        """Start the workspace's shared Spark Connect server once, before the stages (each
        stage's kernel is its client; see :mod:`millpond.engines.spark_server`)."""
        server = SparkServer(workspace)
        if server.target.remote is None and server.running() is None:
            say(f"starting the Spark server (master {server.target.master})")
            server.start()

    @classmethod
    def server_action(cls, workspace: WorkspaceView, action: str) -> str:
        return describe_server(workspace, action)

    def fetch(self, sql: str) -> list[tuple]:
        return fetch(self.con, sql)

    def run_in_transaction(self, statements: list[str], verify=None) -> None:
        run_statements(self.con, statements)
        if verify is not None:
            verify(lambda sql: self.fetch(sql)[0][0])

    def read_files(self, kind: str, paths: list[Path], options: dict[str, Any], arrow) -> ir.Table:
        return from_files(read_arrow_as_parquet(self.con, arrow()), kind, paths)

    def content_hash_sql(self, schema: str, table: str) -> str:  # summed without overflow
        return f"SELECT count(*), sum(CAST(xxhash64(*) AS DECIMAL(38, 0))) FROM {self.quote(schema, table)}"

    def query_plan(self, expr: ir.Table) -> str:  # Spark plans, it does not measure: the optimized plan, estimates
        self.con._run_pre_execute_hooks(expr)
        return "\n".join(
            str(row[0]) for row in self.con.raw_sql(f"{self.plan_statement} {self.con.compile(expr)}").collect()
        )
