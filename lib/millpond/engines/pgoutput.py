"""PostgreSQL's ``pgoutput`` logical decoding messages (protocol version 1), decoded.

What a replication slot of the ``pgoutput`` plugin returns, one binary message a row, read
through ``pg_logical_slot_peek_binary_changes`` (:mod:`millpond.engines.postgres_logical`):
``Begin`` (the commit's LSN and time), ``Relation`` (a table's columns and their types,
sent before its first change), ``Insert``, ``Update``, ``Delete``, ``Truncate`` and
``Commit`` (the end of the commit record). ``Type``, ``Origin`` and ``Message`` carry nothing
a copy of a table needs and are skipped. :class:`Decoder` turns a batch of messages into
whole :class:`Transaction` s, in commit order.

A column's value comes as its text (``bytes``, the type's output function: ``'t'``/``'f'``
for a boolean), as ``None`` (NULL), or as :data:`UNCHANGED`: a TOASTed value an update did
not change, which the message leaves out (the reader keeps the value it has).

>>> begin = b"B" + (0x16B3748).to_bytes(8, "big") + (0).to_bytes(8, "big") + (730).to_bytes(4, "big")
>>> relation = (b"R" + (16385).to_bytes(4, "big") + b"public\\0t\\0d" + (2).to_bytes(2, "big")
...             + b"\\x01id\\0" + (23).to_bytes(4, "big") + (-1).to_bytes(4, "big", signed=True)
...             + b"\\x00v\\0" + (25).to_bytes(4, "big") + (-1).to_bytes(4, "big", signed=True))
>>> insert = b"I" + (16385).to_bytes(4, "big") + b"N" + (2).to_bytes(2, "big") + b"t" + (1).to_bytes(4, "big") + b"7n"
>>> commit = b"C\\0" + (0x16B3748).to_bytes(8, "big") + (0x16B3780).to_bytes(8, "big") + (0).to_bytes(8, "big")
>>> decoder = Decoder()
>>> [tx] = decoder.decode([begin, relation, insert, commit])
>>> format_lsn(tx.commit_lsn), format_lsn(tx.end_lsn), tx.changes
('0/16B3748', '0/16B3780', [(73, 16385, [b'7', None], None)])
>>> decoder.relations[16385].key_positions(["id"])
[0]
"""

from __future__ import annotations

import datetime as dt
import gc
import struct
from collections.abc import Iterable
from dataclasses import dataclass, field

INSERT, UPDATE, DELETE, TRUNCATE = ord("I"), ord("U"), ord("D"), ord("T")
"""The kinds of change, as the first byte of their message."""
EPOCH = dt.datetime(2000, 1, 1, tzinfo=dt.timezone.utc)
"""PostgreSQL's epoch: commit times are microseconds since it."""

_INT16, _INT32, _OID = struct.Struct(">h"), struct.Struct(">i"), struct.Struct(">I")
_BEGIN = struct.Struct(">qqi")
_COMMIT = struct.Struct(">bqqq")
_T, _N, _U = ord("t"), ord("n"), ord("u")


class _Unchanged:
    def __repr__(self) -> str:
        return "UNCHANGED"


UNCHANGED = _Unchanged()
"""A TOASTed value an update left as it was (the message does not carry it)."""


def format_lsn(lsn: int) -> str:
    """An LSN as PostgreSQL writes it.

    >>> format_lsn(23803720), format_lsn(parse_lsn("1/0"))
    ('0/16B3748', '1/0')
    """
    return f"{lsn >> 32:X}/{lsn & 0xFFFFFFFF:X}"


def parse_lsn(text: str) -> int:
    """An LSN written ``X/Y`` (hex) as a number.

    >>> parse_lsn("0/16B3748")
    23803720
    """
    high, low = text.split("/")
    return (int(high, 16) << 32) + int(low, 16)


@dataclass
class Column:
    """A column of a :class:`Relation`: its name, type OID and modifier, and whether it is part
    of the table's replica identity (its key)."""

    name: str
    type_oid: int
    typmod: int
    key: bool


@dataclass
class Relation:
    """A table as its ``Relation`` message describes it."""

    oid: int
    schema: str
    name: str
    identity: str
    """Replica identity: ``d`` (the primary key), ``f`` (every column), ``i`` (an index), ``n`` (none)."""
    columns: list[Column]

    @property
    def names(self) -> list[str]:
        return [c.name for c in self.columns]

    def key_positions(self, key: list[str]) -> list[int]:
        """Where the columns of ``key`` are in a row of this relation (a ``ValueError`` names a missing one)."""
        names = self.names
        return [names.index(k) for k in key]


