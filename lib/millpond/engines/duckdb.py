"""The DuckDB engine: the embedded default (a file, or in memory)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from millpond.engines import duckdb_file
from millpond.engines.base import Compacted, Engine, Waste, WorkspaceView, sql_literal

if TYPE_CHECKING:
    from collections.abc import Callable

    import ibis.expr.types as ir
    from ibis.backends import BaseBackend

_READ_FUNCTION = {"csv": "read_csv", "parquet": "read_parquet", "json": "read_json_auto"}


class DuckDBEngine(Engine):
    """DuckDB through Ibis's ``duckdb`` backend (``con.con`` is the DuckDB connection).

    >>> import ibis
    >>> engine = DuckDBEngine(ibis.duckdb.connect())
    >>> engine.run_in_transaction(["CREATE SCHEMA s", "CREATE TABLE s.t AS SELECT 1 AS x"])
    >>> engine.fetch("SELECT x FROM s.t"), engine.existing_kind("s", "t"), engine.existing_kind("s", "nope")
    ([(1,)], 'table', None)
    """

    name = dialect = "duckdb"
    schemes = ("duckdb",)
    connect_before_run = False
    companion_suffixes = (".wal",)
    plan_statement = "EXPLAIN ANALYZE"
    reads_raw_files = caches_compiles = profiles_in_one_query = True
    resource_defaults = {
        "threads": "duckdb default (all cores)",
        "memory_limit": "duckdb default (80% of RAM)",
        "temp_directory": "duckdb default (next to the database)",
    }
    warm_modules = ("duckdb", "ibis.backends.duckdb", "ibis.backends.duckdb.converter", "millpond.engines.duckdb_ctas")

    # -- the file ------------------------------------------------------------------------
    @classmethod
    def absolute_url(cls, url: str, root: Path) -> str:
        """A relative file made absolute from ``root``.

        >>> DuckDBEngine.absolute_url("duckdb://data/w.duckdb", Path("/ws"))
        'duckdb:///ws/data/w.duckdb'
        >>> DuckDBEngine.absolute_url("duckdb://:memory:", Path("/ws"))
        'duckdb://:memory:'
        """
        location = url.removeprefix("duckdb://")
        if location and not location.startswith((":memory:", "/")):
            return "duckdb://" + str(root / location)
        return url

    @classmethod
    def database_file(cls, url: str) -> Path | None:
        """
        >>> DuckDBEngine.database_file("duckdb:///ws/w.duckdb?threads=1"), DuckDBEngine.database_file("duckdb://")
        (PosixPath('/ws/w.duckdb'), None)
        """
        location = url.removeprefix("duckdb://").split("?")[0]
        return Path(location) if location and location != ":memory:" else None

    @classmethod
    def identity(cls, url: str) -> str:
        """The file, its path resolved (``:memory:`` for none).

        >>> DuckDBEngine.identity("duckdb:///ws/data/../data/w.duckdb?threads=1")
        'duckdb:///ws/data/w.duckdb'
        """
        db_file = cls.database_file(url)
        return f"duckdb://{Path(os.path.realpath(db_file)) if db_file is not None else ':memory:'}"

    @classmethod
    def open(cls, url: str, workspace: WorkspaceView) -> BaseBackend:
        import ibis

        db_file = cls.database_file(url)
        if db_file is None:
            return ibis.connect(url)
        db_file.parent.mkdir(parents=True, exist_ok=True)
        config = workspace.spec.resources.engine_config(workspace.root)
        if "temp_directory" in config:
            Path(config["temp_directory"]).mkdir(parents=True, exist_ok=True)
        return ibis.duckdb.connect(str(db_file), **config)

    @classmethod
    def scratch(cls) -> BaseBackend:
        import ibis

        return ibis.duckdb.connect(threads=1)  # no worker threads: the fork server forks after this

    @classmethod
    def file_tables(cls, path: Path) -> set[str]:
        return duckdb_file.file_tables(path)

    @classmethod
    def file_table_sizes(cls, path: Path, names: list[str]) -> dict[str, int]:
        return duckdb_file.file_table_sizes(path, names)

    @classmethod
    def file_waste(cls, path: Path) -> Waste:
        return duckdb_file.file_waste(path)

    @classmethod
    def compact_file(cls, path: Path) -> Compacted:
        return duckdb_file.compact_file(path)

    # -- a connection --------------------------------------------------------------------

    def fetch(self, sql: str) -> list[tuple]:
        return self.con.con.execute(sql).fetchall()

    def run_in_transaction(self, statements: list[str], verify=None) -> None:
        raw = self.con.con
        raw.execute("BEGIN TRANSACTION")
        try:
            for sql in statements:
                raw.execute(sql)
            if verify is not None:
                verify(lambda sql: raw.execute(sql).fetchone()[0])
            raw.execute("COMMIT")
        except BaseException:
            raw.execute("ROLLBACK")
            raise

    def stage_arrow(self, table, name: str, database: str) -> tuple[str, list[str], Callable[[], None]]:
        """The Arrow table registered on the connection (read in place, nothing written)."""
        raw = self.con.con
        raw.register(name, table)
        return self.quote(name), [], lambda: raw.unregister(name)

    def describe(self, table: str, schema: str) -> ir.Table:
        from millpond.engines.duckdb_describe import described_table

        return described_table(self.con, table, schema)

    def maybe_table(self, table: str, schema: str) -> ir.Table | None:
        import duckdb

        try:  # one DESCRIBE; asking the catalog first took as long again
            return self.describe(table, schema)
        except duckdb.CatalogException:
            return None

    def create_table_as(self, name: str, expr: ir.Table, database: str) -> ir.Table:
        from millpond.engines.duckdb_ctas import create_table_as

        return create_table_as(self.con, name, expr, database)

    def read_files(self, kind: str, paths: list[Path], options: dict[str, Any], arrow) -> ir.Table:
        files = sql_literal([str(p) for p in paths])
        extra = "".join(f", {k} = {sql_literal(v)}" for k, v in options.items())
        return self.con.sql(f"SELECT * FROM {_READ_FUNCTION[kind]}({files}{extra})")

    def read_raw_files(self, paths: list[Path], *, filename: bool = False, expected=None, json_schema=None) -> ir.Table:
        from millpond.engines.duckdb_raw import read_raw

        return read_raw(self.con, paths, filename=filename, expected=expected, json_schema=json_schema)

    def from_arrow_dataset(self, dataset, arrow_filter) -> ir.Table:
        import ibis

        return ibis.memtable(dataset)  # scanned lazily by DuckDB, filters pushed into the dataset

    def read_parquet_folder(self, folder: Path, schema, partition_by: list[str]) -> ir.Table | None:
        from ibis.backends.sql.datatypes import DuckDBType

        options = ""
        if partition_by:
            types = ", ".join(f"{sql_literal(c)}: {sql_literal(DuckDBType.to_string(schema[c]))}" for c in partition_by)
            options = f", hive_partitioning = true, hive_types = {{{types}}}"
        files = sql_literal(str(folder / ("**/*.parquet" if partition_by else "*.parquet")))
        return self.con.sql(f"SELECT * FROM read_parquet({files}{options})").select(*schema.names).cast(schema)

    def table_sizes(self, names: list[str]) -> dict[str, int]:  # 0: not written to blocks yet, size unknown
        return {name: size for name, size in duckdb_file.table_sizes(self.con.con, names).items() if size}

    def content_hash_sql(self, schema: str, table: str) -> str:
        return f"SELECT count(*), sum(hash(_mp_row)) FROM {self.quote(schema, table)} AS _mp_row"

    def query_plan(self, expr: ir.Table) -> str:
        import ibis

        sql = ibis.to_sql(expr, dialect=self.dialect)
        return "\n".join(str(row[-1]) for row in self.con.raw_sql(f"{self.plan_statement} {sql}").fetchall())

    def measure_waste(self):
        total, free, block = self.con.con.execute(
            "SELECT total_blocks, free_blocks, block_size FROM pragma_database_size()"
            " WHERE database_name = current_database()"
        ).fetchone()
        return Waste(int(total) * int(block), int(free) * int(block))
