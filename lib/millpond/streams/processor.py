"""A stream's micro-batches: read from the log, transform, window, commit exactly once.

:class:`StreamProcessor` holds a stream's open windows in memory and, in the warehouse, the
same windows, the closed ones, the late events and the source offsets. Each :meth:`step` reads
the next events from the committed offsets, passes them through the stream's Ibis transform,
assigns them to windows on event time (:mod:`millpond.streams.windows`), and commits, in one
transaction (:func:`millpond.streams.tables.commit_batch`), the windows the watermark closed,
the open windows, the late events and the offsets after the batch. A kill at any point leaves
the warehouse as the last commit left it; the next processor reads its state and offsets there
and redoes the batch whole, so every event counts once.
"""

from __future__ import annotations

import importlib
import json
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import ibis
import numpy as np
import pyarrow as pa

from millpond.errors import MillpondError
from millpond.settings.streams import StreamSpec
from millpond.sources.postgres_cdc import change_source
from millpond.streams import windows as w
from millpond.streams.logs import EventLog, FolderLog, LogBatch, Reject
from millpond.streams.serving import serving_view
from millpond.streams.tables import (
    LATE,
    BatchOutput,
    StreamTables,
    commit_batch,
    ensure_live_view,
    prepare,
    read_offsets,
    read_progress,
    read_table,
    to_micros,
)

if TYPE_CHECKING:
    from ibis.backends import BaseBackend

    from millpond.workspace import Workspace

SEQ = "_mp_seq"


@dataclass
class Step:
    """What one micro-batch did."""

    events: int = 0
    late: int = 0
    emitted: int = 0
    corrected: int = 0
    open_windows: int = 0
    seconds: float = 0.0
    watermark: int | None = None
    committed: bool = False
    caught_up: bool = False
    offsets: dict[str, str] = field(default_factory=dict)
    """The offsets committed after it, per partition."""
    lag: float | None = None
    """Seconds from its latest event time to its commit (the event-time lag)."""
    late_reasons: dict[str, int] = field(default_factory=dict)
    """Its late events, by reason."""
    filtered: int = 0
    """Events its transform left out (the stream's own logic, as a ``WHERE``)."""


def open_log(workspace: Workspace, name: str, spec: StreamSpec, secrets: dict[str, str]) -> EventLog:
    """The log the stream's ``source`` declares (secrets resolved into its options)."""
    source = spec.source
    if source.kind == "files":
        return FolderLog(workspace.root, str(source.path), str(source.format), source.columns)
    if source.kind == "postgres_cdc":
        from millpond.streams.cdc_log import CdcLog  # HEAVY: the PostgreSQL driver, for change logs only

        return CdcLog(change_source(workspace, str(source.source)), name, source.slot)
    from millpond.streams.redis_log import RedisLog  # HEAVY: the Redis client, for Redis logs only

    url = secrets.get("url", source.url or "")
    return RedisLog(url, source.streams, source.columns, shown_url=str(source.url).split("@")[-1])


def load_transform(workspace: Workspace, reference: str):
    """The function ``module:function`` of the workspace's own code."""
    module_name, function = reference.split(":")
    code = str(workspace.code_dir)
    if code not in sys.path:
        sys.path.insert(0, code)
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise MillpondError(f"transform {reference}: cannot import {module_name}: {exc}") from None
    found = getattr(module, function, None)
    if not callable(found):
        raise MillpondError(f"transform {reference}: {module_name} has no function {function}")
    return found


