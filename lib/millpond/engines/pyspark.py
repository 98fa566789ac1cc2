"""The PySpark engine: Spark SQL through Ibis's ``pyspark`` backend, local or Spark Connect.

Spark has no multi-statement transactions: statements run in order and a ``DELETE`` is
done copy-on-write (:mod:`millpond.engines.spark_support`).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from millpond.engines.base import Engine

if TYPE_CHECKING:
    import ibis.expr.types as ir


class SparkEngine(Engine):
    name = "pyspark"
    dialect = "spark"
    plan_statement = "EXPLAIN COST"
    transactional = False

    def fetch(self, sql: str) -> list[tuple]:
        from millpond.engines.spark_support import fetch

        return fetch(self.con, sql)

    def run_in_transaction(self, statements: list[str], verify=None) -> None:
        from millpond.engines.spark_support import run_statements

        run_statements(self.con, statements)
        if verify is not None:
            verify(lambda sql: self.fetch(sql)[0][0])

    def read_files(self, kind: str, paths: list[Path], options: dict[str, Any], arrow) -> ir.Table:
        from millpond.engines.spark_support import read_arrow_as_parquet

        return read_arrow_as_parquet(self.con, arrow())

    def content_hash_sql(self, schema: str, table: str) -> str:  # summed without overflow
        return f"SELECT count(*), sum(CAST(xxhash64(*) AS DECIMAL(38, 0))) FROM {self.quote(schema, table)}"

    def query_plan(self, expr: ir.Table) -> str:  # Spark plans, it does not measure: the optimized plan, estimates
        self.con._run_pre_execute_hooks(expr)
        return "\n".join(str(row[0]) for row in self.con.raw_sql(f"{self.plan_statement} {self.con.compile(expr)}").collect())
