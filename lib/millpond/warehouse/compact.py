"""Compaction: give back the space dropped tables leave in the warehouse.

A DuckDB file never shrinks by itself when tables are dropped in its middle: freed
blocks are reused by later writes, but rebuilds that allocate before they free, plus
kept versions, leave the file larger than its data. :func:`measure_waste` reads
``PRAGMA database_size`` (free blocks against all blocks); :func:`compact_duckdb`
rewrites the file while holding the warehouse lease, so no other millpond process is
on it: ``ATTACH`` a new file, ``COPY FROM DATABASE``, compare every table's row count,
then ``os.replace`` it over the old one (a crash before that leaves the old file and a
stray ``.compact`` file, removed by the next compaction).

PostgreSQL gives a dropped table's files back at once; what it accumulates is dead
rows from incremental deletes, which ``VACUUM`` makes reusable (autovacuum does the
same on its own schedule): :func:`compact_postgres`.

``millpond compact [--if-wasteful]`` runs it; the runner runs it at the end of a run
when the file is over ``compaction.min_size_mb`` and its waste over ``compaction.waste``.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from millpond.engines.base import Waste  # noqa: F401 - re-exported: compaction's measure
from millpond.errors import MillpondError

if TYPE_CHECKING:
    from ibis.backends import BaseBackend

    from millpond.workspace import Workspace

MB = 1024 * 1024


@dataclass
class Compacted:
    """What a compaction did."""

    before: int
    after: int
    tables: int

    def __str__(self) -> str:
        return f"compacted the warehouse: {self.before / MB:.1f} MB -> {self.after / MB:.1f} MB ({self.tables} tables)"


def measure_waste(con: BaseBackend) -> Waste:
    """Free space of the warehouse behind ``con``: DuckDB free blocks, PostgreSQL dead rows
    (counted in rows: ``total`` is live + dead rows).

    >>> import ibis
    >>> measure_waste(ibis.duckdb.connect()).ratio
    0.0
    """
    from millpond.engines import engine_for

    return engine_for(con).measure_waste()


def _table_counts(raw, catalog: str) -> dict[str, int]:
    names = raw.execute(
        "SELECT schema_name, table_name FROM duckdb_tables() WHERE database_name = ? AND NOT temporary", [catalog]
    ).fetchall()
    return {f"{s}.{t}": raw.execute(f'SELECT count(*) FROM "{catalog}"."{s}"."{t}"').fetchone()[0] for s, t in names}


@contextmanager
def _leased(path: Path, holder: str, wait: bool) -> Iterator[None]:
    """Hold the warehouse lease of ``path``; without ``wait``, a busy warehouse is an error."""
    from millpond.warehouse.lease import Lease

    lease = Lease(path, holder)
    if wait:
        lease.acquire()
    elif not lease.try_acquire():
        raise MillpondError(f"the warehouse is busy (held by {lease.current_holder()}); run `millpond compact` later")
    try:
        yield
    finally:
        lease.release()


def compact_duckdb(path: Path, holder: str = "millpond compact", *, wait: bool = True) -> Compacted:
    """Rewrite the DuckDB file ``path`` without its free blocks, under the warehouse lease.

    >>> import duckdb, tempfile
    >>> path = Path(tempfile.mkdtemp()) / "w.duckdb"
    >>> raw = duckdb.connect(str(path))
    >>> _ = raw.execute("CREATE TABLE big AS SELECT range AS id FROM range(1000000)")
    >>> _ = raw.execute("CREATE TABLE small AS SELECT 1 AS id"); _ = raw.execute("DROP TABLE big"); raw.close()
    >>> done = compact_duckdb(path)
    >>> done.after < done.before, done.tables
    (True, 1)
    """
    import duckdb

    path = Path(path)
    staging = path.with_name(path.name + ".compact")
    with _leased(path, holder, wait):
        for stray in (staging, Path(f"{staging}.wal")):
            stray.unlink(missing_ok=True)
        raw = duckdb.connect(str(path))
        try:
            raw.execute("CHECKPOINT")
            before = path.stat().st_size
            catalog = raw.execute("SELECT current_database()").fetchone()[0]
            counts = _table_counts(raw, catalog)
            raw.execute(f"ATTACH '{staging}' AS _mp_compacted")
            try:
                raw.execute(f'COPY FROM DATABASE "{catalog}" TO _mp_compacted')
                copied = _table_counts(raw, "_mp_compacted")
            finally:
                raw.execute("DETACH _mp_compacted")
        finally:
            raw.close()
        if copied != counts:
            staging.unlink(missing_ok=True)
            differ = sorted(t for t in counts.keys() | copied.keys() if counts.get(t) != copied.get(t))
            raise MillpondError(f"compaction of {path} stopped: the copy differs in {', '.join(differ)}; the file is unchanged")
        if Path(f"{path}.wal").exists() or Path(f"{staging}.wal").exists():
            staging.unlink(missing_ok=True)
            raise MillpondError(f"compaction of {path} stopped: a write-ahead log is left over; the file is unchanged")
        if staging.stat().st_size >= before:  # the copy is no smaller: keep the file as it is
            staging.unlink(missing_ok=True)
            return Compacted(before, before, len(counts))
        with open(staging, "rb+") as handle:
            os.fsync(handle.fileno())
        os.replace(staging, path)
        return Compacted(before, path.stat().st_size, len(counts))


def compact_postgres(con: BaseBackend) -> Compacted:
    """``VACUUM (ANALYZE)`` the database behind ``con``; sizes are the database's, in bytes."""
    raw = con.con
    autocommit = raw.autocommit
    raw.autocommit = True  # VACUUM cannot run inside a transaction
    try:
        with raw.cursor() as cur:
            cur.execute("SELECT pg_database_size(current_database())")
            before = cur.fetchone()[0]
            cur.execute("SELECT count(*) FROM pg_stat_user_tables")
            tables = cur.fetchone()[0]
            cur.execute("VACUUM (ANALYZE)")
            cur.execute("SELECT pg_database_size(current_database())")
            after = cur.fetchone()[0]
    finally:
        raw.autocommit = autocommit
    return Compacted(int(before), int(after), int(tables))


