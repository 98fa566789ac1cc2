"""One ``postgres_cdc`` source's stream into its target, a batch at a time (:class:`ChangeStream`).

:meth:`ChangeStream.start` checks what the warehouse holds against the server: no target
yet, a slot that is gone, lost its WAL or stands **ahead** of the stored LSN (recreated:
changes in between were never read), another server (its system identifier) or a table
dropped and recreated; each makes a full copy (:meth:`ChangeStream.copy`), reported in one
line when it replaces what was there. :meth:`ChangeStream.step` then:

1. takes ``upto``, the WAL flushed now, and peeks the transactions committed before it
   (whole, at most about ``batch`` messages), never consuming them;
2. skips any that commit before the stored LSN (applied by a sync killed before it moved the slot);
3. nets them by key (:mod:`millpond.sources.change_apply`) and, in **one** warehouse transaction,
   deletes and inserts the target's rows and stores the new LSN: the last transaction's end, or
   ``upto`` itself when the batch read everything before it (also when nothing of the table
   came: a heartbeat, so an idle table's slot does not hold the WAL other tables write, DBZ-892);
4. only then advances the slot to that LSN, which so never passes what the warehouse holds.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar

import ibis

from millpond.engines import create_table_as, engine_for, shown_url
from millpond.engines.pgoutput import Decoder, format_lsn, parse_lsn
from millpond.engines.postgres_logical import ChangeLog, SlotGone, SlotInUse, snapshot, text_values
from millpond.errors import MillpondError
from millpond.sources.change_apply import Netted, apply_statements, net_changes, staged_rows, truncate_statement
from millpond.sources.state import read_state, state_statements
from millpond.warehouse.incremental import drop_stale_staging, staging_name
from millpond.warehouse.sql import ensure_schema, quote, run_in_transaction, split_name
from millpond.warehouse.swap import swap_in_table

if TYPE_CHECKING:
    from ibis.backends import BaseBackend

    from millpond.sources.postgres_cdc import PostgresCdcSource

ITEM = "position"
"""The one item of a stream's state: its LSN, the server, slot and table it follows."""
T = TypeVar("T")
BUSY_SECONDS = 30.0
"""How long a step waits for a slot another session holds (a killed sync's query runs on)."""


@dataclass
class Step:
    """What one step did (``position``: the LSN stored in the warehouse after it)."""

    position: int
    changes: int = 0
    transactions: int = 0
    copied: int | None = None
    """Rows of a full copy (``None``: none was made)."""
    stored: bool = False
    caught_up: bool = True
    """Whether it read everything flushed when it started (else the batch limit cut it)."""
    commits: list[float] = field(default_factory=list)
    """Commit times (seconds since the epoch) of the transactions it applied."""
    committed_at: float = 0.0
    behind: int = 0
    """Bytes of WAL written after ``position`` when it ended."""
    seconds: float = 0.0
    note: str | None = None
    """Why it made a full copy over what the warehouse held."""

    @property
    def lag(self) -> float:
        """Seconds from the commit of its last transaction to now; 0 when it applied none."""
        return max(0.0, time.time() - self.commits[-1]) if self.commits else 0.0

    @property
    def rate(self) -> float:
        return self.changes / self.seconds if self.seconds else 0.0


