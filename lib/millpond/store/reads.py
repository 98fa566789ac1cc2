"""What each stage execution read, in the metadata store.

``ctx.table`` under the runner records every table a stage reads together with the build
of it that was read (the id of its latest recorded materialization). The runner reruns a
stage when a table its last execution read has had another build since, so a stage is
never skipped over a changed input, even one that its ``needs`` do not cover (a table of
another pipeline, say).

:class:`StageReadRecords` is mixed into :class:`~millpond.store.metadata.MetadataStore`.

Examples
--------
>>> import tempfile
>>> from millpond.store.metadata import MetadataStore
>>> store = MetadataStore(Path(tempfile.mkdtemp()) / "meta.sqlite")
>>> store.start_run("r1", "shop", {}, ["clean"])
>>> store.record_read("r1", "shop", "clean", "bronze.orders", 7)
>>> store.set_stage("r1", "clean", status="success", finished_at=1.0)
>>> store.reads_of_last_execution("shop", "clean")
{'bronze.orders': 7}
"""

from __future__ import annotations

import sqlite3
from contextlib import AbstractContextManager
from pathlib import Path  # noqa: F401  (the doctest uses it)

STAGE_READS_SCHEMA = """
CREATE TABLE IF NOT EXISTS stage_reads (
    run_id TEXT NOT NULL,
    pipeline TEXT NOT NULL,
    stage TEXT NOT NULL,
    table_name TEXT NOT NULL,
    build_id INTEGER,
    PRIMARY KEY (run_id, stage, table_name)
);
"""


class StageReadRecords:
    """Methods of the metadata store for the tables stages read."""

    def _connect(self) -> AbstractContextManager[sqlite3.Connection]:  # provided by MetadataStore
        raise NotImplementedError

    def record_read(self, run_id: str, pipeline: str, stage: str, table: str, build_id: int | None) -> None:
        """``stage`` of ``run_id`` read build ``build_id`` of ``table`` (the first read counts)."""
        with self._connect() as db:
            db.execute(
                "INSERT OR IGNORE INTO stage_reads (run_id, pipeline, stage, table_name, build_id)"
                " VALUES (?, ?, ?, ?, ?)",
                (run_id, pipeline, stage, table, build_id),
            )

    def reads_of_last_execution(self, pipeline: str, stage: str) -> dict[str, int | None]:
        """The builds the stage's last successful execution (not a skip) read, by table."""
        with self._connect() as db:
            last = db.execute(
                "SELECT s.run_id FROM stage_runs s JOIN runs r USING (run_id) WHERE r.pipeline = ? AND s.stage = ?"
                " AND s.status = 'success' ORDER BY s.finished_at DESC LIMIT 1",
                (pipeline, stage),
            ).fetchone()
            if last is None:
                return {}
            rows = db.execute(
                "SELECT table_name, build_id FROM stage_reads WHERE run_id = ? AND stage = ?", (last[0], stage)
            ).fetchall()
        return {table: build for table, build in rows}
