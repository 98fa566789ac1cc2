"""What ``millpond watch`` watches (:mod:`millpond.run.watch`), and what it remembers.

- :func:`watch_plan`: the pipeline's ``watch:`` with the command's overrides, checked;
- :class:`Landing`: a thread running watchfiles notes the files that land (are created or
  written) under the watched globs; :meth:`Landing.take` hands them over once none has
  landed for the debounce, so a burst of files is one trigger;
- :class:`Schedule`: a cron schedule's ticks (croniter) since the last one handled, counted;
- :class:`StreamProgress`: a look at ``_millpond.stream_progress`` (one row per stream:
  ``stream``, ``batches``, ``events``, ``late``, ``emitted``, ``watermark``, ``committed_at``),
  through the project's warehouse held only for the look (a DuckDB file has one writer: the
  stream's); a stream's output advanced when ``emitted`` grew, or ``batches`` for a stream that
  emits no windows;
- :class:`WatchState`: the last tick handled and each stream's counts last seen, one JSON file
  in the workspace's metadata folder, so a watch started again knows what it missed.

>>> matches(pattern_parts(Path("/w"), "data/**/*.jsonl"), Path("/w/data/a/b/e.jsonl").parts)
True
>>> matches(pattern_parts(Path("/w"), "data/*.jsonl"), Path("/w/data/a/e.jsonl").parts)
False
>>> [str(f) for f in watched_folders([pattern_parts(Path("/w"), p) for p in ("data/raw/*.csv", "data/raw/x/*.csv")])]
['/w/data/raw']
"""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from fnmatch import fnmatchcase
from pathlib import Path

import watchfiles
from croniter import croniter
from pydantic import ValidationError

from millpond.engines import engine_for
from millpond.errors import MillpondError
from millpond.project import project_of
from millpond.settings.watch import WatchSpec
from millpond.warehouse.sql import split_name
from millpond.workspace import Workspace
from millpond.yaml_source import shorten

PROGRESS_TABLE = "_millpond.stream_progress"
MAX_COUNTED = 10_000
"""Ticks counted one by one; past this many (a schedule of seconds after a week away) the count says "more than"."""
MAGIC = frozenset("*?[")


def pattern_parts(root: Path, pattern: str) -> tuple[str, ...]:
    """The components of glob ``pattern`` from ``root`` (an absolute pattern stays as it is)."""
    return Path(os.path.normpath(os.path.join(root, pattern))).parts


def matches(parts: Sequence[str], path: Sequence[str]) -> bool:
    """Whether the components ``path`` match the glob components ``parts`` (``**``: any number of folders)."""
    if not parts:
        return not path
    if parts[0] == "**":
        return any(matches(parts[1:], path[i:]) for i in range(len(path) + 1))
    return bool(path) and fnmatchcase(path[0], parts[0]) and matches(parts[1:], path[1:])


def watched_folders(patterns: Iterable[Sequence[str]]) -> list[Path]:
    """The folders to watch (recursively) for ``patterns``: each one's part before its first
    wildcard (a plain file's folder), none inside another."""
    folders = set()
    for parts in patterns:
        fixed = list(_until_magic(parts))
        folders.add(Path(*fixed) if len(fixed) < len(parts) else Path(*parts).parent)
    return sorted(f for f in folders if not any(o != f and f.is_relative_to(o) for o in folders))


def _until_magic(parts: Sequence[str]) -> Iterable[str]:
    for part in parts:
        if MAGIC & set(part):
            return
        yield part


@dataclass(frozen=True)
class WatchPlan:
    """What a watch watches: the declared ``watch:`` with the command's overrides."""

    pipeline: str
    """The pipeline as named to the command (a name or a file)."""
    name: str
    files: tuple[str, ...]
    debounce: float
    cron: str | None
    streams: dict[str, tuple[str, ...]] = field(default_factory=dict)
    """Each stream watched, and the stages that run when its output advances."""


