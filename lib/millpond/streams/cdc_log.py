"""The ``postgres_cdc`` log: a PostgreSQL table's changes as a stream's events.

A stream names a declared ``postgres_cdc`` source (its server, table, password secret) and
reads the table's changes through a replication slot of its own, ``millpond_stream_<stream>``
(so ``millpond sync`` of the same source keeps its slot), from the moment the slot is made.
Each change is an event: the row's columns (the new row of an insert or update, the key of a
delete), ``_op`` (``insert``, ``update``, ``delete``, ``truncate``) and ``_commit_time`` (its
transaction's commit time, an event time to window on). The offset is the LSN after the last
transaction read; the stream commits it with its windows, and only then is the slot advanced
(:meth:`CdcLog.committed`), so a kill in between re-reads nothing it committed: transactions
before the committed LSN are skipped. A slot that is gone ends the stream in one line: the
changes since its offset are lost to it.
"""

from __future__ import annotations

import time

import pyarrow as pa

from millpond.engines.pgoutput import DELETE, INSERT, TRUNCATE, UNCHANGED, UPDATE, Decoder, format_lsn, parse_lsn
from millpond.engines.postgres_logical import ChangeLog, SlotGone, text_values
from millpond.environment import active_env
from millpond.errors import MillpondError
from millpond.sources.postgres_cdc import PostgresCdcSource, slot_name
from millpond.streams.logs import EventLog, LogBatch

OPS = {INSERT: "insert", UPDATE: "update", DELETE: "delete", TRUNCATE: "truncate"}
HEARTBEAT_BYTES, HEARTBEAT_SECONDS = 1 << 20, 10.0
"""An idle table's offset still moves on (so its slot never holds the WAL other tables write)
once this much WAL or time has passed."""


class CdcLog(EventLog):
    """A PostgreSQL table's changes through the stream's own slot (module docstring)."""

    def __init__(self, source: PostgresCdcSource, stream: str, slot: str | None = None):
        self.source, self.partition = source, source.options.table
        self.slot = slot or slot_name(f"stream_{stream}", active_env())
        try:
            self.log = ChangeLog(
                source.connection_url(),
                source.options.table,
                self.slot,
                source.publication,
                application_name=f"millpond stream {stream}",
            )
            problem = self.log.publication_problem()
            self.columns = self.log.columns()
            self.oid = self.log.table_oid()
        except MillpondError:
            raise
        except Exception as exc:
            raise source.failure("cannot stream from", exc) from None
        if problem:
            raise MillpondError(f"source {source.name}: {problem}")
        self.decoder = Decoder()
        self.beat = time.monotonic()
        self.target = self.log.inserted_lsn()
        """Every transaction committed before this log was opened ends by here: a run that stops
        when caught up reads at least that far (its WAL may not be flushed yet)."""

    def read(self, offsets: dict[str, str], limit: int) -> LogBatch:
        try:
            return self._read(offsets, limit)
        except MillpondError:
            raise
        except SlotGone as gone:
            raise MillpondError(
                f"stream source {self.source.name}: replication slot {self.slot}: {gone}; the changes since "
                f"{offsets.get(self.partition)} are lost to this stream"
            ) from None
        except Exception as exc:
            raise self.source.failure("cannot stream from", exc) from None

    def _read(self, offsets: dict[str, str], limit: int) -> LogBatch:
        stored = offsets.get(self.partition)
        slot = self.log.slot()
        if slot is None:
            if stored is not None:
                raise SlotGone("it is gone")
            at = self.log.create_slot()  # the stream's log starts now
            return LogBatch(pa.table({}), {**offsets, self.partition: format_lsn(at)})
        at = parse_lsn(stored) if stored else slot.confirmed_flush
        if slot.confirmed_flush < at:  # committed in the warehouse, not acknowledged here: a stream killed in between
            self.log.advance(at)
        upto = self.log.flush_lsn()
        messages = self.log.peek(upto, limit)
        transactions = [tx for tx in self.decoder.decode(messages) if tx.commit_lsn >= at]
        position = transactions[-1].end_lsn if transactions else at
        if len(messages) < limit and upto > position:  # read everything before upto
            idle = upto - position >= HEARTBEAT_BYTES or time.monotonic() - self.beat >= HEARTBEAT_SECONDS
            if transactions or idle:
                position = upto
                self.beat = time.monotonic()
        more = not transactions and position < self.target
        return LogBatch(self._events(transactions), {**offsets, self.partition: format_lsn(position)}, more=more)

    def _events(self, transactions) -> pa.Table:
        names = [c[0] for c in self.columns]
        rows: list[list] = []
        ops, times, lsns = [], [], []
        for tx in transactions:
            for kind, oid, new, old in tx.changes:
                if oid != self.oid:
                    continue
                values = new if new is not None else old if old is not None else [None] * len(names)
                rows.append([None if v is UNCHANGED else v for v in values])
                ops.append(OPS[kind])
                times.append(tx.committed_at_us + 946_684_800_000_000)  # PostgreSQL's epoch is 2000-01-01
                lsns.append(format_lsn(tx.commit_lsn))
        if not rows:
            return pa.table({})
        columns = {
            name: text_values([r[i] for r in rows], oid, typmod) for i, (name, oid, typmod) in enumerate(self.columns)
        }
        columns["_op"] = pa.array(ops, pa.string())
        columns["_commit_time"] = pa.array(times, pa.int64()).cast(pa.timestamp("us"))
        columns["_partition"] = pa.array([self.partition] * len(rows), pa.string())
        columns["_offset"] = pa.array(lsns, pa.string())
        return pa.table(columns)

    def committed(self, offsets: dict[str, str]) -> None:
        """The stream committed up to ``offsets``: the slot may let go of the WAL before."""
        stored = offsets.get(self.partition)
        if stored:
            try:
                self.log.advance(parse_lsn(stored))
            except Exception:  # the next read advances it first
                pass

    def close(self) -> None:
        self.log.close()
