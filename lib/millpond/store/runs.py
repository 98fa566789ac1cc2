"""Runs and their stages in the metadata store: the run history.

:class:`RunRecords` is mixed into :class:`~millpond.store.metadata.MetadataStore`. A run
still ``running`` whose process is gone (killed, crashed) reads as ``interrupted`` at once
(:meth:`RunRecords.close_dead_runs`).

Examples
--------
>>> import tempfile
>>> from millpond.store.metadata import MetadataStore
>>> store = MetadataStore(Path(tempfile.mkdtemp()) / "meta.sqlite")
>>> store.start_run("r1", "shop", {"run_date": "2024-01-31"}, ["a"])
>>> store.set_stage("r1", "a", status="success", fingerprint="f1")
>>> store.run("r1")["status"]   # this process runs it
'running'
>>> store.finish_run("r1", "success")
>>> store.last_success_fingerprint("shop", "a")
'f1'
"""

from __future__ import annotations

import json
import os
import secrets
import sqlite3
import time
from contextlib import AbstractContextManager
from pathlib import Path  # noqa: F401  (the doctest uses it)
from typing import Any

from millpond.processes import is_alive, started_at

RUNS_SCHEMA = """
CREATE TABLE IF NOT EXISTS runs (
    run_id TEXT PRIMARY KEY,
    pipeline TEXT NOT NULL,
    params TEXT NOT NULL,
    status TEXT NOT NULL,
    started_at REAL NOT NULL,
    finished_at REAL,
    selected TEXT NOT NULL,
    resumed_from TEXT,
    forced INTEGER NOT NULL DEFAULT 0,
    warehouse TEXT,
    pid INTEGER
);
CREATE TABLE IF NOT EXISTS stage_runs (
    run_id TEXT NOT NULL,
    stage TEXT NOT NULL,
    status TEXT NOT NULL,
    fingerprint TEXT,
    started_at REAL,
    finished_at REAL,
    attempts INTEGER NOT NULL DEFAULT 0,
    rows_written INTEGER,
    error TEXT,
    notebook TEXT,
    html TEXT,
    PRIMARY KEY (run_id, stage)
);
"""

FINISHED_OK = ("success", "skipped")


def new_run_id() -> str:
    """A sortable, unique run id such as ``20240131T120000-3f9a``."""
    return time.strftime("%Y%m%dT%H%M%S", time.gmtime()) + "-" + secrets.token_hex(2)