def compact_workspace(workspace: Workspace, *, if_wasteful: bool = False, holder: str = "millpond compact",
                      wait: bool = True) -> tuple[Waste, Compacted | None]:
    """Compact the workspace's warehouse (only past the ``compaction`` thresholds when
    ``if_wasteful``); returns the waste measured before and what was done (``None``: nothing).
    Without ``wait``, a DuckDB warehouse another process holds is an error instead of a wait."""
    settings = workspace.spec.compaction
    db_file = workspace.duckdb_file()
    if db_file is not None:
        if not db_file.exists():
            raise MillpondError(f"no warehouse file {workspace.relative(db_file)} yet; run a pipeline first")
        waste = duckdb_file_waste(db_file, holder, wait=wait)
        if waste.free_bytes == 0:  # nothing to give back: a rewrite could only cost time, or grow it
            return waste, None
        if if_wasteful and (waste.ratio < settings.waste or db_file.stat().st_size < settings.min_size_mb * MB):
            return waste, None
        return waste, compact_duckdb(db_file, holder, wait=wait)
    from millpond.engines.spark_server import is_spark_url
    from millpond.warehouse.connect import connect

    if is_spark_url(workspace.warehouse_url()):
        raise MillpondError("nothing to compact on Spark: each build writes its table's Parquet files whole "
                            "(millpond compact is for DuckDB and PostgreSQL)")

    con = connect(workspace)
    try:
        waste = measure_waste(con)
        if if_wasteful and waste.ratio < settings.waste:
            return waste, None
        return waste, compact_postgres(con)
    finally:
        con.disconnect()


def duckdb_file_waste(path: Path, holder: str = "millpond compact", *, wait: bool = True) -> Waste:
    """:func:`measure_waste` of a DuckDB file, opened read-only under the lease."""
    import duckdb

    with _leased(Path(path), holder, wait):
        raw = duckdb.connect(str(path), read_only=True)
        try:
            total, free, block = raw.execute(
                "SELECT total_blocks, free_blocks, block_size FROM pragma_database_size() "
                "WHERE database_name = current_database()"
            ).fetchone()
        finally:
            raw.close()
    return Waste(int(total) * int(block), int(free) * int(block))


def compact_after_run(workspace: Workspace) -> str | None:
    """The runner's end-of-run compaction: a line for the run output, or ``None`` when the
    warehouse is not wasteful (or ``compaction.auto`` is off). Never fails the run."""
    if not workspace.spec.compaction.auto:
        return None
    db_file = workspace.duckdb_file()
    if db_file is None or not db_file.exists() or db_file.stat().st_size < workspace.spec.compaction.min_size_mb * MB:
        return None  # PostgreSQL has autovacuum; `millpond compact` vacuums by hand
    try:
        waste, done = compact_workspace(workspace, if_wasteful=True, holder="the runner compacting the warehouse",
                                        wait=False)
    except Exception as exc:  # noqa: BLE001 - a failed compaction leaves the old file; the run is done
        return f"warehouse compaction skipped: {str(exc).strip().splitlines()[0]}"
    return None if done is None else f"{done} (it had {waste})"
