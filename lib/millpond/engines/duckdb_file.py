"""The DuckDB warehouse as one file: what millpond does to it without an Ibis connection.

These open the file with the ``duckdb`` module itself (read-only where they only look),
so a no-change run, the catalog's sizes and compaction never import Ibis. The caller
holds the warehouse lease (:mod:`millpond.warehouse.lease`) while they run.

Compaction: a DuckDB file never shrinks when tables are dropped in its middle; freed
blocks are reused by later writes, but rebuilds that allocate before they free, plus
kept versions, leave the file larger than its data. :func:`compact_file` ``ATTACH``-es a
new file, ``COPY FROM DATABASE``, compares every table's row count, then ``os.replace``-s
it over the old one (a crash before that leaves the old file and a stray ``.compact``
file, removed by the next compaction).
"""

from __future__ import annotations

import os
from pathlib import Path

from millpond.engines.base import Compacted, Waste
from millpond.errors import MillpondError

TABLES_QUERY = (
    "SELECT table_schema || '.' || table_name FROM information_schema.tables "
    "WHERE table_schema NOT IN ('information_schema', 'pg_catalog')"
)


def file_tables(path: Path) -> set[str]:
    """``{"schema.table", ...}`` for every table and view of the file."""
    import duckdb

    con = duckdb.connect(str(path), read_only=True)
    try:
        return {row[0] for row in con.execute(TABLES_QUERY).fetchall()}
    finally:
        con.close()


def file_table_sizes(path: Path, names: list[str]) -> dict[str, int]:
    """:func:`table_sizes` of the file (empty when it is missing or unreadable)."""
    import duckdb

    if not Path(path).is_file():
        return {}
    try:
        con = duckdb.connect(str(path), read_only=True)
        try:
            return table_sizes(con, names)
        finally:
            con.close()
    except duckdb.Error:
        return {}


def table_sizes(con, names: list[str]) -> dict[str, int]:
    """Bytes each table among ``names`` occupies on the DuckDB connection ``con``'s file.

    Small tables share storage blocks (256 kB each), so whole blocks would say 262.1 kB
    for most of them. A segment's bytes are read from where it starts in its block to where
    the next segment of the block starts; the last one of a shared block, to the block's
    end but no more than the block's largest other segment (the rest is free space a later
    write fills); a segment alone in its block, and the blocks it continues on, count whole.

    >>> import duckdb
    >>> con = duckdb.connect()
    >>> _ = con.execute("CREATE SCHEMA g; CREATE TABLE g.t AS SELECT 1 AS a; CREATE VIEW g.v AS SELECT 1 AS a")
    >>> table_sizes(con, ["g.t", "g.v", "g.missing"])  # in memory: nothing written to blocks
    {'g.t': 0}
    """
    wanted = set(names)
    tables = con.execute(
        "SELECT schema_name, table_name FROM duckdb_tables() WHERE NOT internal AND NOT temporary"
        " AND database_name = current_database()"
    ).fetchall()
    block = int(con.execute("SELECT block_size FROM pragma_database_size()").fetchone()[0])
    segments: dict[int, list[tuple[int, str]]] = {}  # block: (offset, table) of every table's segments
    sizes: dict[str, int] = {}
    for schema, table in tables:
        name = f"{schema}.{table}"
        if name in wanted:
            sizes[name] = 0
        rows = con.execute(
            f"SELECT block_id, block_offset, len(additional_block_ids) FROM pragma_storage_info('{schema}.{table}')"  # noqa: S608
            " WHERE block_id >= 0 AND persistent"  # -1: a constant segment, no block
        ).fetchall()
        for block_id, offset, more in rows:
            segments.setdefault(int(block_id), []).append((int(offset), name))
            if name in wanted:
                sizes[name] += int(more or 0) * block
    for placed in segments.values():
        placed.sort()
        lengths = [nxt[0] - here[0] for here, nxt in zip(placed, placed[1:])]
        tail = block - placed[-1][0]
        lengths.append(min(tail, max(lengths)) if lengths else tail)
        for (_, name), length in zip(placed, lengths):
            if name in sizes:
                sizes[name] += length
    return sizes


def file_waste(path: Path) -> Waste:
    """Free blocks against all blocks of the file, in bytes."""
    import duckdb

    raw = duckdb.connect(str(path), read_only=True)
    try:
        total, free, block = raw.execute(
            "SELECT total_blocks, free_blocks, block_size FROM pragma_database_size() "
            "WHERE database_name = current_database()"
        ).fetchone()
    finally:
        raw.close()
    return Waste(int(total) * int(block), int(free) * int(block))


def compact_file(path: Path) -> Compacted:
    """Rewrite the file ``path`` without its free blocks (see the module docstring).

    >>> import duckdb, tempfile
    >>> path = Path(tempfile.mkdtemp()) / "w.duckdb"
    >>> raw = duckdb.connect(str(path))
    >>> _ = raw.execute("CREATE TABLE big AS SELECT range AS id FROM range(1000000)")
    >>> _ = raw.execute("CREATE TABLE small AS SELECT 1 AS id"); _ = raw.execute("DROP TABLE big"); raw.close()
    >>> done = compact_file(path)
    >>> done.after < done.before, done.tables
    (True, 1)
    """
    import duckdb

    path = Path(path)
    staging = path.with_name(path.name + ".compact")
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
        raise MillpondError(
            f"compaction of {path} stopped: the copy differs in {', '.join(differ)}; the file is unchanged"
        )
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


def _table_counts(raw, catalog: str) -> dict[str, int]:
    names = raw.execute(
        "SELECT schema_name, table_name FROM duckdb_tables() WHERE database_name = ? AND NOT temporary", [catalog]
    ).fetchall()
    return {f"{s}.{t}": raw.execute(f'SELECT count(*) FROM "{catalog}"."{s}"."{t}"').fetchone()[0] for s, t in names}
