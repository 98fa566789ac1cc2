"""``millpond watch PIPELINE``: runs started by events (:func:`watch_pipeline`).

A run of the pipeline starts when files land under the watched globs (``watch.files``,
by default the files its stages read) once none has landed for ``watch.debounce`` seconds
(a burst of files is one run), or on a tick of ``watch.cron``. A stage declared
``on_stream: NAME`` runs when that stream's output advances (its row of
``_millpond.stream_progress``): a run of those stages alone, as ``millpond run --stage``
selects them, forced (a stream's new windows are not in a stage's fingerprint).

Runs never overlap. The watcher looks at its triggers between runs, so whatever arrives
during a run makes one follow-up run after it, not one each (files and ticks: a run of the
whole pipeline; a stream's output: a run of its stages, after the other when both came);
and when another process holds the workspace's run lock (a ``millpond run``), it waits.
The ticks that passed while a run was in progress (or while it waited for another), and
those that passed while no watcher was running (since the last tick recorded in the
metadata folder, :class:`~millpond.run.watch_triggers.WatchState`), are reported as missed,
with how many, and make one catch-up run (cron's and Dagster's ``catchup=False``, said).

Everything that happens goes to ``on_event`` (the command prints one line each); nothing
here prints. Setting ``stop`` (the command does on Ctrl-C or SIGTERM) ends the watch once
the run in progress has finished.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from millpond.environment import active_env
from millpond.errors import LockError, MillpondError
from millpond.run.lock import RunLock
from millpond.run.progress import PlainReporter
from millpond.run.runner import RunOptions, run_pipeline
from millpond.run.watch_triggers import (
    PROGRESS_TABLE,
    Landing,
    Schedule,
    StreamProgress,
    Ticks,
    WatchPlan,
    WatchState,
    watch_plan,
)
from millpond.warehouse.lease import Lease
from millpond.workspace import Workspace

IDLE_WAIT = 0.1
"""The longest the watcher sleeps between looks at its triggers, in seconds."""
STREAM_LOOK = 1.0
"""Seconds between looks at the streams' progress."""
LOCK_LOOK = 0.2
"""Seconds between looks at another process's run lock."""


@dataclass(frozen=True)
class Watching:
    """The watch is set up: files watched, the next tick."""

    at: datetime
    plan: WatchPlan
    next_tick: datetime | None = None


@dataclass(frozen=True)
class Triggered:
    """A run is about to start, and why (several reasons may have gathered)."""

    at: datetime
    files: tuple[str, ...] = ()
    tick: datetime | None = None
    catch_up: bool = False
    streams: tuple[tuple[str, str], ...] = ()
    """``(stream, what came)``."""
    stages: tuple[str, ...] = ()
    """The stages selected (``--stage``); empty: the whole pipeline."""


@dataclass(frozen=True)
class Waiting:
    """The run waits for something outside the watcher (another run, the warehouse)."""

    at: datetime
    text: str


@dataclass(frozen=True)
class Ran:
    """A run finished."""

    at: datetime
    run_id: str
    status: str
    stages: dict[str, str]
    seconds: float


@dataclass(frozen=True)
class Missed:
    """Ticks of the schedule that got no run of their own: ``why`` they were missed."""

    at: datetime
    ticks: Ticks
    why: str
    seconds: bool = False
    """Whether the schedule has a seconds field (to show ticks to the second)."""


@dataclass(frozen=True)
class Failed:
    """A run that could not start or went wrong outside its stages, or a stream look that failed."""

    at: datetime
    message: str


WatchEvent = Watching | Triggered | Waiting | Ran | Missed | Failed


@dataclass
class Watched:
    """What a watch did."""

    runs: int = 0
    missed: int = 0
    failed: int = 0


def state_file(workspace: Workspace, name: str) -> Path:
    """Where the watch of pipeline ``name`` keeps its last tick and the streams' counts
    (:class:`~millpond.run.watch_triggers.WatchState`), for this process's environment."""
    return workspace.meta_dir / f"watch_{name}_{active_env()}.json"


def now() -> datetime:
    """The local time, with its offset."""
    return datetime.now().astimezone()


