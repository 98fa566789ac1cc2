"""Warnings a stage gives while it runs, in the metadata store.

A stage notebook calls ``ctx.warn(message)`` for something the run should show without
failing: malformed rows of a raw file, for instance, held in quarantine (the file and
its lines named). The runner adds the stage's warnings to its line in ``millpond run``,
and ``millpond runs RUN_ID`` shows them with the stage.

:class:`StageWarningRecords` is mixed into :class:`~millpond.store.metadata.MetadataStore`.

Examples
--------
>>> import tempfile
>>> from millpond.store.metadata import MetadataStore
>>> store = MetadataStore(Path(tempfile.mkdtemp()) / "meta.sqlite")
>>> store.record_warning("r1", "ingest_orders", "data/raw/orders.csv: 1 malformed row, line 3")
>>> store.stage_warnings("r1")
{'ingest_orders': ['data/raw/orders.csv: 1 malformed row, line 3']}
>>> store.stage_warnings("r2")
{}
"""

from __future__ import annotations

import sqlite3
import time
from contextlib import AbstractContextManager
from pathlib import Path  # noqa: F401  (the doctest uses it)

STAGE_WARNINGS_SCHEMA = """
CREATE TABLE IF NOT EXISTS stage_warnings (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    run_id TEXT,
    stage TEXT,
    message TEXT NOT NULL,
    warned_at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS stage_warnings_run ON stage_warnings (run_id);
"""


class StageWarningRecords:
    """Methods of the metadata store for stage warnings."""

    def _connect(self) -> AbstractContextManager[sqlite3.Connection]:  # provided by MetadataStore
        raise NotImplementedError

    def record_warning(self, run_id: str | None, stage: str | None, message: str) -> None:
        """Store one warning of ``stage`` in ``run_id``."""
        with self._connect() as db:
            db.execute(
                "INSERT INTO stage_warnings (run_id, stage, message, warned_at) VALUES (?, ?, ?, ?)",
                (run_id, stage, message, time.time()),
            )

    def stage_warnings(self, run_id: str) -> dict[str, list[str]]:
        """The distinct warnings of each stage of ``run_id``, in the order first given."""
        with self._connect() as db:
            rows = db.execute(
                "SELECT stage, message FROM stage_warnings WHERE run_id = ? ORDER BY id", (run_id,)
            ).fetchall()
        found: dict[str, list[str]] = {}
        for row in rows:  # a retried stage says it again: once is enough
            said = found.setdefault(row["stage"], [])
            if row["message"] not in said:
                said.append(row["message"])
        return found
