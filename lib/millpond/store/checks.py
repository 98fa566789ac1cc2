"""Check results in the metadata store: every result of every run, and each check's history.

:class:`CheckRecords` is mixed into :class:`~millpond.store.metadata.MetadataStore`.
"""

from __future__ import annotations

import json
import sqlite3
import time
from contextlib import AbstractContextManager
from typing import Any

CHECKS_SCHEMA = """
CREATE TABLE IF NOT EXISTS check_results (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    run_id TEXT,
    stage TEXT,
    table_name TEXT NOT NULL,
    check_name TEXT NOT NULL,
    severity TEXT NOT NULL,
    status TEXT NOT NULL,
    failing_rows INTEGER NOT NULL,
    sample TEXT NOT NULL,
    checked_at REAL NOT NULL,
    detail TEXT
);
CREATE INDEX IF NOT EXISTS check_results_table ON check_results (table_name, check_name, id);
"""


class CheckRecords:
    """Methods of the metadata store for check results."""

    def _connect(self) -> AbstractContextManager[sqlite3.Connection]:  # provided by MetadataStore
        raise NotImplementedError

    def record_checks(self, run_id: str | None, stage: str | None, results: list[dict[str, Any]]) -> None:
        """Store check results (``table``, ``check``, ``severity``, ``status``, ``failing_rows``,
        ``sample``, and ``detail``: the failing values with their counts)."""
        now = time.time()
        with self._connect() as db:
            db.executemany(
                "INSERT INTO check_results (run_id, stage, table_name, check_name, severity, status, failing_rows,"
                " sample, checked_at, detail) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [
                    (
                        run_id,
                        stage,
                        r["table"],
                        r["check"],
                        r["severity"],
                        r["status"],
                        int(r["failing_rows"]),
                        json.dumps(r.get("sample") or [], default=str),
                        now,
                        json.dumps(r.get("detail") or {}, default=str),
                    )
                    for r in results
                ],
            )

    def check_results(self, run_id: str) -> list[dict[str, Any]]:
        """Every check result recorded by one run, in order."""
        with self._connect() as db:
            rows = db.execute("SELECT * FROM check_results WHERE run_id = ? ORDER BY id", (run_id,)).fetchall()
        return [dict(r) | {"sample": json.loads(r["sample"]), "detail": json.loads(r["detail"] or "{}")} for r in rows]

    def check_history(self, table: str | None = None, limit_per_check: int = 10) -> list[dict[str, Any]]:
        """Latest result of every check, newest first per check, with its recent statuses (oldest first)."""
        query = "SELECT * FROM check_results" + (" WHERE table_name = ?" if table else "") + " ORDER BY id DESC"
        with self._connect() as db:
            rows = db.execute(query, (table,) if table else ()).fetchall()
        latest: dict[tuple[str, str], dict[str, Any]] = {}
        for row in rows:
            key = (row["table_name"], row["check_name"])
            if key not in latest:
                latest[key] = dict(row) | {
                    "sample": json.loads(row["sample"]),
                    "detail": json.loads(row["detail"] or "{}"),
                    "trend": [],
                }
            if len(latest[key]["trend"]) < limit_per_check:
                latest[key]["trend"].insert(0, row["status"])
        return sorted(latest.values(), key=lambda r: (r["table_name"], r["check_name"]))
