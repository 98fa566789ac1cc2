"""Builds waiting to be published, in the metadata store.

A table of a run's ``publish_together`` group is built under a staged name
(:mod:`millpond.warehouse.staging`); its materialization is recorded as usual, and a
row here says where its rows wait. The runner publishes them all at the end of a
successful run and deletes the rows. A build whose row is still here after its run ended
(failed, interrupted, killed) was never published: :data:`UNPUBLISHED` leaves it out of
"the latest build" of its table, so the stage that made it runs again.

:class:`PendingBuildRecords` is mixed into :class:`~millpond.store.metadata.MetadataStore`.

Examples
--------
>>> import tempfile
>>> from millpond.store.metadata import Materialization, MetadataStore
>>> store = MetadataStore(Path(tempfile.mkdtemp()) / "meta.sqlite")
>>> store.start_run("r1", "shop", {}, ["build"])
>>> build = store.record_materialization(Materialization(
...     table_name="gold.t", kind="table", rows=3, schema={"id": "int64"}, duration=0.1,
...     fingerprint="f1", run_id="r1", stage="build", built_at=1.0))
>>> store.record_pending(build, "r1", "gold.t", "gold._mp_pending_0123abcd_t", unique_key=None)
>>> store.staged_location("r1", "gold.t"), store.latest_materialization("gold.t").fingerprint
('gold._mp_pending_0123abcd_t', 'f1')
>>> store.finish_run("r1", "failed")   # never published: no longer the table's latest build
>>> store.latest_materialization("gold.t") is None, store.unpublished_stages("r1")
(True, {'build'})
"""

from __future__ import annotations

import json
import sqlite3
from contextlib import AbstractContextManager
from pathlib import Path  # noqa: F401  (the doctest uses it)
from typing import Any

PENDING_SCHEMA = """
CREATE TABLE IF NOT EXISTS pending_builds (
    materialization_id INTEGER PRIMARY KEY,
    run_id TEXT NOT NULL,
    table_name TEXT NOT NULL,
    staged TEXT NOT NULL,
    unique_key TEXT
);
CREATE INDEX IF NOT EXISTS pending_builds_by_run ON pending_builds (run_id, table_name);
"""

UNPUBLISHED = (
    "id NOT IN (SELECT p.materialization_id FROM pending_builds p JOIN runs r ON r.run_id = p.run_id"
    " WHERE r.status <> 'running')"
)
"""A ``WHERE`` condition on ``materializations``: leaves out builds whose run ended unpublished."""


class PendingBuildRecords:
    """Methods of the metadata store for builds waiting to be published."""

    def _connect(self) -> AbstractContextManager[sqlite3.Connection]:  # provided by MetadataStore
        raise NotImplementedError

    def record_pending(
        self, materialization_id: int, run_id: str, table: str, staged: str, *, unique_key: list[str] | None
    ) -> None:
        """Build ``materialization_id`` of ``table`` waits under the name ``staged``."""
        with self._connect() as db:
            db.execute(
                "INSERT OR REPLACE INTO pending_builds (materialization_id, run_id, table_name, staged, unique_key)"
                " VALUES (?, ?, ?, ?, ?)",
                (materialization_id, run_id, table, staged, json.dumps(unique_key) if unique_key else None),
            )

    def staged_location(self, run_id: str | None, table: str) -> str | None:
        """Where ``run_id``'s unpublished build of ``table`` is (``layer.name``), if it made one."""
        if not run_id:
            return None
        with self._connect() as db:
            row = db.execute(
                "SELECT staged FROM pending_builds WHERE run_id = ? AND table_name = ?"
                " ORDER BY materialization_id DESC LIMIT 1",
                (run_id, table),
            ).fetchone()
        return row[0] if row else None

    def pending_builds(self, run_id: str) -> list[dict[str, Any]]:
        """``run_id``'s builds waiting to be published, the latest of each table, with their
        materialization (``table_name``, ``staged``, ``kind``, ``rows``, ``schema``, ``stage``, ``unique_key``)."""
        with self._connect() as db:
            rows = db.execute(
                "SELECT p.table_name, p.staged, p.unique_key, m.kind, m.rows, m.schema, m.stage FROM pending_builds p"
                " JOIN materializations m ON m.id = p.materialization_id WHERE p.run_id = ?"
                " AND p.materialization_id IN (SELECT MAX(materialization_id) FROM pending_builds WHERE run_id = ?"
                " GROUP BY table_name) ORDER BY p.table_name",
                (run_id, run_id),
            ).fetchall()
        return [
            dict(r) | {"schema": json.loads(r["schema"]), "unique_key": json.loads(r["unique_key"] or "null")}
            for r in rows
        ]

    def published(self, run_id: str) -> None:
        """``run_id``'s staged builds are now the live tables."""
        with self._connect() as db:
            db.execute("DELETE FROM pending_builds WHERE run_id = ?", (run_id,))

    def unpublished_stages(self, run_id: str) -> set[str]:
        """Stages of ``run_id`` that built a table never published (``--resume`` reruns them)."""
        with self._connect() as db:
            rows = db.execute(
                "SELECT DISTINCT m.stage FROM pending_builds p JOIN materializations m"
                " ON m.id = p.materialization_id WHERE p.run_id = ?",
                (run_id,),
            ).fetchall()
        return {r[0] for r in rows}

    def unpublished_build_of(self, table: str, after: int | None) -> str | None:
        """The run whose unpublished build of ``table`` is newer than build ``after``, if any."""
        with self._connect() as db:
            row = db.execute(
                f"SELECT run_id FROM materializations WHERE table_name = ? AND id > ? AND NOT {UNPUBLISHED}"
                " ORDER BY id DESC LIMIT 1",
                (table, after or 0),
            ).fetchone()
        return row[0] if row else None