@dataclass
class Transaction:
    """One committed transaction: its changes in order, each ``(kind, relation oid, new row,
    old row)`` (the old row: the key of an update that changed it, or of a delete; ``None`` when
    absent); a truncate is ``(TRUNCATE, relation oid, None, None)`` for each table it emptied."""

    commit_lsn: int
    """Where its commit record starts (``Begin``'s final LSN)."""
    committed_at_us: int
    """Its commit time, microseconds since :data:`EPOCH`."""
    xid: int
    end_lsn: int = 0
    """Where its commit record ends: decoding from there on never returns it again."""
    changes: list[tuple] = field(default_factory=list)

    @property
    def committed_at(self) -> dt.datetime:
        return EPOCH + dt.timedelta(microseconds=self.committed_at_us)


class Decoder:
    """Decodes batches of ``pgoutput`` messages, keeping the relations it was told about."""

    def __init__(self) -> None:
        self.relations: dict[int, Relation] = {}

    def decode(self, messages: Iterable[bytes]) -> list[Transaction]:
        """The whole transactions in ``messages`` (one left open at the end is dropped: it was cut)."""
        enabled = gc.isenabled()
        gc.disable()  # lists by the hundred thousand: collection passes would cost more than the decoding
        try:
            return self._decode(messages)
        finally:
            if enabled:
                gc.enable()

    def _decode(self, messages: Iterable[bytes]) -> list[Transaction]:
        done: list[Transaction] = []
        current: Transaction | None = None
        changes: list[tuple] = []
        add = changes.append
        for data in messages:
            kind = data[0]
            if kind == INSERT:
                add((INSERT, _OID.unpack_from(data, 1)[0], _tuple(data, 6)[0], None))
            elif kind == UPDATE:
                add(_update(data))
            elif kind == DELETE:
                add((DELETE, _OID.unpack_from(data, 1)[0], None, _tuple(data, 6)[0]))
            elif kind == 66:  # B: begin
                final_lsn, at, xid = _BEGIN.unpack_from(data, 1)
                current = Transaction(final_lsn, at, xid)
                changes = current.changes
                add = changes.append
            elif kind == 67:  # C: commit
                if current is not None:
                    current.end_lsn = _COMMIT.unpack_from(data, 1)[2]
                    done.append(current)
                current = None
            elif kind == 82:  # R: relation
                relation = _relation(data)
                self.relations[relation.oid] = relation
            elif kind == TRUNCATE:
                count = _INT32.unpack_from(data, 1)[0]
                for i in range(count):
                    add((TRUNCATE, _OID.unpack_from(data, 6 + 4 * i)[0], None, None))
            # Y (type), O (origin), M (message): nothing a copy of a table needs
        return done


def _update(data: bytes) -> tuple:
    relid = _OID.unpack_from(data, 1)[0]
    marker = data[5]
    old = None
    pos = 6
    if marker != 78:  # K (the old key) or O (the old row), then N
        old, pos = _tuple(data, 6)
        pos += 1
    return (UPDATE, relid, _tuple(data, pos)[0], old)


def _tuple(data: bytes, pos: int) -> tuple[list, int]:
    """The values of the TupleData at ``pos`` and where it ends."""
    count = _INT16.unpack_from(data, pos)[0]
    pos += 2
    values: list = []
    append = values.append
    unpack = _INT32.unpack_from
    for _ in range(count):
        kind = data[pos]
        if kind == _T:
            start = pos + 5
            pos = start + unpack(data, pos + 1)[0]
            append(data[start:pos])
        elif kind == _N:
            append(None)
            pos += 1
        elif kind == _U:
            append(UNCHANGED)
            pos += 1
        else:
            raise ValueError(f"pgoutput: a value of kind {chr(kind)!r} (only text was asked for)")
    return values, pos


def _string(data: bytes, pos: int) -> tuple[str, int]:
    end = data.index(0, pos)
    return data[pos:end].decode(), end + 1


def _relation(data: bytes) -> Relation:
    oid = _OID.unpack_from(data, 1)[0]
    schema, pos = _string(data, 5)
    name, pos = _string(data, pos)
    identity = chr(data[pos])
    count = _INT16.unpack_from(data, pos + 1)[0]
    pos += 3
    columns = []
    for _ in range(count):
        flags = data[pos]
        column, pos = _string(data, pos + 1)
        type_oid, typmod = _OID.unpack_from(data, pos)[0], _INT32.unpack_from(data, pos + 4)[0]
        pos += 8
        columns.append(Column(column, type_oid, typmod, bool(flags & 1)))
    return Relation(oid, schema, name, identity, columns)
