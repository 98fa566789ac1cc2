"""Where a stream keeps what it commits, and the one transaction that commits a micro-batch.

Per stream ``NAME`` with sink ``layer.table``:

- ``layer.table``: the closed windows (keys, ``window_start``, ``window_end``, the aggregates,
  ``_revision``: how many corrections it took, ``_emitted_at``);
- ``layer.table_late``: every event that did not count in a window, with its reason (``late``
  for a closed window, ``malformed``, ``no_event_time``, ``unreadable_file``), its partition
  and offset (``source_partition``, ``source_offset``) and the event itself as JSON, and ``corrected`` when it corrected its window;
- ``layer.table_live``: a view of the closed windows (``final``) and the open ones;
- ``_millpond.stream_NAME_state``: the open windows only (their partial aggregates);
- ``_millpond.stream_offsets``: the offset reached in each partition of the source;
- ``_millpond.stream_progress``: one row per stream (batches, events, late, windows emitted,
  the latest event time and the watermark); ``_millpond.stream_batches``: the last
  :data:`KEEP_BATCHES` micro-batches (events, seconds, lag), for ``millpond stream status`` and
  the quality report.

:func:`commit_batch` writes them all in one transaction: after a crash they are all as the
last committed batch left them, so the batch is redone from the same offsets, whole.

>>> StreamTables("clicks", "gold.clicks_per_minute").late
'gold.clicks_per_minute_late'
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

import ibis
import pyarrow as pa

from millpond.engines import create_table_as, engine_for
from millpond.engines.base import sql_literal
from millpond.warehouse.incremental import drop_stale_staging
from millpond.warehouse.incremental_strategies import staging_name
from millpond.warehouse.sql import ensure_schema, quote, run_in_transaction, split_name

if TYPE_CHECKING:
    from ibis.backends import BaseBackend

KEEP_BATCHES = 1000
TIME_COLUMNS = ("window_start", "window_end", "_last")
OFFSETS = {"stream": pa.string(), "source_partition": pa.string(), "source_offset": pa.string()}
PROGRESS = {
    "stream": pa.string(),
    "batches": pa.int64(),
    "events": pa.int64(),
    "late": pa.int64(),
    "emitted": pa.int64(),
    "max_event_time": pa.timestamp("us"),
    "watermark": pa.timestamp("us"),
    "committed_at": pa.timestamp("us"),
}
BATCHES = {
    "stream": pa.string(),
    "batch": pa.int64(),
    "events": pa.int64(),
    "late": pa.int64(),
    "emitted": pa.int64(),
    "seconds": pa.float64(),
    "lag_seconds": pa.float64(),
    "watermark": pa.timestamp("us"),
    "committed_at": pa.timestamp("us"),
}
LATE = {
    "source_partition": pa.string(),
    "source_offset": pa.string(),
    "event_time": pa.timestamp("us"),
    "window_start": pa.timestamp("us"),
    "window_end": pa.timestamp("us"),
    "watermark": pa.timestamp("us"),
    "reason": pa.string(),
    "detail": pa.string(),
    "event": pa.string(),
    "corrected": pa.bool_(),
}


@dataclass(frozen=True)
class StreamTables:
    """The tables of stream ``stream`` (a replay's have a ``suffix`` of their own)."""

    stream: str
    sink: str
    suffix: str = ""

    @property
    def id(self) -> str:
        return self.stream + self.suffix

    @property
    def output(self) -> str:
        return self.sink + self.suffix

    @property
    def late(self) -> str:
        return f"{self.sink}{self.suffix}_late"

    @property
    def live(self) -> str:
        return f"{self.sink}{self.suffix}_live"

    @property
    def state(self) -> str:
        return f"_millpond.stream_{self.id}_state"


def as_arrow(rows: dict[str, list], types: dict[str, pa.DataType]) -> pa.Table:
    """Columns as an Arrow table of the given types (typed when empty)."""
    return pa.table({name: pa.array(rows.get(name, []), kind) for name, kind in types.items()})


def to_timestamps(table: pa.Table) -> pa.Table:
    """Microsecond columns (:data:`TIME_COLUMNS`) as timestamps, for the warehouse."""
    for name in TIME_COLUMNS:
        if name in table.column_names:
            index = table.column_names.index(name)
            table = table.set_column(index, name, table[name].cast(pa.int64()).cast(pa.timestamp("us")))
    return table


def to_micros(table: pa.Table) -> pa.Table:
    """Timestamp columns (:data:`TIME_COLUMNS`) as microseconds, read back from the warehouse."""
    for name in TIME_COLUMNS:
        if name in table.column_names:
            index = table.column_names.index(name)
            column = table[name].cast(pa.timestamp("us")) if pa.types.is_timestamp(table[name].type) else table[name]
            table = table.set_column(index, name, column.cast(pa.int64()))
    return table


def prepare(con: BaseBackend, tables: StreamTables) -> None:
    """The shared tables created if missing, and staging an interrupted batch left dropped."""
    schema, _ = split_name("_millpond.stream_offsets")
    ensure_schema(con, schema)
    ensure_schema(con, split_name(tables.sink)[0])
    drop_stale_staging(con, schema, f"stream_{tables.id}")
    for name, types in (("stream_offsets", OFFSETS), ("stream_progress", PROGRESS), ("stream_batches", BATCHES)):
        if engine_for(con).maybe_table(name, schema) is None:
            with contextlib.suppress(Exception):  # another stream made it meanwhile
                create_table_as(con, name, ibis.memtable(as_arrow({}, types)), schema)


def read_table(con: BaseBackend, name: str, where: str = "") -> pa.Table | None:
    """The rows of warehouse table ``name`` (``where``: a SQL condition), ``None`` when it is missing."""
    schema, table = split_name(name)
    if engine_for(con).existing_kind(schema, table) is None:
        return None
    sql = f"SELECT * FROM {quote(con, schema, table)}" + (f" WHERE {where}" if where else "")
    return con.sql(sql).to_pyarrow()  # type: ignore[attr-defined]


def read_offsets(con: BaseBackend, tables: StreamTables) -> dict[str, str]:
    """``{partition: offset}`` the stream committed."""
    found = read_table(con, "_millpond.stream_offsets", f"stream = {sql_literal(tables.id)}")
    return (
        {}
        if found is None
        else dict(zip(found["source_partition"].to_pylist(), found["source_offset"].to_pylist(), strict=True))
    )


def read_progress(con: BaseBackend, stream_id: str | None = None) -> list[dict[str, Any]]:
    """The progress rows (of ``stream_id``, or of every stream)."""
    where = f"stream = {sql_literal(stream_id)}" if stream_id else ""
    found = read_table(con, "_millpond.stream_progress", where)
    return [] if found is None else found.to_pylist()


@dataclass
class BatchOutput:
    """What one micro-batch commits (its tables as Arrow, times in microseconds)."""

    state: pa.Table | None
    emitted: pa.Table
    corrections: pa.Table
    late: pa.Table
    offsets: dict[str, str]
    progress: dict[str, Any]
    batch: dict[str, Any]


def commit_batch(con: BaseBackend, tables: StreamTables, out: BatchOutput) -> None:
    """Commit a micro-batch's windows, state, late events, offsets and progress in one transaction."""
    meta_schema, _ = split_name("_millpond.stream_offsets")
    engine = engine_for(con)
    drops: list[str] = []
    afterwards: list = []

    def stage(table: pa.Table) -> str:
        reference, drop, after = engine.stage_arrow(table, staging_name(f"stream_{tables.id}"), meta_schema)
        drops.extend(drop)
        afterwards.append(after)
        return reference

    try:
        statements: list[str] = []
        state = quote(con, *split_name(tables.state))
        if out.state is not None:
            statements += [f"DELETE FROM {state}"] if _exists(con, tables.state) else []
            if out.state.num_rows:
                statements += _insert(con, tables.state, stage(to_timestamps(out.state)))
        if out.emitted.num_rows or (out.emitted.num_columns and not _exists(con, tables.output)):
            statements += _insert(con, tables.output, stage(to_timestamps(out.emitted)))  # made with the state
        if out.corrections.num_rows:
            corrected = stage(to_timestamps(out.corrections))
            keys = [c for c in out.corrections.column_names if c not in ("_revision", "_emitted_at")]
            keys = keys[: keys.index("window_start") + 1]
            sink = quote(con, *split_name(tables.output))
            match = " AND ".join(f"c.{quote(con, k)} IS NOT DISTINCT FROM {sink}.{quote(con, k)}" for k in keys)
            if _exists(con, tables.output):
                statements.append(f"DELETE FROM {sink} WHERE EXISTS (SELECT 1 FROM {corrected} c WHERE {match})")
            statements += _insert(con, tables.output, corrected)
        if out.late.num_rows:
            statements += _insert(con, tables.late, stage(out.late))
        statements += _offsets(con, tables.id, out.offsets)
        statements += _progress(con, tables.id, out.progress, out.batch)
        run_in_transaction(con, [*statements, *drops])
    except BaseException:
        with contextlib.suppress(Exception):  # the next start drops what a kill leaves
            if drops:
                run_in_transaction(con, [d.replace("DROP TABLE", "DROP TABLE IF EXISTS", 1) for d in drops])
        raise
    finally:
        for after in afterwards:
            with contextlib.suppress(Exception):
                after()


def _known(con: BaseBackend) -> set[str]:
    """The stream tables ``con`` has seen exist (kept on the connection, like its engine)."""
    return con.__dict__.setdefault("_millpond_stream_tables", set())


def _exists(con: BaseBackend, name: str) -> bool:
    if name in _known(con):
        return True
    if engine_for(con).existing_kind(*split_name(name)):
        _known(con).add(name)
        return True
    return False


def _insert(con: BaseBackend, name: str, staged: str) -> list[str]:
    """Rows of ``staged`` into ``name``, which the first rows create."""
    target = quote(con, *split_name(name))
    create = (
        [] if _exists(con, name) else [f"CREATE TABLE IF NOT EXISTS {target} AS SELECT * FROM {staged} WHERE 1 = 0"]
    )
    return [*create, f"INSERT INTO {target} SELECT * FROM {staged}"]


def _offsets(con: BaseBackend, stream_id: str, offsets: dict[str, str]) -> list[str]:
    if not offsets:
        return []
    table = quote(con, *split_name("_millpond.stream_offsets"))
    named = f"stream = {sql_literal(stream_id)}"
    parts = ", ".join(sql_literal(p) for p in offsets)
    values = ", ".join(f"({sql_literal(stream_id)}, {sql_literal(p)}, {sql_literal(o)})" for p, o in offsets.items())
    return [
        f"DELETE FROM {table} WHERE {named} AND source_partition IN ({parts})",
        f"INSERT INTO {table} VALUES {values}",
    ]


def _progress(con: BaseBackend, stream_id: str, progress: dict[str, Any], batch: dict[str, Any]) -> list[str]:
    table = quote(con, *split_name("_millpond.stream_progress"))
    history = quote(con, *split_name("_millpond.stream_batches"))
    named = f"stream = {sql_literal(stream_id)}"
    row = {**progress, "stream": stream_id}
    done = {**batch, "stream": stream_id}
    oldest = int(batch["batch"]) - KEEP_BATCHES
    return [
        f"DELETE FROM {table} WHERE {named}",
        f"INSERT INTO {table} VALUES ({', '.join(_literal(row.get(c), t) for c, t in PROGRESS.items())})",
        f"DELETE FROM {history} WHERE {named} AND batch <= {oldest}",
        f"INSERT INTO {history} VALUES ({', '.join(_literal(done.get(c), t) for c, t in BATCHES.items())})",
    ]


def _literal(value: Any, kind: pa.DataType) -> str:
    if value is None:
        return "NULL"
    if pa.types.is_timestamp(kind):
        shown = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
        return f"CAST('{shown.isoformat(sep=' ')}' AS TIMESTAMP)"
    if pa.types.is_floating(kind):
        return repr(float(value))
    return sql_literal(value)


def ensure_live_view(con: BaseBackend, tables: StreamTables, columns: list[str]) -> bool:
    """``<sink>_live``: the closed windows (``final``) and the open ones, made once both exist;
    whether it exists."""
    if _exists(con, tables.live):
        return True
    if not (_exists(con, tables.output) and _exists(con, tables.state)):
        return False
    listed = ", ".join(quote(con, c) for c in columns)
    sink, state = quote(con, *split_name(tables.output)), quote(con, *split_name(tables.state))
    view = quote(con, *split_name(tables.live))
    run_in_transaction(
        con,
        [
            f"CREATE VIEW {view} AS SELECT {listed}, true AS final FROM {sink} "
            f"UNION ALL SELECT {listed}, false AS final FROM {state}"
        ],
    )
    return True


def replace_outputs(
    con: BaseBackend,
    shadow: StreamTables,
    target: StreamTables | None,
    *,
    since: datetime | None = None,
    drop_only: bool = False,
) -> None:
    """Swap a replay's tables (``shadow``) in for ``target``'s, in one transaction: its windows
    (those from ``since`` on, or all), late events, open windows, offsets and progress; then the
    shadow is gone. ``drop_only``: just drop what a replay left."""
    statements: list[str] = []
    cut = f"CAST('{since.isoformat(sep=' ')}' AS TIMESTAMP)" if since else None
    if target is not None and not drop_only:
        pairs = ((shadow.output, target.output, "window_start"), (shadow.late, target.late, "event_time"))
        for source, dest, column in (*pairs, (shadow.state, target.state, None)):
            if not _exists(con, source):
                continue
            new, old = quote(con, *split_name(source)), quote(con, *split_name(dest))
            when = f" WHERE {column} >= {cut}" if cut and column else ""
            if not _exists(con, dest):
                statements.append(f"CREATE TABLE {old} AS SELECT * FROM {new}")
                continue
            statements += [f"DELETE FROM {old}{when}", f"INSERT INTO {old} SELECT * FROM {new}{when}"]
        for table in ("stream_offsets", "stream_progress"):
            name = quote(con, *split_name(f"_millpond.{table}"))
            columns = [c for c in (OFFSETS if table == "stream_offsets" else PROGRESS) if c != "stream"]
            listed = ", ".join(columns)
            statements += [
                f"DELETE FROM {name} WHERE stream = {sql_literal(target.id)}",
                f"INSERT INTO {name} (stream, {listed}) SELECT {sql_literal(target.id)}, {listed} FROM {name} "
                f"WHERE stream = {sql_literal(shadow.id)}",
            ]
    if _exists(con, shadow.live) or drop_only:
        statements.append(f"DROP VIEW IF EXISTS {quote(con, *split_name(shadow.live))}")
        _known(con).discard(shadow.live)
    for table in (shadow.output, shadow.late, shadow.state):
        if _exists(con, table) or drop_only:
            statements.append(f"DROP TABLE IF EXISTS {quote(con, *split_name(table))}")
            _known(con).discard(table)
    for table in ("stream_offsets", "stream_progress", "stream_batches"):
        if engine_for(con).existing_kind(*split_name(f"_millpond.{table}")):
            statements.append(
                f"DELETE FROM {quote(con, *split_name(f'_millpond.{table}'))} WHERE stream = {sql_literal(shadow.id)}"
            )
    if statements:
        run_in_transaction(con, statements)


def stream_tables_view(con: BaseBackend, tables: StreamTables) -> dict[str, int | None]:
    """Rows of the stream's sink, late events and open windows (``None``: not made yet)."""
    counts: dict[str, int | None] = {}
    for key, name in (("windows", tables.output), ("late_rows", tables.late), ("open_windows", tables.state)):
        schema, table = split_name(name)
        found = engine_for(con).existing_kind(schema, table)
        counts[key] = (
            int(engine_for(con).fetch(f"SELECT count(*) FROM {quote(con, schema, table)}")[0][0]) if found else None
        )
    return counts
