"""``millpond stream run|replay|status``: a declared stream processed, rebuilt, reported.

:func:`run_stream` runs micro-batches until the log is caught up (``follow=False``) or until
``stop`` is set (the command sets it on Ctrl-C or SIGTERM), finishing the batch in hand, so its
position is committed when it returns. One processor per stream (a lease under the metadata
folder). On a warehouse file it gives the file back while the log is idle and now and then
while it is busy, so a run's stages get their turn (as ``millpond sync`` does).

:func:`replay_stream` is the Kappa rebuild: the stream processed again from the start of its
log into tables of its own (``<sink>__replay``...), then swapped in, in one transaction, for
the windows from ``since`` on (all of them by default). Its result equals the live run's row
for row, since the windows depend only on the events in log order, not on the batches.
"""

from __future__ import annotations

import threading
import time
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from millpond.environment import active_env, env_dir
from millpond.errors import MillpondError
from millpond.pipeline.streams import declared_stream, declared_streams
from millpond.project import project_of
from millpond.secrets import resolve
from millpond.settings.streams import StreamSpec
from millpond.store.stream_marks import read_marks, write_mark
from millpond.streams.processor import Step, StreamProcessor, load_transform, open_log
from millpond.streams.tables import StreamTables, read_progress, read_table, replace_outputs, stream_tables_view
from millpond.warehouse.lease import Lease
from millpond.workspace import Workspace

TURN_SECONDS, TURN_PAUSE = 10.0, 0.3
RECENT = 50


@dataclass
class StreamRun:
    """What a run of a stream did."""

    stream: str
    batches: int = 0
    events: int = 0
    late: int = 0
    emitted: int = 0
    seconds: float = 0.0
    watermark: int | None = None
    steps: list[Step] = field(default_factory=list)

    @property
    def rate(self) -> float:
        return self.events / self.seconds if self.seconds else 0.0


def stream_spec(workspace: Workspace, name: str) -> tuple[StreamSpec, dict[str, str]]:
    """The declared stream and its secrets resolved (``{option: value}``)."""
    spec, _ = declared_stream(workspace, name)
    return spec, {option: resolve(ref, workspace.secret_env()) for option, ref in spec.secrets.items()}


def _processor(workspace: Workspace, name: str, con, *, suffix: str = "") -> StreamProcessor:
    spec, secrets = stream_spec(workspace, name)
    transform = load_transform(workspace, spec.transform) if spec.transform else None
    log = open_log(workspace, name, spec, secrets)
    return StreamProcessor(name, spec, con, log, transform=transform, suffix=suffix)


