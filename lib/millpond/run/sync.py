"""``millpond sync SOURCE``: a change stream's target kept in step (:func:`sync_source`).

One pass applies batches until it has applied every transaction committed before it
started (waiting the moment their WAL takes to be flushed); with ``follow`` it keeps going until ``stop`` is set (the command sets it on
Ctrl-C or SIGTERM), finishing the batch in hand, so what it reports last is committed. A
batch that applied changes is followed at once by the next; when one finds nothing, the
warehouse (a file's lease) is given back for ``interval`` seconds before the next look, and
while changes keep coming it is given back now and then (:data:`TURN_SECONDS`), so the stages
of a run that reads the target get their turn (the sync waits for its own, then catches up). An idle
source's position still moves on (a heartbeat, at least every :data:`HEARTBEAT_SECONDS`, or
sooner once :data:`HEARTBEAT_BYTES` of WAL lie behind it), so its slot never holds the WAL
other tables write. Each step is handed to ``on_step`` as it ends: the command prints it.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from millpond.engines.pgoutput import format_lsn
from millpond.environment import active_env
from millpond.errors import MillpondError
from millpond.project import project_of
from millpond.sources.cdc_stream import Step
from millpond.sources.postgres_cdc import change_source
from millpond.warehouse.lease import Lease
from millpond.workspace import Workspace

HEARTBEAT_SECONDS = 10.0
HEARTBEAT_BYTES = 1 << 20
TURN_SECONDS, TURN_PAUSE = 10.0, 0.3
"""A warehouse file's lease is given back at least every ``TURN_SECONDS`` while changes keep
coming, for ``TURN_PAUSE`` seconds: long enough for a waiting run's stage to take it."""


@dataclass
class Synced:
    """What a sync did, and where it stopped (the LSN committed with the target's rows)."""

    source: str
    target: str
    position: str = ""
    changes: int = 0
    transactions: int = 0
    batches: int = 0
    seconds: float = 0.0

    @property
    def rate(self) -> float:
        return self.changes / self.seconds if self.seconds else 0.0


def sync_source(
    workspace: Workspace,
    name: str,
    *,
    follow: bool = False,
    interval: float = 1.0,
    stop: threading.Event | None = None,
    on_step: Callable[[Step], None] | None = None,
) -> Synced:
    """Keep the target of source ``name`` in step (module docstring); what it did."""
    source = change_source(workspace, name)
    stop = stop or threading.Event()
    lock = Lease(workspace.meta_dir / f"sync_{name}_{active_env()}", f"millpond sync {name}")
    if not lock.try_acquire():
        raise MillpondError(f"source {name} is being synced already, by {lock.current_holder()}")
    synced = Synced(name, source.spec.target)
    started = time.perf_counter()
    warehouse = project_of(workspace).warehouse(f"sync of {name}")
    stream = None
    try:
        if not warehouse.hold_unless(stop):
            return synced
        stream = source.stream(warehouse.hold())
        first = stream.start()
        if first is not None and on_step is not None:
            on_step(first)
        stored, behind, held = time.monotonic(), 0, time.monotonic()
        target = None if follow else stream.committed()  # once: everything committed before now
        while not stop.is_set():
            heartbeat = not follow or time.monotonic() - stored >= HEARTBEAT_SECONDS or behind >= HEARTBEAT_BYTES
            step = stream.step(heartbeat=heartbeat)
            behind = step.behind
            synced.changes += step.changes
            synced.transactions += step.transactions
            if step.stored:
                stored = time.monotonic()
                synced.batches += 1
                if on_step is not None:
                    on_step(step)
            if warehouse.is_file and follow and time.monotonic() - held >= TURN_SECONDS:
                warehouse.pause()  # a run's stages get their turn on the file
                if stop.wait(TURN_PAUSE) or not warehouse.hold_unless(stop):
                    break
                held = time.monotonic()
            if not step.caught_up or (step.changes and follow):
                continue  # more is waiting, or may be: look again at once
            if target is not None:
                if stream.position >= target:
                    break
                stop.wait(0.05)  # committed, not flushed yet (synchronous_commit = off)
                continue
            warehouse.pause()  # idle: the warehouse is free for others meanwhile
            if stop.wait(interval) or not warehouse.hold_unless(stop):
                break
            held = time.monotonic()
    finally:
        synced.seconds = time.perf_counter() - started
        if stream is not None:
            synced.position = format_lsn(stream.position)
            stream.close()
        warehouse.close()
        lock.release()
    return synced