class StreamProcessor:
    """One stream's processing on warehouse connection ``con`` (module docstring)."""

    def __init__(self, name: str, spec: StreamSpec, con: BaseBackend, log: EventLog, *, transform=None, suffix=""):
        self.name, self.spec, self.con, self.log, self.transform = name, spec, con, log, transform
        self.tables = StreamTables(name, spec.sink, suffix)
        self.aggregates = spec.parsed_aggregates()
        self.keys = list(spec.keys)
        window = spec.window
        self.session = window.type == "session"
        self.size, self.slide, self.gap = window.size_us, window.slide_us, window.gap_us
        self.delay, self.lateness = spec.watermark.delay_us, spec.watermark.lateness_us
        hops = 1 if self.session else self.size // self.slide
        self.limit = max(1, spec.max_batch // hops)
        """Events a batch reads: a hopping window places each in ``size / slide`` windows."""
        prepare(con, self.tables)
        self.offsets = read_offsets(con, self.tables)
        found = read_progress(con, self.tables.id)
        self.progress: dict[str, Any] = found[0] if found else {"batches": 0, "events": 0, "late": 0, "emitted": 0}
        latest = self.progress.get("max_event_time")
        self.max_time: int | None = _micros(latest) if latest is not None else None
        state = read_table(con, self.tables.state)
        self.state = None if state is None else to_micros(state.drop_columns(["window_end"]))
        self.live_ready = self.serving_ready = False
        self._views()

    @property
    def watermark(self) -> int | None:
        return None if self.max_time is None else self.max_time - self.delay

    def step(self) -> Step:
        """Read, window and commit the next micro-batch (``caught_up`` when the log had none)."""
        started = time.perf_counter()
        batch = self.log.read(self.offsets, self.limit)
        if batch.empty and batch.offsets == self.offsets:
            return Step(caught_up=not batch.more, watermark=self.watermark, open_windows=_rows(self.state))
        return self._process(batch, started)

    def _process(self, batch: LogBatch, started: float) -> Step:
        late = [_reject_row(r) for r in batch.rejects]
        filtered = 0
        events = batch.events
        state, emitted, corrections = self.state, None, None
        max_time, before = self.max_time, self.watermark
        if events.num_rows:
            events = self._transformed(events.append_column(SEQ, pa.array(np.arange(events.num_rows))))
            filtered = batch.events.num_rows - events.num_rows
            self._check_columns(events)
            times = w.event_times(events[self.spec.time], self.spec.time)
            missing = np.flatnonzero(times == w.NO_TIME)
            late += [self._late_row(events, int(i), None, None, None, "no_event_time") for i in missing]
            good = np.flatnonzero(times != w.NO_TIME)
            if len(good):
                state, late_rows = self._windows(events, good, times[good])
                late += late_rows
                max_time = int(times[good].max()) if max_time is None else max(max_time, int(times[good].max()))
        mark = None if max_time is None else max_time - self.delay
        state, emitted, corrections = self._close(state, mark, before)
        now = datetime.now(UTC).replace(tzinfo=None)
        out = BatchOutput(
            state=self._with_end(state) if state is not None else None,
            emitted=emitted,
            corrections=corrections,
            late=pa.Table.from_pylist(late, schema=pa.schema(LATE)) if late else pa.table({}),
            offsets={p: o for p, o in batch.offsets.items() if self.offsets.get(p) != o},
            progress={},
            batch={},
        )
        progress = dict(self.progress)
        progress.update(
            batches=int(progress["batches"]) + 1,
            events=int(progress["events"]) + batch.events.num_rows,
            late=int(progress["late"]) + len(late),
            emitted=int(progress["emitted"]) + emitted.num_rows,
            max_event_time=_time(max_time),
            watermark=_time(mark),
            committed_at=now,
        )
        seconds = time.perf_counter() - started
        lag = (now - _time(max_time)).total_seconds() if max_time is not None else None  # type: ignore[operator]
        out.progress = progress
        out.batch = {
            "batch": progress["batches"],
            "events": batch.events.num_rows,
            "late": len(late),
            "emitted": emitted.num_rows,
            "seconds": seconds,
            "lag_seconds": lag,
            "watermark": _time(mark),
            "committed_at": now,
        }
        commit_batch(self.con, self.tables, out)
        self.log.committed(batch.offsets)
        self._views()
        self.offsets, self.progress, self.state, self.max_time = dict(batch.offsets), progress, state, max_time
        return Step(
            events=batch.events.num_rows,
            late=len(late),
            emitted=emitted.num_rows,
            corrected=corrections.num_rows,
            open_windows=_rows(state),
            seconds=time.perf_counter() - started,
            watermark=mark,
            committed=True,
            offsets=dict(batch.offsets),
            lag=lag,
            late_reasons=dict(Counter(row["reason"] for row in late)),
            filtered=filtered,
        )

    def _views(self) -> None:
        """``<sink>_live`` and the serving view, made as soon as what they read exists."""
        columns = [*self.keys, "window_start", "window_end", *self.aggregates]
        if not self.live_ready:
            self.live_ready = ensure_live_view(self.con, self.tables, columns)
        if self.live_ready and not self.serving_ready and self.spec.serving is not None and not self.tables.suffix:
            self.serving_ready = serving_view(self.con, self.spec.serving, self.tables.live, columns)

    def _check_columns(self, events: pa.Table) -> None:
        """One line naming a declared column the events lack."""
        wanted = {"time": [self.spec.time], "keys": self.keys}
        wanted["aggregates"] = [a.column for a in self.aggregates.values() if a.column]
        have = [c for c in events.column_names if not c.startswith("_")]
        for declared, columns in wanted.items():
            for column in columns:
                if column not in events.column_names:
                    raise MillpondError(
                        f"stream {self.name}: {declared}: the events have no column {column} (they have {', '.join(have)})"
                    )

    def _transformed(self, events: pa.Table) -> pa.Table:
        """The events through the stream's transform, in log order again."""
        if self.transform is None:
            return events
        try:
            expr = self.transform(ibis.memtable(events))
            out = self.con.to_pyarrow(expr)
        except MillpondError:
            raise
        except Exception as exc:
            raise MillpondError(f"stream {self.name}: transform {self.spec.transform}: {exc}") from None
        if SEQ not in out.column_names:
            raise MillpondError(
                f"stream {self.name}: transform {self.spec.transform} dropped column {SEQ}; keep it (it orders the batch)"
            )
        return out.sort_by(SEQ)

    def _windows(self, events: pa.Table, good: np.ndarray, times: np.ndarray) -> tuple[pa.Table | None, list]:
        """The state with the batch's events merged in, and the late events' rows."""
        marks = w.watermarks(times, self.max_time, self.delay)
        late_rows: list[dict] = []
        if self.session:
            late = (marks != w.NO_TIME) & (times + self.lateness < marks)
            full = np.full(events.num_rows, w.NO_TIME, np.int64)
            full[good] = times
            state = w.sessions(self.state, events, good[~late], full, self.keys, self.gap, self.aggregates)
            for row, mark in zip(good[late].tolist(), marks[late].tolist(), strict=True):
                late_rows.append(self._late_row(events, row, None, None, mark, "late"))
            return state, late_rows
        index, start, late = w.window_rows(times, marks, size=self.size, slide=self.slide, lateness=self.lateness)
        rows = good[index]
        parts = [self.state] if self.state is not None else []
        parts.append(w.partials(events, rows[~late], start[~late], self.keys, self.aggregates))
        correct = self.spec.late == "correct"
        if late.any() and correct:
            parts.append(w.partials(events, rows[late], start[late], self.keys, self.aggregates))
        for row, begin, mark in zip(
            rows[late].tolist(), start[late].tolist(), marks[index][late].tolist(), strict=True
        ):
            late_rows.append(self._late_row(events, row, begin, begin + self.size, mark, "late", correct))
        return w.merge(parts, [*self.keys, "window_start"], self.aggregates), late_rows

    def _close(self, state: pa.Table | None, mark: int | None, before: int | None):
        """``(open windows, windows closed now, corrections of windows closed before)``."""
        empty = pa.table({})
        if state is None or not state.num_rows or mark is None:
            return state, empty, empty
        end = np.asarray(state["_last"] if self.session else state["window_start"], np.int64)
        end = end + (self.gap if self.session else self.size)
        closed = end + self.lateness <= mark
        earlier = closed & (end + self.lateness <= before) if before is not None else np.zeros(len(end), bool)
        now = datetime.now(UTC).replace(tzinfo=None)
        emitted = self._sink_rows(state.filter(pa.array(closed & ~earlier)), 0, now)
        corrections = self._corrections(state.filter(pa.array(earlier)), now) if earlier.any() else empty
        return state.filter(pa.array(~closed)), emitted, corrections

    def _with_end(self, table: pa.Table) -> pa.Table:
        """Windows with ``window_end`` after ``window_start`` (keys, start, end, aggregates...)."""
        if self.session:
            end = pa.array(np.asarray(table["_last"], np.int64) + self.gap)
        else:
            end = pa.array(np.asarray(table["window_start"], np.int64) + self.size)
        index = table.column_names.index("window_start") + 1
        return table.add_column(index, "window_end", end)

    def _sink_rows(self, table: pa.Table, revision: int | pa.Array, now: datetime) -> pa.Table:
        out = self._with_end(table)
        if self.session:
            out = out.drop_columns(["_last"])
        count = out.num_rows
        revisions = revision if isinstance(revision, pa.Array) else pa.array([revision] * count, pa.int64())
        out = out.append_column("_revision", revisions)
        return out.append_column("_emitted_at", pa.array([now] * count, pa.timestamp("us")))

    def _corrections(self, late: pa.Table, now: datetime) -> pa.Table:
        """Windows emitted before, with late events' partials merged into what the sink holds."""
        starts = ", ".join(f"CAST('{_time(s)}' AS TIMESTAMP)" for s in sorted(set(late["window_start"].to_pylist())))
        held = read_table(self.con, self.tables.output, f"window_start IN ({starts})")
        group = [*self.keys, "window_start"]
        parts = [late.append_column("_revision", pa.array([-1] * late.num_rows, pa.int64()))]
        if held is not None and held.num_rows:
            parts.append(to_micros(held).select([*group, *self.aggregates, "_revision"]))
        aggregates = {**self.aggregates}
        merged = w.merge([p.drop_columns(["_revision"]) for p in parts], group, aggregates)
        revisions = pa.concat_tables([p.select([*group, "_revision"]) for p in parts], promote_options="permissive")
        latest = revisions.group_by(group).aggregate([("_revision", "max")])
        merged = merged.join(latest, group, join_type="left outer")
        revision = pa.array(np.asarray(merged["_revision_max"], np.int64) + 1)
        return self._sink_rows(merged.drop_columns(["_revision_max"]), revision, now)

    def _late_row(self, events: pa.Table, row: int, start, end, mark, reason: str, corrected=False) -> dict:
        record = {k: v for k, v in events.slice(row, 1).to_pylist()[0].items() if not k.startswith("_mp_")}
        partition, offset = record.pop("_partition", ""), record.pop("_offset", "")
        event_time = w.event_times(events[self.spec.time].slice(row, 1), self.spec.time)[0]
        detail = ""
        if reason == "late":
            what = "session" if self.session else f"window [{_time(start)}, {_time(end)})"
            detail = f"{what} closed: watermark {_time(mark)}, allowed lateness {self.spec.watermark.allowed_lateness}"
        return {
            "source_partition": partition,
            "source_offset": str(offset),
            "event_time": _time(event_time) if event_time != w.NO_TIME else None,
            "window_start": _time(start),
            "window_end": _time(end),
            "watermark": _time(mark),
            "reason": reason,
            "detail": detail or "the event has no time in " + self.spec.time,
            "event": json.dumps(record, default=str, sort_keys=True),
            "corrected": corrected,
        }


def _reject_row(reject: Reject) -> dict:
    return {
        "source_partition": reject.partition,
        "source_offset": reject.offset,
        "reason": reject.reason,
        "detail": reject.detail,
        "event": reject.raw,
        "corrected": False,
    }


def _rows(table: pa.Table | None) -> int:
    return 0 if table is None else table.num_rows


def _time(micros: int | None) -> datetime | None:
    """Microseconds since the epoch as a naive UTC time."""
    if micros is None or micros == w.NO_TIME:
        return None
    return datetime(1970, 1, 1) + np.timedelta64(int(micros), "us").astype(object)


def _micros(value: Any) -> int:
    moment = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
    delta = moment.replace(tzinfo=None) - datetime(1970, 1, 1)
    return (delta.days * 86400 + delta.seconds) * 1_000_000 + delta.microseconds
