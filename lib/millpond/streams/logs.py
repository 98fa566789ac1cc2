"""The replayable logs a stream reads, read from offsets per partition (:class:`EventLog`).

A log hands out events in its own order, from the offsets a stream committed, at most
``limit`` at a time. Offsets are text (a byte position, a row number, a Redis entry id), one per
partition; reading again from the same offsets gives the same events, which is what makes a
killed micro-batch redoable and a stream replayable. Rows that cannot become events (a line
that is not JSON, a field of the wrong type, a file that does not open) come back as
:class:`Reject` rows, which the stream keeps with their reason: nothing is dropped unseen.

The ``files`` log (:class:`FolderLog`): every file the glob matches is a partition, read in
name order. A JSON-lines file may grow (only whole lines are read; the offset is the byte
position after the last one), and a Parquet file is read whole once it has landed (write it
under another name and rename it into place).
"""

from __future__ import annotations

import glob as globbing
import io
import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.json as pa_json

ARROW_TYPES = {
    "string": pa.string(),
    "int64": pa.int64(),
    "float64": pa.float64(),
    "boolean": pa.bool_(),
    "timestamp": pa.timestamp("us"),
}
CHUNK_BYTES = 64 << 20
"""A JSON-lines file is read at most this much at a time."""
SETTLE_SECONDS = 5.0
"""A Parquet file that does not open is retried this long after it last changed (it may be
landing still), then kept as a reject."""


@dataclass
class Reject:
    """A row that could not become an event: where it is and why."""

    partition: str
    offset: str
    reason: str
    detail: str
    raw: str = ""


@dataclass
class LogBatch:
    """Events read in log order (with ``_partition`` and ``_offset``), rejects, and the offsets
    after them."""

    events: pa.Table
    offsets: dict[str, str]
    rejects: list[Reject] = field(default_factory=list)
    more: bool = False
    """The log has more on its way that it cannot hand out yet (committed, not yet readable)."""

    @property
    def empty(self) -> bool:
        return self.events.num_rows == 0 and not self.rejects


class EventLog:
    """A replayable log: :meth:`read` from offsets."""

    def read(self, offsets: dict[str, str], limit: int) -> LogBatch:
        """Up to ``limit`` events after ``offsets`` (``{}``: from the beginning)."""
        raise NotImplementedError

    def committed(self, offsets: dict[str, str]) -> None:
        """The stream committed everything up to ``offsets`` (a log may let go of what is before)."""

    def close(self) -> None:
        """Let go of connections and files."""


def with_position(table: pa.Table, partition: str, offsets: np.ndarray | list) -> pa.Table:
    """``table`` with ``_partition`` (dictionary-encoded) and ``_offset`` columns (whole numbers
    as ``int64``, entry ids as text)."""
    count = table.num_rows
    names = pa.DictionaryArray.from_arrays(pa.array(np.zeros(count, np.int32)), pa.array([partition]))
    positions = pa.array(offsets, pa.int64()) if isinstance(offsets, np.ndarray) else pa.array(offsets, pa.string())
    return table.append_column("_partition", names).append_column("_offset", positions)


