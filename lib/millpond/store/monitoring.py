"""Table profiles and anomalies in the metadata store.

Every run records, for each table a stage built, a *profile*: one row per
``(table, column, metric)`` with a number (``column`` is ``""`` for table-level
metrics such as ``row_count``). An *anomaly* is a profile value that left the band
learned from the recent runs (see :mod:`millpond.quality.monitors`).

:class:`MonitoringRecords` is mixed into :class:`~millpond.store.metadata.MetadataStore`.

Examples
--------
>>> import tempfile
>>> from millpond.store.metadata import MetadataStore
>>> store = MetadataStore(Path(tempfile.mkdtemp()) / "meta.sqlite")
>>> store.record_profile("r1", "clean", [
...     {"table": "silver.t", "column": "", "metric": "row_count", "value": 10},
...     {"table": "silver.t", "column": "id", "metric": "null_rate", "value": 0.0}])
>>> store.record_profile("r2", "clean", [{"table": "silver.t", "column": "", "metric": "row_count", "value": 12}])
>>> [(p["run_id"], p["value"]) for p in store.profile_history("silver.t", metric="row_count")]
[('r1', 10.0), ('r2', 12.0)]
>>> store.profiled_tables()
['silver.t']
>>> store.record_anomalies("r2", "clean", [{"table": "silver.t", "column": "", "metric": "row_count",
...     "value": 12, "lower": 9.5, "upper": 10.5, "baseline": 5, "rule": "z-score > 3 over last 5 runs"}])
>>> [(a["table_name"], a["metric"], a["value"]) for a in store.anomalies(run_id="r2")]
[('silver.t', 'row_count', 12.0)]
"""

from __future__ import annotations

import sqlite3
import time
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

MONITORING_SCHEMA = """
CREATE TABLE IF NOT EXISTS table_profiles (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    run_id TEXT,
    stage TEXT,
    table_name TEXT NOT NULL,
    column_name TEXT NOT NULL DEFAULT '',
    metric TEXT NOT NULL,
    value REAL,
    profiled_at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS table_profiles_key ON table_profiles (table_name, column_name, metric, id);
CREATE INDEX IF NOT EXISTS table_profiles_run ON table_profiles (run_id);
CREATE TABLE IF NOT EXISTS anomalies (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    run_id TEXT,
    stage TEXT,
    table_name TEXT NOT NULL,
    column_name TEXT NOT NULL DEFAULT '',
    metric TEXT NOT NULL,
    value REAL,
    lower REAL,
    upper REAL,
    baseline INTEGER NOT NULL,
    rule TEXT NOT NULL,
    detected_at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS anomalies_run ON anomalies (run_id);
"""


class MonitoringRecords:
    """Profile and anomaly records; needs ``self._connect()`` from the store."""

    path: Path

    def _connect(self) -> AbstractContextManager[sqlite3.Connection]:  # pragma: no cover - provided by the store
        raise NotImplementedError

    def record_profile(self, run_id: str | None, stage: str | None, values: list[dict[str, Any]]) -> None:
        """Store profile values: dicts with ``table``, ``column`` (``""`` for the table), ``metric``, ``value``."""
        now = time.time()
        with self._connect() as db:
            db.execute("BEGIN")  # one transaction: one WAL sync for the whole profile, not one per row
            db.executemany(
                "INSERT INTO table_profiles (run_id, stage, table_name, column_name, metric, value, profiled_at)"
                " VALUES (?, ?, ?, ?, ?, ?, ?)",
                [
                    (
                        run_id,
                        stage,
                        v["table"],
                        v.get("column") or "",
                        v["metric"],
                        None if v["value"] is None else float(v["value"]),
                        now,
                    )
                    for v in values
                ],
            )
            db.execute("COMMIT")

    def profile_history(
        self,
        table: str,
        column: str | None = None,
        metric: str | None = None,
        *,
        limit_runs: int | None = None,
        before_run: str | None = None,
    ) -> list[dict[str, Any]]:
        """Profile rows of ``table`` (optionally one column / metric), oldest first.

        ``limit_runs`` keeps only the rows of the newest N runs that profiled the table;
        ``before_run`` keeps only rows recorded before that run's first row (the baseline
        a run is compared with).
        """
        where, args = ["table_name = ?"], [table]
        if column is not None:
            where.append("column_name = ?")
            args.append(column)
        if metric is not None:
            where.append("metric = ?")
            args.append(metric)
        if before_run is not None:
            where.append("id < COALESCE((SELECT MIN(id) FROM table_profiles WHERE run_id = ?), 1e18)")
            args.append(before_run)
        with self._connect() as db:
            rows = [
                dict(r)
                for r in db.execute(
                    f"SELECT * FROM table_profiles WHERE {' AND '.join(where)} ORDER BY id", args
                ).fetchall()
            ]
        if limit_runs is not None:
            runs: list[str | None] = []
            for r in reversed(rows):
                if r["run_id"] not in runs:
                    runs.append(r["run_id"])
            keep = set(runs[:limit_runs])
            rows = [r for r in rows if r["run_id"] in keep]
        return rows

    def profiled_tables(self) -> list[str]:
        """Every table with a recorded profile, by name."""
        with self._connect() as db:
            return [r[0] for r in db.execute("SELECT DISTINCT table_name FROM table_profiles ORDER BY table_name")]

    def profiles(self, run_id: str) -> list[dict[str, Any]]:
        """Every profile value one run recorded, in order."""
        with self._connect() as db:
            rows = db.execute("SELECT * FROM table_profiles WHERE run_id = ? ORDER BY id", (run_id,)).fetchall()
        return [dict(r) for r in rows]

    def record_anomalies(self, run_id: str | None, stage: str | None, found: list[dict[str, Any]]) -> None:
        """Store anomalies: dicts with ``table``, ``column``, ``metric``, ``value``, ``lower``, ``upper``,
        ``baseline`` (how many runs the band was learned from) and ``rule`` (in words)."""
        now = time.time()
        with self._connect() as db:
            db.execute("BEGIN")
            db.executemany(
                "INSERT INTO anomalies (run_id, stage, table_name, column_name, metric, value, lower, upper,"
                " baseline, rule, detected_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [
                    (
                        run_id,
                        stage,
                        a["table"],
                        a.get("column") or "",
                        a["metric"],
                        a["value"],
                        a["lower"],
                        a["upper"],
                        int(a["baseline"]),
                        a["rule"],
                        now,
                    )
                    for a in found
                ],
            )
            db.execute("COMMIT")

    def anomalies(self, run_id: str | None = None, table: str | None = None) -> list[dict[str, Any]]:
        """Recorded anomalies, oldest first, of one run and/or one table (all when both are ``None``)."""
        where, args = [], []
        if run_id is not None:
            where.append("run_id = ?")
            args.append(run_id)
        if table is not None:
            where.append("table_name = ?")
            args.append(table)
        query = "SELECT * FROM anomalies" + (f" WHERE {' AND '.join(where)}" if where else "") + " ORDER BY id"
        with self._connect() as db:
            return [dict(r) for r in db.execute(query, args).fetchall()]
