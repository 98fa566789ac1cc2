"""The SQL each materialized table compiles to, in the metadata store.

Every ``ctx.materialize`` records, for the table it built, the SQL its expression
compiles to in the warehouse's dialect (for ``kind="incremental"`` the table's full
defining expression, not the batch it appended) and the schemas of the tables that
SQL reads. :mod:`millpond.lineage` computes table and column lineage from these
records. Only a table's latest build is kept: lineage describes the warehouse as it is.

:class:`TableSqlRecords` is mixed into :class:`~millpond.store.metadata.MetadataStore`.

Examples
--------
>>> import tempfile
>>> from millpond.store.metadata import MetadataStore
>>> store = MetadataStore(Path(tempfile.mkdtemp()) / "meta.sqlite")
>>> store.record_table_sql(TableSql("silver.t", "duckdb", 'SELECT "a" FROM "bronze"."t"',
...                                 {"bronze.t": {"a": "int64"}}, run_id="r1", stage="clean"))
>>> [(t.table_name, t.sources) for t in store.table_sqls().values()]
[('silver.t', {'bronze.t': {'a': 'int64'}})]
"""

from __future__ import annotations

import json
import sqlite3
import time
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from pathlib import Path  # noqa: F401  (the doctest uses it)

TABLE_SQL_SCHEMA = """
CREATE TABLE IF NOT EXISTS table_sql (
    table_name TEXT PRIMARY KEY,
    run_id TEXT,
    stage TEXT,
    dialect TEXT NOT NULL,
    sql TEXT NOT NULL,
    sources TEXT NOT NULL,
    built_at REAL NOT NULL
);
"""


@dataclass
class TableSql:
    """The compiled SQL of one table's latest build.

    ``sources`` maps each table the SQL reads (``layer.table``, or the generated name
    of an in-memory table) to its columns and their Ibis types.
    """

    table_name: str
    dialect: str
    sql: str
    sources: dict[str, dict[str, str]]
    run_id: str | None = None
    stage: str | None = None
    built_at: float = field(default_factory=time.time)


class TableSqlRecords:
    """Methods of the metadata store for compiled table SQL."""

    def _connect(self) -> AbstractContextManager[sqlite3.Connection]:  # provided by MetadataStore
        raise NotImplementedError

    def record_table_sql(self, record: TableSql) -> None:
        """Store ``record`` as the table's latest compiled SQL (replacing the previous one)."""
        with self._connect() as db:
            db.execute(
                "INSERT OR REPLACE INTO table_sql (table_name, run_id, stage, dialect, sql, sources, built_at)"
                " VALUES (?, ?, ?, ?, ?, ?, ?)",
                (
                    record.table_name,
                    record.run_id,
                    record.stage,
                    record.dialect,
                    record.sql,
                    json.dumps(record.sources, sort_keys=True),
                    record.built_at,
                ),
            )

    def table_sqls(self) -> dict[str, TableSql]:
        """The latest compiled SQL of every recorded table, by table name."""
        with self._connect() as db:
            rows = db.execute("SELECT * FROM table_sql ORDER BY table_name").fetchall()
        return {
            r["table_name"]: TableSql(
                table_name=r["table_name"],
                dialect=r["dialect"],
                sql=r["sql"],
                sources=json.loads(r["sources"]),
                run_id=r["run_id"],
                stage=r["stage"],
                built_at=r["built_at"],
            )
            for r in rows
        }