def watch_pipeline(
    workspace: Workspace,
    pipeline: str,
    *,
    files: Sequence[str] | None = None,
    debounce: float | None = None,
    cron: str | None = None,
    max_runs: int | None = None,
    env: str | None = None,
    stop: threading.Event | None = None,
    on_event: Callable[[WatchEvent], None] | None = None,
) -> Watched:
    """Run ``pipeline`` whenever its triggers say so (module docstring), until ``stop`` is set
    or ``max_runs`` runs have finished; what it did.

    Examples
    --------
    From Python, in a workspace whose pipeline ``shop`` reads ``data/raw/*.csv``::

        stop = threading.Event()
        watch_pipeline(Workspace.find(), "shop", debounce=5, stop=stop, on_event=print)
    """
    if max_runs is not None and max_runs < 1:
        raise MillpondError(f"--max-runs {max_runs}: at least 1")
    plan = watch_plan(workspace, pipeline, files=files, debounce=debounce, cron=cron)
    return _Watcher(workspace, plan, stop or threading.Event(), on_event or (lambda _: None), max_runs, env).watch()


class _Quiet(PlainReporter):
    """A run's progress unsaid, but for what it waits for (another run, the warehouse)."""

    def __init__(self, waiting: Callable[[str], None]):
        super().__init__()
        self._waiting = waiting

    def _say(self, text: str) -> None:
        pass

    def waiting(self, text: str) -> None:
        self._waiting(text)


@dataclass
class _Pending:
    """The triggers gathered for the next run."""

    files: set[str] = field(default_factory=set)
    tick: datetime | None = None
    catch_up: bool = False
    streams: dict[str, str] = field(default_factory=dict)

    def __bool__(self) -> bool:
        return bool(self.files or self.tick or self.catch_up or self.streams)

    def take(self, workspace: Workspace, plan: WatchPlan) -> Triggered:
        """The next run's trigger: the whole pipeline's first (its stages skip what has not
        changed), the streams' after it (their stages forced, in a run of their own)."""
        if self.files or self.tick or self.catch_up:
            files = tuple(sorted(workspace.relative(f) for f in self.files))
            trigger = Triggered(now(), files, self.tick, self.catch_up)
            self.files, self.tick, self.catch_up = set(), None, False
            return trigger
        stages = (s for name in sorted(self.streams) for s in plan.streams[name])
        trigger = Triggered(now(), streams=tuple(sorted(self.streams.items())), stages=tuple(dict.fromkeys(stages)))
        self.streams = {}
        return trigger