def watch_plan(
    workspace: Workspace,
    pipeline: str,
    *,
    files: Sequence[str] | None = None,
    debounce: float | None = None,
    cron: str | None = None,
) -> WatchPlan:
    """The pipeline's ``watch:`` with the given overrides, checked (one line for a mistake)."""
    loaded = project_of(workspace).pipeline(pipeline)
    declared = loaded.spec.watch or WatchSpec()
    given = {"files": None if files is None else list(files), "debounce": debounce, "cron": cron}
    given = {key: value for key, value in given.items() if value is not None}
    try:
        spec = WatchSpec.model_validate({**declared.model_dump(exclude_unset=True), **given})
    except ValidationError as exc:
        error = exc.errors()[0]
        option = str(error["loc"][0]) if error["loc"] else "watch"
        value = shorten(error["input"])
        said = error["msg"].removeprefix("Value error, ").removeprefix(f"{value}: ")  # the value, said once
        raise MillpondError(f"--{option} {value}: {said}") from None
    reads = [glob for stage in loaded.spec.stages for glob in stage.reads]  # a source's files are among them
    streams: dict[str, list[str]] = {}
    for stage in loaded.spec.stages:
        if stage.on_stream:
            streams.setdefault(stage.on_stream, []).append(stage.name)
    plan = WatchPlan(
        pipeline,
        loaded.name,
        tuple(dict.fromkeys(reads if spec.files is None else spec.files)),
        spec.debounce,
        spec.cron,
        {name: tuple(stages) for name, stages in streams.items()},
    )
    if not (plan.files or plan.cron or plan.streams):
        raise MillpondError(
            f"pipeline {loaded.name!r} has nothing to watch: its stages read no files, it has no watch.cron and no "
            f"stage declares on_stream; declare watch: {{files: [...], cron: ...}} or pass --files or --cron"
        )
    return plan


class Landing:
    """The files landing under ``patterns`` (globs from ``root``), noted by a watchfiles thread."""

    def __init__(self, root: Path, patterns: Sequence[str]):
        self.patterns = [pattern_parts(root, p) for p in patterns]
        self.folders = watched_folders(self.patterns)
        self.error: str | None = None
        """Why the thread stopped watching, when it did."""
        self._stop, self._ready, self._lock = threading.Event(), threading.Event(), threading.Lock()
        self._landed: set[str] = set()
        self._last = 0.0
        self._thread = threading.Thread(target=self._watch, name="millpond-watch-files", daemon=True)

    def start(self, stop: threading.Event) -> bool:
        """Start watching (each folder made when missing); ``False`` when ``stop`` came first."""
        for folder in self.folders:
            try:
                folder.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise MillpondError(f"cannot watch {folder}: {exc.strerror or exc}") from None
        self._thread.start()
        while not self._ready.wait(0.05):
            if stop.is_set():
                return False
        if self.error is not None:
            raise MillpondError(f"cannot watch {', '.join(map(str, self.folders))}: {self.error}")
        return True

    def _watch(self) -> None:
        try:
            for changes in watchfiles.watch(
                *self.folders,
                watch_filter=self._wanted,
                debounce=200,
                step=50,
                stop_event=self._stop,
                rust_timeout=100,
                yield_on_timeout=True,  # an empty set: the first says the watch is set up
                raise_interrupt=False,
                ignore_permission_denied=True,
            ):
                self._ready.set()
                if changes:
                    with self._lock:
                        self._landed.update(path for _, path in changes)
                        self._last = time.monotonic()
        except Exception as exc:  # noqa: BLE001 - said by the watcher, which stops
            self.error = f"{type(exc).__name__}: {exc}"
        finally:
            self._ready.set()

    def _wanted(self, change: watchfiles.Change, path: str) -> bool:
        parts = Path(path).parts
        return change != watchfiles.Change.deleted and any(matches(p, parts) for p in self.patterns)

    def take(self, quiet: float) -> list[str]:
        """The files that landed since the last take, once none has for ``quiet`` seconds; else none."""
        with self._lock:
            if not self._landed or time.monotonic() - self._last < quiet:
                return []
            landed, self._landed = sorted(self._landed), set()
        return landed

    def close(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=2)


@dataclass(frozen=True)
class Ticks:
    """Ticks of a schedule that came: the first, the last, how many (``more``: at least that many)."""

    first: datetime
    last: datetime
    count: int
    more: bool = False


