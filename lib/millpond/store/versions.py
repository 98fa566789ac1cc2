"""Table versions in the metadata store: one record per build of a table, where its rows are
kept and when they expired (:mod:`millpond.warehouse.versions` keeps the rows themselves).

:class:`VersionRecords` is mixed into :class:`~millpond.store.metadata.MetadataStore`.
"""

from __future__ import annotations

import json
import sqlite3
import time
from contextlib import AbstractContextManager
from dataclasses import dataclass, field

VERSIONS_SCHEMA = """
CREATE TABLE IF NOT EXISTS versions (
    table_name TEXT NOT NULL,
    version INTEGER NOT NULL,
    kind TEXT NOT NULL,
    run_id TEXT,
    stage TEXT,
    built_at REAL NOT NULL,
    rows INTEGER,
    schema TEXT NOT NULL,
    content_hash TEXT,
    location TEXT,
    unique_key TEXT,
    note TEXT,
    expired_at REAL,
    PRIMARY KEY (table_name, version)
);
"""


@dataclass
class TableVersion:
    """One version of a materialized table (see :mod:`millpond.warehouse.versions`).

    ``location`` is the warehouse table holding its rows: the live table itself for the
    latest version (and earlier ones with identical content), a snapshot for older
    ones, ``None`` once retention expired it.
    """

    table_name: str
    version: int
    kind: str
    built_at: float
    rows: int | None
    schema: dict[str, str]
    content_hash: str | None
    location: str | None
    run_id: str | None = None
    stage: str | None = None
    unique_key: list[str] | None = None
    note: str | None = None
    expired_at: float | None = None
    superseded: bool = field(default=False, compare=False)
    """Its rows are the live table's, yet a later version is the live one (an identical
    build, or a rollback to it): set by :meth:`VersionRecords.table_versions`."""

    @property
    def status(self) -> str:
        """``live`` (one version only: the latest the live table holds), ``kept`` (in a
        snapshot, or the same rows as the live version) or ``expired``."""
        if self.location is None:
            return "expired"
        return "live" if self.location == self.table_name and not self.superseded else "kept"


class VersionRecords:
    """Methods of the metadata store for table versions."""

    def _connect(self) -> AbstractContextManager[sqlite3.Connection]:  # provided by MetadataStore
        raise NotImplementedError

    def add_version(
        self, v: TableVersion, *, previous_moved_to: str | None = None, previous_replaced: bool = False
    ) -> TableVersion:
        """Record ``v`` as the table's next version (its number is assigned here) in one
        transaction with what became of the rows the live table held: moved to the snapshot
        ``previous_moved_to``, or replaced (those versions expire)."""
        with self._connect() as db:
            db.execute("BEGIN IMMEDIATE")
            if previous_moved_to:
                db.execute(
                    "UPDATE versions SET location = ? WHERE table_name = ? AND location = table_name",
                    (previous_moved_to, v.table_name),
                )
            elif previous_replaced:
                db.execute(
                    "UPDATE versions SET location = NULL, expired_at = ?, note = COALESCE(note, ?)"
                    " WHERE table_name = ? AND location = table_name",
                    (time.time(), "replaced in place, not kept (retain 1)", v.table_name),
                )
            top = db.execute(
                "SELECT COALESCE(MAX(version), 0) FROM versions WHERE table_name = ?", (v.table_name,)
            ).fetchone()
            v.version = top[0] + 1
            db.execute(
                "INSERT INTO versions (table_name, version, kind, run_id, stage, built_at, rows, schema, content_hash,"
                " location, unique_key, note) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    v.table_name,
                    v.version,
                    v.kind,
                    v.run_id,
                    v.stage,
                    v.built_at,
                    v.rows,
                    json.dumps(v.schema),
                    v.content_hash,
                    v.location,
                    json.dumps(v.unique_key) if v.unique_key else None,
                    v.note,
                ),
            )
            db.execute("COMMIT")
        return v

    def table_versions(self, table_name: str) -> list[TableVersion]:
        """Every recorded version of ``table_name``, oldest first (expired ones included)."""
        with self._connect() as db:
            rows = db.execute("SELECT * FROM versions WHERE table_name = ? ORDER BY version", (table_name,)).fetchall()
        versions = [
            TableVersion(
                **{
                    **dict(r),
                    "schema": json.loads(r["schema"]),
                    "unique_key": json.loads(r["unique_key"]) if r["unique_key"] else None,
                }
            )
            for r in rows
        ]
        live = [v for v in versions if v.location == table_name]
        for v in live[:-1]:
            v.superseded = True
        return versions

    def expire_versions(self, table_name: str, versions: list[int], note: str) -> None:
        """Mark ``versions`` expired: their rows are no longer kept (the records stay)."""
        with self._connect() as db:
            db.executemany(
                "UPDATE versions SET location = NULL, expired_at = ?, note = COALESCE(note, ?)"
                " WHERE table_name = ? AND version = ?",
                [(time.time(), note, table_name, n) for n in versions],
            )