class _Watcher:
    def __init__(self, workspace, plan: WatchPlan, stop: threading.Event, emit, max_runs: int | None, env):
        self.workspace, self.plan, self.stop, self.emit = workspace, plan, stop, emit
        self.max_runs, self.env = max_runs, env
        self.watched = Watched()
        self.pending = _Pending()
        self.state = WatchState.load(state_file(workspace, plan.name))
        self._said_failure = ""

    def watch(self) -> Watched:
        guard = Lease(state_file(self.workspace, self.plan.name).with_suffix(""), f"millpond watch {self.plan.name}")
        if not guard.try_acquire():
            raise MillpondError(f"pipeline {self.plan.name} is being watched already, by {guard.current_holder()}")
        landing = Landing(self.workspace.root, self.plan.files) if self.plan.files else None
        streams = None
        try:
            if landing is not None and not landing.start(self.stop):
                return self.watched
            schedule = self._schedule()
            if self.plan.streams:
                streams = StreamProgress(
                    self.workspace, self.plan.streams, self.state.streams, f"millpond watch {self.plan.name}"
                )
            self.emit(Watching(now(), self.plan, schedule.next_tick(now()) if schedule else None))
            if schedule is not None:
                if self.state.last_tick is not None:
                    self._missed(schedule, "while the watcher was not running")
                self._keep(schedule)
            self._loop(landing, schedule, streams)
        finally:
            if landing is not None:
                landing.close()
            if streams is not None:
                streams.close()
            guard.release()
        return self.watched

    def _schedule(self) -> Schedule | None:
        """The schedule, from the last tick a watch handled (the ticks since are missed) or from now."""
        if not self.plan.cron:
            return None
        current, last = now(), self.state.last_tick
        return Schedule(self.plan.cron, last if last is not None and last <= current else current)

    def _loop(self, landing: Landing | None, schedule: Schedule | None, streams: StreamProgress | None) -> None:
        looked = -math.inf
        while not self.stop.is_set() and (self.max_runs is None or self.watched.runs < self.max_runs):
            if landing is not None:
                if landing.error is not None:
                    raise MillpondError(f"the file watch stopped: {landing.error}")
                self.pending.files.update(landing.take(self.plan.debounce))
            if schedule is not None:
                ticks = schedule.due(now())
                if ticks is not None and ticks.count == 1:
                    self.pending.tick = ticks.last
                elif ticks is not None:  # the watcher was held up (a slow look, a suspended machine)
                    self._report(ticks, "while the watcher was held up")
                self._keep(schedule)
            if streams is not None and time.monotonic() - looked >= STREAM_LOOK:
                looked = time.monotonic()
                self.pending.streams.update(self._look(streams))
            if not self.pending:
                self.stop.wait(IDLE_WAIT)
                continue
            self._run(self.pending.take(self.workspace, self.plan))
            if schedule is not None:
                self._missed(schedule, "while a run was in progress")
                self._keep(schedule)

    def _missed(self, schedule: Schedule, why: str) -> None:
        ticks = schedule.due(now())
        if ticks is not None:
            self._report(ticks, why)

    def _report(self, ticks: Ticks, why: str) -> None:
        self.watched.missed += ticks.count
        self.emit(Missed(now(), ticks, why, seconds=len(self.plan.cron.split()) == 6 if self.plan.cron else False))
        self.pending.catch_up = True

    def _keep(self, schedule: Schedule) -> None:
        if self.state.last_tick != schedule.last:
            self.state.last_tick = schedule.last
            self.state.save()

    def _look(self, streams: StreamProgress) -> dict[str, str]:
        try:
            grown = streams.advanced()
        except Exception as exc:  # noqa: BLE001 - a table another process writes: said once, looked at again
            self._fail(f"{PROGRESS_TABLE}: {_first_line(exc)}", repeat=False)
            return {}
        if streams.seen != self.state.streams:
            self.state.streams = dict(streams.seen)
            self.state.save()
        return grown

    def _fail(self, message: str, *, repeat: bool = True) -> None:
        if repeat or message != self._said_failure:
            self.emit(Failed(now(), message))
        self._said_failure = message

    def _run(self, trigger: Triggered) -> None:
        self.emit(trigger)
        if not self._wait_for_other_runs():
            return
        options = RunOptions(stages=list(trigger.stages), force=bool(trigger.stages), wait=True, env=self.env)
        started = time.perf_counter()
        self.watched.runs += 1
        try:
            result = run_pipeline(self.workspace, self.plan.pipeline, options, reporter=_Quiet(self._waiting))
        except MillpondError as exc:  # the spec broken meanwhile, the warehouse unreachable...: watch on
            self.watched.failed += 1
            self._fail(f"run of {self.plan.name}: {' '.join(str(exc).split())}")
            return
        except Exception as exc:  # noqa: BLE001 - one run went wrong outside its stages: said, and watch on
            self.watched.failed += 1
            self._fail(f"run of {self.plan.name}: {_first_line(exc)}")
            return
        self.emit(Ran(now(), result.run_id or "", result.status, dict(result.stages), time.perf_counter() - started))

    def _waiting(self, text: str) -> None:
        self.emit(Waiting(now(), text))

    def _wait_for_other_runs(self) -> bool:
        """Wait while another process holds the run lock (saying so once); ``False`` when ``stop`` came first."""
        lock = RunLock(self.workspace.meta_dir, f"millpond watch {self.plan.name}")
        told = False
        while True:
            try:
                lock.acquire()
            except LockError:
                if not told:
                    holder = _read(lock) or "unknown"
                    self._waiting(f"waiting for another run to finish ({holder}) ...")
                    told = True
                if self.stop.wait(LOCK_LOOK):
                    return False
                continue
            lock.release()  # free: the run takes it now (and waits, should another slip in between)
            return True


def _read(lock: RunLock) -> str:
    try:
        return lock.path.read_text().strip()
    except OSError:
        return ""


def _first_line(exc: BaseException) -> str:
    first = (str(exc).strip().splitlines() or [""])[0]
    return f"{type(exc).__name__}: {first}" if first else type(exc).__name__
