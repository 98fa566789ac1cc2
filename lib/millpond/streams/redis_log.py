"""The ``redis`` log: Redis Streams, each stream key a partition, its entry ids the offsets.

Entries are read with ``XRANGE key (last-id + COUNT n``, so the log is as replayable as the
stream keeps its entries (``XTRIM`` or ``MAXLEN`` forget the oldest: a replay then starts at
the first kept). No consumer group is used: the offsets are committed with the stream's
output in the warehouse, which is what makes the processing exactly once; Redis only holds the
log. An entry's fields are its event's columns, typed by the declared ``columns``; a field that
does not convert makes the entry a reject (``malformed``), kept with its id.

>>> RedisLog.next_after("1700000000000-5")
'(1700000000000-5'
"""

from __future__ import annotations

from typing import Any

import pyarrow as pa
import redis

from millpond.errors import MillpondError
from millpond.streams.logs import ARROW_TYPES, EventLog, LogBatch, Reject, with_position


class RedisLog(EventLog):
    """Entries of Redis stream keys (module docstring)."""

    def __init__(self, url: str, keys: list[str], columns: dict[str, str], *, shown_url: str = "redis"):
        self.keys = keys
        self.schema = pa.schema([(name, ARROW_TYPES[kind]) for name, kind in columns.items()])
        self.shown = shown_url
        try:
            self.client = redis.Redis.from_url(url, socket_timeout=30, socket_connect_timeout=10)
            self.client.ping()
        except (redis.RedisError, ValueError) as exc:
            raise MillpondError(f"redis source {shown_url}: {_reason(exc)}") from None

    @staticmethod
    def next_after(entry_id: str) -> str:
        """The ``XRANGE`` start that excludes ``entry_id``."""
        return "(" + entry_id if entry_id not in ("", "-") else "-"

    def read(self, offsets: dict[str, str], limit: int) -> LogBatch:
        tables: list[pa.Table] = []
        rejects: list[Reject] = []
        after = dict(offsets)
        left = limit
        for key in self.keys:
            if left <= 0:
                break
            try:
                entries = self.client.xrange(key, min=self.next_after(after.get(key, "-")), max="+", count=left)
            except redis.RedisError as exc:
                raise MillpondError(f"redis source {self.shown}: stream {key}: {_reason(exc)}") from None
            if not entries:
                continue
            table, bad = self._table(key, entries)
            rejects += bad
            if table is not None:
                tables.append(table)
                left -= table.num_rows
            after[key] = entries[-1][0].decode()
        events = pa.concat_tables(tables, promote_options="permissive") if tables else pa.table({})
        return LogBatch(events, after, rejects)

    def _table(self, key: str, entries: list[tuple[bytes, dict[bytes, bytes]]]) -> tuple[pa.Table | None, list]:
        """Entries as typed columns; an entry whose field does not convert is a reject."""
        names = [f.name.encode() for f in self.schema]
        texts: list[list[Any]] = [[fields.get(name) for _, fields in entries] for name in names]
        ids = [entry_id.decode() for entry_id, _ in entries]
        columns = []
        bad_rows: dict[int, str] = {}
        for f, values in zip(self.schema, texts, strict=True):
            decoded = pa.array([None if v is None else v.decode("utf-8", "replace") for v in values], pa.string())
            try:
                columns.append(decoded.cast(f.type) if f.type != pa.string() else decoded)
            except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
                converted = []
                for i, text in enumerate(decoded.to_pylist()):
                    try:
                        converted.append(None if text is None else pa.array([text]).cast(f.type)[0].as_py())
                    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
                        converted.append(None)
                        bad_rows.setdefault(i, f"field {f.name}: {text[:100]!r} is not {f.type}")
                columns.append(pa.array(converted, f.type))
        table = pa.Table.from_arrays(columns, schema=self.schema)
        rejects = [
            Reject(key, ids[i], "malformed", f"entry {ids[i]}: {why}", _raw(entries[i][1]))
            for i, why in bad_rows.items()
        ]
        if bad_rows:
            keep = [i for i in range(len(ids)) if i not in bad_rows]
            table, ids = table.take(pa.array(keep, pa.int64())), [ids[i] for i in keep]
        return (with_position(table, key, ids) if table.num_rows else None), rejects

    def close(self) -> None:
        self.client.close()


def _raw(fields: dict[bytes, bytes]) -> str:
    return str({k.decode("utf-8", "replace"): v.decode("utf-8", "replace") for k, v in fields.items()})[:2000]


def _reason(exc: BaseException) -> str:
    """The error's first line, without the URL it may quote (a password in it)."""
    return str(exc).splitlines()[0][:300] if str(exc) else type(exc).__name__