class Schedule:
    """A cron schedule (five fields, or six with seconds last), in local time."""

    def __init__(self, expression: str, last: datetime):
        self.expression = expression
        self.last = last
        """The latest tick handled (run or reported missed)."""

    @property
    def has_seconds(self) -> bool:
        return len(self.expression.split()) == 6

    def next_tick(self, after: datetime) -> datetime:
        """The first tick after ``after`` (and after the last handled)."""
        return croniter(self.expression, max(self.last, after)).get_next(datetime)

    def due(self, now: datetime) -> Ticks | None:
        """The ticks after the last handled, up to ``now`` (then handled), or ``None``."""
        ticks = croniter(self.expression, self.last)
        first = ticks.get_next(datetime)
        if first > now:
            return None
        last, count = first, 1
        while count < MAX_COUNTED:
            following = ticks.get_next(datetime)
            if following > now:
                break
            last, count = following, count + 1
        else:
            last = croniter(self.expression, now).get_prev(datetime)
        self.last = max(last, first)
        return Ticks(first, self.last, count, more=count >= MAX_COUNTED)


class StreamProgress:
    """The streams' progress, looked at now and then (module docstring)."""

    def __init__(self, workspace: Workspace, streams: Iterable[str], seen: dict[str, tuple[int, int]], holder: str):
        self.workspace = workspace
        self.streams = sorted(set(streams))
        self.seen = {name: counts for name, counts in seen.items() if name in self.streams}
        """Each stream's ``(emitted, batches)`` at the last look."""
        self.warehouse = project_of(workspace).warehouse(holder)

    def look(self) -> dict[str, tuple[int, int]] | None:
        """Each stream's ``(emitted, batches)`` now (absent: none yet), or ``None`` when the
        warehouse is busy (the next look will tell)."""
        database = self.workspace.warehouse_file()
        if database is not None and not database.exists():
            return {}
        lease = self.warehouse.lease
        if lease is not None and not lease.try_acquire():
            return None
        try:
            con = self.warehouse.hold()
            schema, name = split_name(PROGRESS_TABLE)
            table = engine_for(con).maybe_table(name, schema)
            if table is None:
                return {}
            rows = table.filter(table["stream"].isin(self.streams)).select("stream", "emitted", "batches")
            found: dict[str, tuple[int, int]] = {}
            for row in rows.to_pyarrow().to_pylist():
                counts = (int(row["emitted"] or 0), int(row["batches"] or 0))
                found[row["stream"]] = max(counts, found.get(row["stream"], counts))
            return found
        finally:
            self.warehouse.pause()

    def advanced(self) -> dict[str, str]:
        """The streams whose output advanced since the last look, with what came (``3 windows``).

        A stream seen for the first time, with no record of an earlier watch, is where it
        stands; one without a row has emitted nothing yet.
        """
        now = self.look()
        if now is None:
            return {}
        grown = {}
        for name in self.streams:
            emitted, batches = now.get(name, (0, 0))
            before = self.seen.get(name)
            self.seen[name] = (emitted, batches)
            if before is None and name in now:
                continue
            was_emitted, was_batches = before or (0, 0)
            if emitted > was_emitted:
                grown[name] = f"{emitted - was_emitted:,} new window{'s' * (emitted - was_emitted != 1)}"
            elif emitted == 0 and batches > was_batches:
                grown[name] = f"{batches - was_batches:,} new batch{'es' * (batches - was_batches != 1)}"
        return grown

    def close(self) -> None:
        self.warehouse.close()


@dataclass
class WatchState:
    """What a watch keeps between its starts (module docstring), in ``path``."""

    path: Path
    last_tick: datetime | None = None
    streams: dict[str, tuple[int, int]] = field(default_factory=dict)

    @classmethod
    def load(cls, path: Path) -> WatchState:
        """The state kept in ``path``; an empty one when there is none (or it cannot be read)."""
        try:
            data = json.loads(path.read_text())
            tick = datetime.fromisoformat(data["last_tick"]) if data.get("last_tick") else None
            if tick is not None and tick.tzinfo is None:
                tick = tick.astimezone()
            streams = {str(k): (int(v[0]), int(v[1])) for k, v in dict(data.get("streams") or {}).items()}
        except (OSError, ValueError, TypeError, KeyError, IndexError, AttributeError):
            return cls(path)
        return cls(path, tick, streams)

    def save(self) -> None:
        """Written whole, then renamed in: a watch killed while writing leaves the previous state."""
        data = {
            "last_tick": self.last_tick.isoformat() if self.last_tick else None,
            "streams": {k: list(v) for k, v in sorted(self.streams.items())},
        }
        self.path.parent.mkdir(parents=True, exist_ok=True)
        partial = self.path.with_name(self.path.name + ".partial")
        partial.write_text(json.dumps(data, indent=1) + "\n")
        os.replace(partial, self.path)
