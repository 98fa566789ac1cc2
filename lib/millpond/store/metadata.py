"""Run history and materialization records in a SQLite file inside the workspace.

SQLite in WAL mode is safe for the several processes that write here at once (the
runner and each stage's kernel); each call opens a short-lived connection.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from millpond.secrets import resolved
from millpond.store.checks import CHECKS_SCHEMA, CheckRecords
from millpond.store.monitoring import MONITORING_SCHEMA, MonitoringRecords
from millpond.store.pending import PENDING_SCHEMA, UNPUBLISHED, PendingBuildRecords
from millpond.store.reads import STAGE_READS_SCHEMA, StageReadRecords
from millpond.store.runs import FINISHED_OK, RUNS_SCHEMA, RunRecords, new_run_id  # noqa: F401 (FINISHED_OK, new_run_id: re-exported)
from millpond.store.stage_warnings import STAGE_WARNINGS_SCHEMA, StageWarningRecords
from millpond.store.table_sql import TABLE_SQL_SCHEMA, TableSqlRecords
from millpond.store.versions import VERSIONS_SCHEMA, TableVersion, VersionRecords  # noqa: F401 (TableVersion: re-exported)

SCHEMA = """
CREATE TABLE IF NOT EXISTS materializations (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    run_id TEXT,
    stage TEXT,
    table_name TEXT NOT NULL,
    kind TEXT NOT NULL,
    rows INTEGER,
    schema TEXT NOT NULL,
    duration REAL NOT NULL,
    fingerprint TEXT NOT NULL,
    built_at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS materializations_table ON materializations (table_name, id);
CREATE TABLE IF NOT EXISTS file_hashes (
    path TEXT PRIMARY KEY,
    size INTEGER NOT NULL,
    mtime_ns INTEGER NOT NULL,
    sha256 TEXT NOT NULL
);
"""


@dataclass
class Materialization:
    """One recorded build of a table."""

    table_name: str
    kind: str
    rows: int | None
    schema: dict[str, str]
    duration: float
    fingerprint: str
    run_id: str | None
    stage: str | None
    built_at: float
    id: int | None = None
    """The build's number in the store (set when read back): one per build, never reused."""


class _RedactingConnection(sqlite3.Connection):
    """A store connection that masks every secret value this process resolved
    (:func:`millpond.secrets.resolved`: a kernel after ``ctx.secret``) in what it writes:
    a value that reached compiled SQL, a check's sample, a warning or a profile is stored
    as ``[secret:NAME]``."""

    def execute(self, sql: str, parameters: Any = (), /) -> sqlite3.Cursor:
        redactor = resolved()
        return super().execute(sql, redactor.data(parameters) if redactor and parameters else parameters)

    def executemany(self, sql: str, rows: Any, /) -> sqlite3.Cursor:
        redactor = resolved()
        return super().executemany(sql, [redactor.data(row) for row in rows] if redactor else rows)


_CONNECTIONS = threading.local()
"""Per thread: the open connection to each store file, with the file's inode."""


class MetadataStore(
    RunRecords,
    VersionRecords,
    CheckRecords,
    MonitoringRecords,
    TableSqlRecords,
    StageReadRecords,
    StageWarningRecords,
    PendingBuildRecords,
):
    """The workspace's metadata database.

    Examples
    --------
    >>> import tempfile
    >>> store = MetadataStore(Path(tempfile.mkdtemp()) / "meta.sqlite")
    >>> store.start_run("r1", "shop", {"run_date": "2024-01-31"}, ["a"])
    >>> store.set_stage("r1", "a", status="success", fingerprint="f1")
    >>> store.finish_run("r1", "success")
    >>> store.last_success_fingerprint("shop", "a")
    'f1'
    """

    def __init__(self, path: Path):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self._connect() as db:
            db.executescript(
                RUNS_SCHEMA
                + SCHEMA
                + VERSIONS_SCHEMA
                + CHECKS_SCHEMA
                + MONITORING_SCHEMA
                + TABLE_SQL_SCHEMA
                + STAGE_READS_SCHEMA
                + STAGE_WARNINGS_SCHEMA
                + PENDING_SCHEMA
            )
            if "resources" not in {row["name"] for row in db.execute("PRAGMA table_info(runs)")}:
                db.execute("ALTER TABLE runs ADD COLUMN resources TEXT")  # stores made before it existed
            if "detail" not in {row["name"] for row in db.execute("PRAGMA table_info(check_results)")}:
                db.execute("ALTER TABLE check_results ADD COLUMN detail TEXT")  # nor this

    @contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        """This thread's connection to the store, opened once (about 0.5 ms each time saved:
        a no-change run asks the store a few hundred questions). It is reopened when the
        file was replaced or removed since, so nothing is ever written to a deleted file."""
        try:
            inode = self.path.stat().st_ino
        except FileNotFoundError:
            inode = None
        cached = getattr(_CONNECTIONS, "by_path", {}).get(self.path)
        if cached is not None and cached[1] == inode and inode is not None:
            db = cached[0]
        else:
            db = self._open(cached)
        try:
            yield db
        finally:
            if db.in_transaction:  # what closing the connection did before: roll back the unfinished
                db.rollback()

    def _open(self, cached: tuple[sqlite3.Connection, int] | None) -> sqlite3.Connection:
        if cached is not None:
            cached[0].close()
        db = sqlite3.connect(
            self.path, timeout=60, isolation_level=None, check_same_thread=True, factory=_RedactingConnection
        )
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=NORMAL")  # with WAL: durable across crashes of any process
        db.execute("PRAGMA busy_timeout=60000")
        db.row_factory = sqlite3.Row
        if not hasattr(_CONNECTIONS, "by_path"):
            _CONNECTIONS.by_path = {}
        _CONNECTIONS.by_path[self.path] = (db, self.path.stat().st_ino)
        return db

    # -- materializations -------------------------------------------------------
    def record_materialization(self, m: Materialization) -> int:
        """Record build ``m``; returns its id."""
        with self._connect() as db:
            return db.execute(
                "INSERT INTO materializations (run_id, stage, table_name, kind, rows, schema, duration, fingerprint, built_at)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    m.run_id,
                    m.stage,
                    m.table_name,
                    m.kind,
                    m.rows,
                    json.dumps(m.schema),
                    m.duration,
                    m.fingerprint,
                    m.built_at,
                ),
            ).lastrowid

    def latest_materialization(self, table_name: str) -> Materialization | None:
        with self._connect() as db:
            row = db.execute(
                f"SELECT * FROM materializations WHERE table_name = ? AND {UNPUBLISHED} ORDER BY id DESC LIMIT 1",
                (table_name,),
            ).fetchone()
        if row is None:
            return None
        return _materialization(row)

    def latest_materializations(self) -> dict[str, Materialization]:
        """The latest recorded build of every table, by table name (one query)."""
        with self._connect() as db:
            rows = db.execute(
                "SELECT * FROM materializations WHERE id IN (SELECT MAX(id) FROM materializations"
                f" WHERE {UNPUBLISHED} GROUP BY table_name)"
                " ORDER BY table_name"
            ).fetchall()
        return {r["table_name"]: _materialization(r) for r in rows}

    def build_history(self, limit_per_table: int = 30) -> dict[str, list[dict[str, Any]]]:
        """The recent builds of every table, oldest first: ``run_id``, ``rows``, ``built_at``, ``duration``."""
        with self._connect() as db:
            rows = db.execute(
                "SELECT table_name, run_id, rows, built_at, duration FROM materializations ORDER BY id DESC"
            ).fetchall()
        history: dict[str, list[dict[str, Any]]] = {}
        for row in rows:
            builds = history.setdefault(row["table_name"], [])
            if len(builds) < limit_per_table:
                builds.insert(0, {k: row[k] for k in ("run_id", "rows", "built_at", "duration")})
        return history

    def materializations(self, run_id: str, stage: str | None = None) -> list[dict[str, Any]]:
        query = "SELECT * FROM materializations WHERE run_id = ?" + (" AND stage = ?" if stage else "") + " ORDER BY id"
        with self._connect() as db:
            rows = db.execute(query, (run_id, stage) if stage else (run_id,)).fetchall()
        return [dict(r) for r in rows]

    # -- raw file hashes ---------------------------------------------------------
    def cached_hash(self, path: str, size: int, mtime_ns: int) -> str | None:
        with self._connect() as db:
            row = db.execute(
                "SELECT sha256 FROM file_hashes WHERE path = ? AND size = ? AND mtime_ns = ?", (path, size, mtime_ns)
            ).fetchone()
        return row[0] if row else None

    def store_hash(self, path: str, size: int, mtime_ns: int, sha256: str) -> None:
        with self._connect() as db:
            db.execute(
                "INSERT OR REPLACE INTO file_hashes (path, size, mtime_ns, sha256) VALUES (?, ?, ?, ?)",
                (path, size, mtime_ns, sha256),
            )


def _materialization(row: sqlite3.Row) -> Materialization:
    """A ``materializations`` row as a :class:`Materialization`."""
    values = {f.name: row[f.name] for f in fields(Materialization) if f.name != "schema"}
    return Materialization(**values, schema=json.loads(row["schema"]))