class StreamMark:
    """The stream's mark (:mod:`millpond.store.stream_marks`), written when it starts and after
    each commit: totals, late events by reason, and the rate and lag of the last
    :data:`RECENT` micro-batches."""

    def __init__(self, workspace: Workspace, name: str, processor, *, progress=None, sink: str = ""):
        self.history, self.name = env_dir(workspace, active_env()), name
        before = read_marks(self.history).get(name, {})
        self.reasons: Counter = Counter(before.get("late_by_reason", {}))
        self.filtered = int(before.get("filtered") or 0)
        self.recent: deque = deque(maxlen=RECENT)
        if processor is not None:
            self.sink = processor.spec.sink
            self.write(processor.progress)
        else:
            self.sink = sink
            self.write(progress[0] if progress else {})

    def record(self, step: Step, processor) -> None:
        self.reasons.update(step.late_reasons)
        self.filtered += step.filtered
        self.recent.append((step.events, step.seconds, step.lag))
        self.write(processor.progress)

    def write(self, progress: dict[str, Any]) -> None:
        events = sum(e for e, _, _ in self.recent)
        seconds = sum(s for _, s, _ in self.recent)
        lags = sorted(lag for _, _, lag in self.recent if lag is not None)
        mark = {k: progress.get(k) for k in ("batches", "events", "late", "emitted", "watermark", "committed_at")}
        mark.update(
            sink=self.sink,
            late_by_reason=dict(self.reasons),
            filtered=self.filtered,
            recent_batches=len(self.recent),
            recent_rate=events / seconds if seconds else None,
            recent_lag_p50=lags[len(lags) // 2] if lags else None,
            recent_lag_max=lags[-1] if lags else None,
        )
        write_mark(self.history, self.name, mark)


def _stream_lock(workspace: Workspace, name: str, what: str, busy: str) -> Lease:
    """The stream's own lock, held (one line naming the holder when another has it)."""
    lock = Lease(workspace.meta_dir / f"stream_{name}_{active_env()}", f"millpond stream {what} {name}")
    if not lock.try_acquire():
        raise MillpondError(f"stream {name} {busy} {lock.current_holder()}")
    return lock


def run_stream(
    workspace: Workspace,
    name: str,
    *,
    follow: bool = False,
    interval: float = 0.2,
    stop: threading.Event | None = None,
    on_step: Callable[[Step], None] | None = None,
    max_batches: int | None = None,
) -> StreamRun:
    """Process stream ``name`` (module docstring); what it did."""
    declared_stream(workspace, name)  # one line if there is no such stream, before any lease
    stop = stop or threading.Event()
    lock = _stream_lock(workspace, name, "run", "is running already, in")
    done = StreamRun(name)
    started = time.perf_counter()
    warehouse = project_of(workspace).warehouse(f"stream {name}")
    processor = None
    try:
        if not warehouse.hold_unless(stop):
            return done
        processor = _processor(workspace, name, warehouse.hold())
        mark = StreamMark(workspace, name, processor)
        held = time.monotonic()
        while not stop.is_set() and (max_batches is None or done.batches < max_batches):
            step = processor.step()
            done.watermark = step.watermark
            if step.committed:
                done.batches += 1
                done.events += step.events
                done.late += step.late
                done.emitted += step.emitted
                mark.record(step, processor)
                if on_step is not None:
                    on_step(step)
            if step.committed:
                if warehouse.is_file and follow and time.monotonic() - held >= TURN_SECONDS:
                    warehouse.pause()  # a run's stages get their turn on the file
                    if stop.wait(TURN_PAUSE) or not warehouse.hold_unless(stop):
                        break
                    held = time.monotonic()
                continue
            if not step.caught_up:  # more is on its way (committed at the source, not readable yet)
                stop.wait(0.05)
                continue
            if not follow:
                break
            warehouse.pause()  # idle: the warehouse is free for others meanwhile
            if stop.wait(interval) or not warehouse.hold_unless(stop):
                break
            held = time.monotonic()
    finally:
        done.seconds = time.perf_counter() - started
        if processor is not None:
            processor.log.close()
        warehouse.close()
        lock.release()
    return done


def replay_stream(workspace: Workspace, name: str, *, since: datetime | None = None) -> StreamRun:
    """Rebuild stream ``name``'s outputs from its log (module docstring)."""
    spec, _ = declared_stream(workspace, name)
    lock = _stream_lock(workspace, name, "replay", "is running; stop it before a replay; it runs in")
    done = StreamRun(name)
    started = time.perf_counter()
    warehouse = project_of(workspace).warehouse(f"stream replay {name}")
    try:
        con = warehouse.hold()
        shadow = StreamTables(name, spec.sink, "__replay")
        replace_outputs(con, shadow, None, since=None, drop_only=True)  # what an interrupted replay left
        processor = _processor(workspace, name, con, suffix="__replay")
        try:
            while True:
                step = processor.step()
                if not step.committed and step.caught_up:
                    break
                if not step.committed:
                    time.sleep(0.05)  # more is on its way
                    continue
                done.batches += 1
                done.events += step.events
                done.late += step.late
                done.emitted += step.emitted
                done.watermark = step.watermark
        finally:
            processor.log.close()
        replace_outputs(con, shadow, StreamTables(name, spec.sink), since=since)
        StreamMark(workspace, name, None, progress=read_progress(con, name), sink=spec.sink)
    finally:
        done.seconds = time.perf_counter() - started
        warehouse.close()
        lock.release()
    return done


def stream_status(workspace: Workspace) -> list[dict[str, Any]]:
    """One row per declared stream: its sink, batches, events, late, windows emitted and open,
    watermark, last commit, its recent rate and event-time lag, and whether it runs now."""
    declared = declared_streams(workspace)
    if not declared:
        return []
    warehouse = project_of(workspace).warehouse("millpond stream status")
    rows = []
    try:
        con = warehouse.hold()
        progress = {row["stream"]: row for row in read_progress(con)}
        for name, (raw, where) in sorted(declared.items()):
            sink = raw.get("sink", "") if isinstance(raw, dict) else ""
            row: dict[str, Any] = {"stream": name, "declared_in": where, "sink": sink, **progress.get(name, {})}
            row["stream"] = name
            lock = Lease(workspace.meta_dir / f"stream_{name}_{active_env()}", "status")
            row["running"] = lock.current_holder() if not lock.try_acquire() else None
            if row["running"] is None:
                lock.release()
            row.update(stream_tables_view(con, StreamTables(name, sink)) if sink else {})
            recent = read_table(con, "_millpond.stream_batches", f"stream = '{name}'")
            if recent is not None and recent.num_rows:
                last = recent.sort_by([("batch", "descending")]).slice(0, 20).to_pylist()
                spent = sum(b["seconds"] for b in last)
                row["rate"] = sum(b["events"] for b in last) / spent if spent else None
                row["lag_seconds"] = last[0]["lag_seconds"]
            rows.append(row)
    finally:
        warehouse.close()
    return rows