class RunRecords:
    """Methods of the metadata store for runs and stage runs."""

    def _connect(self) -> AbstractContextManager[sqlite3.Connection]:  # provided by MetadataStore
        raise NotImplementedError

    def start_run(
        self,
        run_id: str,
        pipeline: str,
        params: dict[str, Any],
        selected: list[str],
        *,
        resumed_from: str | None = None,
        forced: bool = False,
        warehouse: str | None = None,
        resources: dict[str, Any] | None = None,
    ) -> None:
        with self._connect() as db:
            db.execute(
                "INSERT INTO runs (run_id, pipeline, params, status, started_at, selected, resumed_from, forced,"
                " warehouse, pid, resources) VALUES (?, ?, ?, 'running', ?, ?, ?, ?, ?, ?, ?)",
                (
                    run_id,
                    pipeline,
                    json.dumps(params, sort_keys=True),
                    time.time(),
                    json.dumps(selected),
                    resumed_from,
                    int(forced),
                    warehouse,
                    os.getpid(),
                    json.dumps(resources or {}, sort_keys=True),
                ),
            )
            db.executemany(
                "INSERT INTO stage_runs (run_id, stage, status) VALUES (?, ?, 'pending')",
                [(run_id, s) for s in selected],
            )

    def finish_run(self, run_id: str, status: str) -> None:
        with self._connect() as db:
            db.execute("UPDATE runs SET status = ?, finished_at = ? WHERE run_id = ?", (status, time.time(), run_id))

    def set_stage(self, run_id: str, stage: str, **fields: Any) -> None:
        """Update columns of one stage run (status, fingerprint, times, error, ...)."""
        if not fields:
            return
        columns = ", ".join(f"{k} = ?" for k in fields)
        with self._connect() as db:
            db.execute(
                f"UPDATE stage_runs SET {columns} WHERE run_id = ? AND stage = ?", (*fields.values(), run_id, stage)
            )

    def run(self, run_id: str) -> dict[str, Any] | None:
        self.close_dead_runs()
        with self._connect() as db:
            row = db.execute("SELECT * FROM runs WHERE run_id = ?", (run_id,)).fetchone()
        return _run_dict(row) if row else None

    def runs(self, limit: int = 20, pipeline: str | None = None) -> list[dict[str, Any]]:
        """Most recent runs first, each with counts of stages run/skipped/failed."""
        query = (
            "SELECT * FROM runs"
            + (" WHERE pipeline = ?" if pipeline else "")
            + " ORDER BY started_at DESC, run_id DESC LIMIT ?"
        )
        args: tuple = (pipeline, limit) if pipeline else (limit,)
        self.close_dead_runs()
        with self._connect() as db:
            rows = db.execute(query, args).fetchall()
            result = []
            for row in rows:
                item = _run_dict(row)
                counts = dict(
                    db.execute(
                        "SELECT status, COUNT(*) FROM stage_runs WHERE run_id = ? GROUP BY status", (row["run_id"],)
                    ).fetchall()
                )
                item["counts"] = counts
                result.append(item)
        return result

    def stage_runs(self, run_id: str) -> list[dict[str, Any]]:
        with self._connect() as db:
            rows = db.execute(
                "SELECT * FROM stage_runs WHERE run_id = ? ORDER BY started_at IS NULL, started_at, stage", (run_id,)
            ).fetchall()
        return [dict(r) for r in rows]

    def last_success_fingerprint(self, pipeline: str, stage: str) -> str | None:
        """Fingerprint of the stage's last successful execution (skips carry it forward)."""
        with self._connect() as db:
            row = db.execute(
                "SELECT s.fingerprint FROM stage_runs s JOIN runs r USING (run_id)"
                " WHERE r.pipeline = ? AND s.stage = ? AND s.status IN ('success', 'skipped')"
                " AND s.fingerprint IS NOT NULL ORDER BY s.finished_at DESC LIMIT 1",
                (pipeline, stage),
            ).fetchone()
        return row[0] if row else None

    def last_successes(self) -> dict[str, dict[str, str]]:
        """By pipeline, by stage: the fingerprint of the stage's last successful execution."""
        with self._connect() as db:
            rows = db.execute(
                "SELECT r.pipeline, s.stage, s.fingerprint FROM stage_runs s JOIN runs r USING (run_id)"
                " WHERE s.status IN ('success', 'skipped') AND s.fingerprint IS NOT NULL ORDER BY s.finished_at"
            ).fetchall()
        found: dict[str, dict[str, str]] = {}
        for pipeline, stage, fingerprint in rows:
            found.setdefault(pipeline, {})[stage] = fingerprint
        return found

    def close_dead_runs(self) -> list[str]:
        """Mark ``interrupted`` each run still ``running`` whose process is gone (killed,
        crashed): what reads the history sees it at once, not when the next run starts.
        A pid taken since by a later process does not count as the run's."""
        with self._connect() as db:
            running = db.execute("SELECT run_id, pid, started_at FROM runs WHERE status = 'running'").fetchall()
        dead = []
        for run_id, pid, run_started in running:
            began = started_at(pid) if pid else None
            if not (pid and is_alive(pid) and (began is None or began <= run_started + 1.0)):
                dead.append(run_id)
        self._interrupt(dead)
        return dead

    def _interrupt(self, ids: list[str]) -> None:
        with self._connect() as db:
            for run_id in ids:
                db.execute("UPDATE runs SET status = 'interrupted' WHERE run_id = ? AND status = 'running'", (run_id,))
                db.execute(
                    "UPDATE stage_runs SET status = 'failed', error = 'the run was interrupted'"
                    " WHERE run_id = ? AND status IN ('pending', 'running')",
                    (run_id,),
                )

    def close_abandoned_runs(self) -> list[str]:
        """Mark runs still ``running`` as ``interrupted``; call only while holding the run lock
        (then no other run is alive: these died, e.g. killed). Returns their ids."""
        with self._connect() as db:
            ids = [r[0] for r in db.execute("SELECT run_id FROM runs WHERE status = 'running'").fetchall()]
        self._interrupt(ids)
        return ids


def _run_dict(row: sqlite3.Row) -> dict[str, Any]:
    item = dict(row)
    item["params"] = json.loads(item["params"])
    item["selected"] = json.loads(item["selected"])
    item["resources"] = json.loads(item.get("resources") or "{}")
    return item