class FolderLog(EventLog):
    """JSON-lines or Parquet files matched by a glob, each a partition (module docstring)."""

    def __init__(self, root: Path, pattern: str, fmt: str, columns: dict[str, str]):
        self.root, self.pattern, self.format = root, pattern, fmt
        self.schema = pa.schema([(name, ARROW_TYPES[kind]) for name, kind in columns.items()]) if columns else None
        self._sizes: dict[tuple, int] = {}  # rows of a Parquet file, by (name, size, mtime)
        self._cached: tuple[tuple, pa.Table] | None = None  # the last Parquet file read

    def files(self) -> list[str]:
        """The partitions: matching files, from the workspace root, in name order."""
        found = globbing.glob(str(self.root / self.pattern), recursive=True)
        return sorted(str(Path(p).relative_to(self.root)) for p in found if Path(p).is_file())

    def read(self, offsets: dict[str, str], limit: int) -> LogBatch:
        tables: list[pa.Table] = []
        rejects: list[Reject] = []
        after = dict(offsets)
        left = limit
        for name in self.files():
            if left <= 0:
                break
            start = int(after.get(name, "0"))
            if start < 0:
                continue  # a file kept as a reject
            read = self._jsonl if self.format == "jsonl" else self._parquet
            table, end, bad = read(name, start, left)
            rejects += bad
            if table is not None and table.num_rows:
                tables.append(table)
                left -= table.num_rows
            after[name] = str(end)
        events = pa.concat_tables(tables, promote_options="permissive") if tables else pa.table({})
        return LogBatch(events, after, rejects)

    def _jsonl(self, name: str, start: int, limit: int) -> tuple[pa.Table | None, int, list[Reject]]:
        with open(self.root / name, "rb") as handle:
            handle.seek(start)
            data = handle.read(CHUNK_BYTES)
        ends = np.flatnonzero(np.frombuffer(data, np.uint8) == 10)
        if not len(ends):
            return None, start, []
        ends = ends[:limit]
        data = data[: int(ends[-1]) + 1]
        starts = np.concatenate([[0], ends[:-1] + 1]) + start
        table, rejects = self._lines(name, data, starts)
        return table, start + len(data), rejects

    def _lines(self, name: str, data: bytes, starts: np.ndarray) -> tuple[pa.Table | None, list[Reject]]:
        """Whole lines as events: by Arrow's reader, or line by line when it refuses a line."""
        options = pa_json.ParseOptions(explicit_schema=self.schema, unexpected_field_behavior="ignore")
        if self.schema is not None:
            try:
                table = pa_json.read_json(io.BytesIO(data), parse_options=options)
                if table.num_rows == len(starts):
                    return with_position(table, name, starts), []
            except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
                pass
        return self._line_by_line(name, data, starts)

    def _line_by_line(self, name: str, data: bytes, starts: np.ndarray) -> tuple[pa.Table | None, list[Reject]]:
        rows: list[dict[str, Any]] = []
        kept: list[int] = []
        rejects: list[Reject] = []
        base = int(starts[0])
        for offset in starts.tolist():
            end = data.find(b"\n", offset - base)
            line = data[offset - base : end]
            try:
                value = json.loads(line)
                if not isinstance(value, dict):
                    raise ValueError("not a JSON object")
                rows.append(_typed(value, self.schema))
                kept.append(offset)
            except (ValueError, TypeError, OverflowError) as exc:
                text = line[:2000].decode("utf-8", "replace")
                if text.strip():
                    rejects.append(Reject(name, str(offset), "malformed", f"line at byte {offset}: {exc}", text))
        if not rows:
            return None, rejects
        table = pa.Table.from_pylist(rows, schema=self.schema) if self.schema else pa.Table.from_pylist(rows)
        return with_position(table, name, np.asarray(kept, np.int64)), rejects

    def _parquet(self, name: str, start: int, limit: int) -> tuple[pa.Table | None, int, list[Reject]]:
        import pyarrow.parquet as pq  # HEAVY: only Parquet logs read it

        path = self.root / name
        seen = path.stat()
        stamp = (name, seen.st_size, seen.st_mtime_ns)
        rows = self._sizes.get(stamp)
        if rows is not None and start >= rows:
            return None, start, []  # read to its end already
        try:
            if self._cached is not None and self._cached[0] == stamp:
                whole = self._cached[1]
            else:
                whole = pq.read_table(path)
                self._cached = (stamp, whole)
                self._sizes[stamp] = whole.num_rows
        except (OSError, pa.ArrowException) as exc:
            if time.time() - path.stat().st_mtime < SETTLE_SECONDS:
                return None, start, []  # landing still: look again later
            reason = str(exc).splitlines()[0][:300]
            return None, -1, [Reject(name, "0", "unreadable_file", f"{name}: {reason}")]
        part = whole.slice(start, limit)
        if self.schema is not None:
            part = part.select([c for c in self.schema.names if c in part.column_names])
        return with_position(part, name, np.arange(start, start + part.num_rows)), start + part.num_rows, []


def _typed(value: dict[str, Any], schema: pa.Schema | None) -> dict[str, Any]:
    """A parsed line's declared fields as their types (one field's problem raises)."""
    if schema is None:
        return value
    out: dict[str, Any] = {}
    for f in schema:
        item = value.get(f.name)
        if item is not None:
            try:
                item = pa.array([item]).cast(f.type)[0].as_py()
            except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError, OverflowError) as exc:
                raise ValueError(f"field {f.name}: {str(exc).splitlines()[0][:200]}") from None
        out[f.name] = item
    return out