class ChangeStream:
    """``source``'s changes into its target on ``con``; see the module docstring."""

    def __init__(self, source: PostgresCdcSource, con: BaseBackend):
        self.source, self.con = source, con
        self.schema, self.table = split_name(source.spec.target)
        self.decoder = Decoder()
        self.state: dict[str, Any] = {}
        """What the warehouse holds (:data:`ITEM`), as this stream last stored it."""
        self.system: str | None = None
        self.database = ""
        self._slot_at = 0
        """The slot's confirmed LSN, as last seen or moved."""
        try:
            self.log = ChangeLog(
                source.connection_url(),
                source.options.table,
                source.slot,
                source.publication,
                application_name=f"millpond sync {source.name}"[:63],
            )
        except Exception as exc:
            raise source.failure("cannot connect to", exc) from None

    def close(self) -> None:
        self.log.close()

    @property
    def position(self) -> int:
        return parse_lsn(self.state["lsn"]) if self.state else 0

    def committed(self) -> int:
        """An LSN past every transaction the source has committed by now: a step whose
        position reaches it has applied them all (their WAL may take a moment to be flushed)."""
        try:
            return self.log.inserted_lsn()
        except Exception as exc:
            raise self.source.failure("cannot sync from", exc) from None

    def start(self) -> Step | None:
        """Check the warehouse's state against the server; a full copy (the :class:`Step`) when
        there is nothing to follow on from."""
        engine = engine_for(self.con)
        if not engine.transactional:
            raise MillpondError(
                f"source {self.source.name}: the {engine.name} warehouse has no transactions, and a change "
                "stream commits its rows with their position in one"
            )
        try:
            self.system, self.database, wal_level = self.log.server()
            if wal_level != "logical":
                raise MillpondError(
                    f"source {self.source.name}: {shown_url(self.source.options.url)} has wal_level = {wal_level}; "
                    "logical decoding needs wal_level = logical (a server restart)"
                )
            ensure_schema(self.con, self.schema)
            drop_stale_staging(self.con, self.schema, self.table)
            there = engine.maybe_table(self.table, self.schema) is not None
            self.state = read_state(self.con, self.source.name).get(ITEM, {}) if there else {}
            note = self._mismatch() if self.state else None
            return self.copy(note) if not self.state or note else None
        except MillpondError:
            raise
        except Exception as exc:
            raise self.source.failure("cannot sync from", exc) from None

    def _mismatch(self) -> str | None:
        """Why the stored LSN cannot be followed on from, in one line, or ``None``."""
        name, slot_name, at = self.source.name, self.source.slot, self.state["lsn"]
        slot = self.log.slot()
        lost = "; changes in between may be lost, resyncing from a full copy"
        if slot is not None and (slot.database != self.database or slot.plugin != "pgoutput"):
            raise MillpondError(
                f"source {name}: replication slot {slot_name} is another's ({slot.plugin} on database "
                f"{slot.database}); name one of this source's own with options: slot"
            )
        if self.system and self.state.get("system") and self.system != self.state["system"]:
            return f"source {name}: the server is another (system {self.system}, warehouse synced from {self.state['system']}){lost}"
        if slot is None:
            return f"source {name}: replication slot {slot_name} was dropped (warehouse at {at}){lost}"
        if slot.lost:
            return f"source {name}: replication slot {slot_name} lost the WAL it held (warehouse at {at}){lost}"
        if slot.confirmed_flush > parse_lsn(at):
            return (
                f"source {name}: replication slot {slot_name} was dropped or recreated "
                f"(slot at {format_lsn(slot.confirmed_flush)}, warehouse at {at}){lost}"
            )
        if self.log.table_oid() != self.state.get("oid"):
            return f"source {name}: table {self.source.options.table} was dropped or recreated{lost}"
        self._slot_at = slot.confirmed_flush
        return None

    def copy(self, note: str | None = None) -> Step:
        """Create the slot anew, copy the table whole in place of the target and store the slot's LSN."""
        started = time.perf_counter()
        source, options = self.source, self.source.options
        columns = self.log.columns()
        if not columns:
            raise MillpondError(f"source {source.name}: no table {options.table} on {shown_url(options.url)}")
        self._check_key(columns)
        problem = self.log.publication_problem()
        if problem:
            raise MillpondError(f"source {source.name}: {problem}")
        self._slot(self.log.drop_slot)
        lsn = self.log.create_slot()
        rows = snapshot(source.connection_url(), options.table, columns)
        self.state = {
            "lsn": format_lsn(lsn),
            "system": self.system,
            "database": self.database,
            "slot": source.slot,
            "table": options.table,
            "oid": self.log.table_oid(),
            "columns": [list(c) for c in columns],
        }
        swap_in_table(self.con, ibis.memtable(rows), self.schema, self.table, also=lambda _: self._store(whole=True))
        self._slot_at = lsn
        self.decoder = Decoder()  # the relations it knew may be the old columns
        behind = max(0, self.log.current_lsn() - lsn)
        seconds = time.perf_counter() - started
        return Step(lsn, copied=rows.num_rows, stored=True, behind=behind, seconds=seconds, note=note)

    def _check_key(self, columns: list[tuple[str, int, int]]) -> None:
        options, names = self.source.options, [c[0] for c in columns]
        missing = [k for k in options.primary_key if k not in names]
        if missing:
            raise MillpondError(f"source {self.source.name}: {options.table} has no column {', '.join(missing)}")
        kind, logged = self.log.identity()
        if kind == "n" or not set(options.primary_key) <= set(logged):
            raise MillpondError(
                f"source {self.source.name}: primary_key ({', '.join(options.primary_key)}) is not in the replica "
                f"identity of {options.table} ({', '.join(logged) or 'none'}): its updates and deletes would not "
                "carry it; give the table that primary key, or ALTER TABLE ... REPLICA IDENTITY FULL"
            )

    def _store(self, *, whole: bool = False) -> list[str]:
        now = dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)
        return state_statements(
            self.con, self.source.name, {ITEM: self.state}, [], whole=whole, loaded_at=now, run_id=None
        )

    def step(self, *, heartbeat: bool = True) -> Step:
        """Apply the next batch (module docstring); ``heartbeat``: store and advance past WAL
        that brought nothing of the table too."""
        try:
            try:
                return self._step(heartbeat)
            except SlotGone as gone:
                lost = "changes since may be lost, resyncing from a full copy"
                return self.copy(f"source {self.source.name}: {gone}; {lost}")
        except MillpondError:
            raise
        except Exception as exc:
            raise self.source.failure("cannot sync from", exc) from None

    def _step(self, heartbeat: bool) -> Step:
        started = time.perf_counter()
        note = self._mismatch()
        if note:
            return self.copy(note)
        at = self.position
        if self._slot_at < at:  # committed here, not yet acknowledged there: a sync killed in between
            self._slot(self.log.advance, at)
        upto = self.log.flush_lsn()
        messages = self._slot(self.log.peek, upto, self.source.options.batch)
        transactions = self.decoder.decode(messages)
        caught_up = len(messages) < self.source.options.batch
        relation = self.decoder.relations.get(self.state["oid"])
        if relation is not None and [[c.name, c.type_oid, c.typmod] for c in relation.columns] != self.state["columns"]:
            return self.copy(
                f"source {self.source.name}: the columns of {self.source.options.table} changed; resyncing from a full copy"
            )
        fresh = [tx for tx in transactions if tx.commit_lsn >= at]
        last = transactions[-1].end_lsn if transactions else at
        position = max(at, last, upto if caught_up else at)
        names = [c[0] for c in self.state["columns"]]
        key = [names.index(k) for k in self.source.options.primary_key]
        netted = net_changes(fresh, self.state["oid"], key)
        applied = [tx for tx in fresh if tx.changes]  # the publication has the one table
        step = Step(at, netted.changes, len(applied), caught_up=caught_up)
        if netted.changes or (heartbeat and position > at):
            done = self.state.get("transactions", 0) + len(applied)  # an audit: each is applied once
            before, self.state = self.state, {**self.state, "lsn": format_lsn(position), "transactions": done}
            try:
                self._apply(netted, names, key) if netted.changes else run_in_transaction(self.con, self._store())
            except BaseException:
                self.state = before  # what the warehouse still holds
                raise
            step.position, step.stored, step.committed_at = position, True, time.time()
            step.commits = [tx.committed_at.timestamp() for tx in applied]
            if position > self._slot_at:
                self._slot(self.log.advance, position)
                self._slot_at = position
        step.behind = max(0, self.log.current_lsn() - step.position)
        step.seconds = time.perf_counter() - started
        return step

    def _slot(self, call: Callable[..., T], *args: Any) -> T:
        """``call(*args)`` on the slot, waiting up to :data:`BUSY_SECONDS` while another session holds it."""
        waited = 0.0
        while True:
            try:
                return call(*args)
            except SlotInUse as busy:
                if waited >= BUSY_SECONDS:
                    raise MillpondError(
                        f"source {self.source.name}: replication slot {self.source.slot} is in use by process "
                        f"{busy.pid} (another millpond sync of it?)"
                    ) from None
                time.sleep(0.2)
                waited += 0.2

    def _apply(self, netted: Netted, names: list[str], key: list[int]) -> None:
        types = [(c[1], c[2]) for c in self.state["columns"]]
        rows = staged_rows(netted, names, key, lambda values, i: text_values(values, *types[i]))
        staged = staging_name(self.table)
        create_table_as(self.con, staged, ibis.memtable(rows), self.schema)
        try:
            fill, replace = apply_statements(self.con, self.schema, self.table, staged, names, key, rows.column_names)
            truncate = [truncate_statement(self.con, self.schema, self.table)] if netted.truncated else []
            drop = [f"DROP TABLE {quote(self.con, self.schema, staged)}"]
            run_in_transaction(self.con, [*fill, *truncate, *replace, *self._store(), *drop])
        except BaseException:
            with contextlib.suppress(Exception):  # the next start drops one a kill leaves
                run_in_transaction(self.con, [f"DROP TABLE IF EXISTS {quote(self.con, self.schema, staged)}"])
            raise
