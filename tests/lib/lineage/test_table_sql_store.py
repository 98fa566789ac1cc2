"""The ``table_sql`` records: an older store gains the table, a rebuild replaces the record."""

from __future__ import annotations

import sqlite3

from millpond.store.metadata import MetadataStore
from millpond.store.table_sql import TableSql


def test_an_older_store_keeps_working_and_gains_the_table(tmp_path):
    path = tmp_path / "meta.sqlite"
    with sqlite3.connect(path) as db:  # a store from before lineage: one table, one row
        db.execute(
            "CREATE TABLE materializations (id INTEGER PRIMARY KEY, table_name TEXT NOT NULL, kind TEXT NOT NULL,"
            " run_id TEXT, stage TEXT, rows INTEGER, schema TEXT NOT NULL, duration REAL NOT NULL,"
            " fingerprint TEXT NOT NULL, built_at REAL NOT NULL)"
        )
        db.execute(
            "INSERT INTO materializations (table_name, kind, schema, duration, fingerprint, built_at)"
            " VALUES ('silver.t', 'table', '{}', 0.1, 'f', 1.0)"
        )
    store = MetadataStore(path)
    assert store.latest_materialization("silver.t").fingerprint == "f"
    assert store.table_sqls() == {}
    store.record_table_sql(TableSql("silver.t", "duckdb", "SELECT 1 AS a", {}, run_id="r1", built_at=2.0))
    store.record_table_sql(
        TableSql(
            "silver.t", "postgres", "SELECT 2 AS a", {"bronze.t": {"a": "int64"}}, run_id="r2", stage="s", built_at=3.0
        )
    )
    (record,) = store.table_sqls().values()
    assert (record.run_id, record.stage, record.dialect, record.sql, record.sources, record.built_at) == (
        "r2",
        "s",
        "postgres",
        "SELECT 2 AS a",
        {"bronze.t": {"a": "int64"}},
        3.0,
    )
