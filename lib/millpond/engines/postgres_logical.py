"""A PostgreSQL table's change stream, read through logical decoding's SQL functions: what the
``postgres_cdc`` source (:mod:`millpond.sources.postgres_cdc`) asks of the source server.

psycopg 3 speaks no replication protocol, so the stream is read with the slot's SQL
functions: a publication names the one table, a slot of the ``pgoutput`` plugin keeps the
WAL from its confirmed position on, :meth:`ChangeLog.peek` reads the messages up to an LSN
without consuming them (:mod:`millpond.engines.pgoutput` decodes them), and
:meth:`ChangeLog.advance` moves the slot once the changes are committed elsewhere.

Values come as the text of the types' output functions, printed in a fixed session
(:data:`SESSION`: UTC, ISO dates, shortest exact floats, hex ``bytea``); the full copy is read
in the same session, so a row copied and the same row decoded from a change agree.
:func:`arrow_type` maps a column's type to the Arrow type both land as; types without a
plain match (``uuid``, ``json``, ``interval``, arrays, ``numeric`` past 38 digits, enums...)
land as their text.

>>> arrow_type(1700, ((12 << 16) | 2) + 4), arrow_type(2950, -1)
(Decimal128Type(decimal128(12, 2)), DataType(string))
>>> text_values([b"t", None, b"f"], 16, -1).to_pylist()
[True, None, False]
>>> text_values([b"2024-01-02 03:04:05.5+00"], 1184, -1)[0].as_py().isoformat()
'2024-01-02T03:04:05.500000+00:00'
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import psycopg
import pyarrow as pa
import pyarrow.compute as pc
from psycopg import sql

from millpond.engines.pgoutput import format_lsn, parse_lsn
from millpond.engines.postgres_arrow import read_arrow

SESSION = (
    "SET TimeZone = 'UTC'",
    "SET DateStyle = 'ISO, YMD'",
    "SET IntervalStyle = 'postgres'",
    "SET extra_float_digits = 1",
    "SET bytea_output = 'hex'",
)
"""How values print as text, in the stream's session and the full copy's alike."""

_PLAIN = {
    16: pa.bool_(),
    17: pa.binary(),
    20: pa.int64(),
    21: pa.int16(),
    23: pa.int32(),
    25: pa.string(),
    700: pa.float32(),
    701: pa.float64(),
    1042: pa.string(),
    1043: pa.string(),
    1082: pa.date32(),
    1083: pa.time64("us"),
    1114: pa.timestamp("us"),
    1184: pa.timestamp("us", tz="UTC"),
}
"""Type OIDs read as a plain Arrow type (``numeric(p, s)`` too, below); any other as its text."""
_NUMERIC = 1700


class SlotInUse(Exception):
    """Another session holds the slot (a sync still running, or one killed whose query runs on)."""

    def __init__(self, pid: int | None):
        super().__init__(f"the replication slot is in use by process {pid}")
        self.pid = pid


class SlotGone(Exception):
    """The slot (or the publication) was dropped, or the slot's WAL removed, while it was read."""


@dataclass(frozen=True)
class Slot:
    """A replication slot as ``pg_replication_slots`` shows it."""

    confirmed_flush: int
    restart_lsn: int | None
    active_pid: int | None
    lost: bool
    database: str
    plugin: str


def arrow_type(type_oid: int, typmod: int) -> pa.DataType:
    """The Arrow type a column of ``type_oid`` (and ``typmod``) lands as."""
    if type_oid == _NUMERIC and typmod >= 4:
        precision, scale = ((typmod - 4) >> 16) & 0xFFFF, (typmod - 4) & 0x7FF
        if precision <= 38:
            return pa.decimal128(precision, scale)
    return _PLAIN.get(type_oid, pa.string())


def text_values(values: Sequence, type_oid: int, typmod: int) -> pa.Array:
    """Values as text (``bytes`` or ``None``) of a column of ``type_oid``, as its Arrow type."""
    target = arrow_type(type_oid, typmod)
    if target == pa.binary():  # hex: \\x0102
        return pa.array([None if v is None else bytes.fromhex(v[2:].decode()) for v in values], pa.binary())
    text = pa.array(values, pa.binary()).cast(pa.string())
    if target == pa.string():
        return text
    if target == pa.bool_():
        return pc.equal(text, "t")
    if target == pa.time64("us"):
        return pc.binary_join_element_wise("1970-01-01 ", text, "").cast(pa.timestamp("us")).cast(target)
    return text.cast(target)


def _ident(name: str) -> sql.Composable:
    return sql.SQL(".").join(sql.Identifier(part) for part in name.split("."))


class ChangeLog:
    """One session on the source server for ``table``'s changes through ``slot`` and ``publication``."""

    def __init__(self, url: str, table: str, slot: str, publication: str, *, application_name: str):
        self.table, self.slot_name, self.publication = table, slot, publication
        self.conn = psycopg.connect(url, autocommit=True, application_name=application_name, connect_timeout=10)
        for statement in SESSION:
            self.conn.execute(statement)
        self._peek = self.conn.cursor(binary=True, row_factory=lambda _: lambda values: values[0])

    def close(self) -> None:
        self.conn.close()

    def _one(self, query, params=()) -> tuple | None:
        return self.conn.execute(query, params).fetchone()

    def server(self) -> tuple[str | None, str, str]:
        """``(system identifier, database, wal_level)``; the identifier is ``None`` where this
        role may not read it."""
        database, wal_level = self._one("SELECT current_database(), current_setting('wal_level')") or ("", "")
        try:
            found = self._one("SELECT system_identifier::text FROM pg_control_system()")
        except psycopg.errors.InsufficientPrivilege:
            found = None
        return (found[0] if found else None), database, wal_level

    def columns(self) -> list[tuple[str, int, int]]:
        """``(name, type OID, typmod)`` of the table's columns as a change carries them (no
        dropped or generated ones); empty when there is no such table."""
        rows = self.conn.execute(
            "SELECT attname, atttypid, atttypmod FROM pg_attribute WHERE attrelid = to_regclass(%s)"
            " AND attnum > 0 AND NOT attisdropped AND attgenerated = '' ORDER BY attnum",
            (self._regclass(),),
        ).fetchall()
        return [(r[0], int(r[1]), int(r[2])) for r in rows]

    def table_oid(self) -> int | None:
        """The table's OID (another once it is dropped and created again), ``None`` when there is none."""
        row = self._one("SELECT to_regclass(%s)::oid", (self._regclass(),))
        return int(row[0]) if row and row[0] is not None else None

    def identity(self) -> tuple[str, list[str]]:
        """The table's replica identity (``d``, ``f``, ``i``, ``n``) and the columns it logs for an
        old row (every column for ``f``; none for a ``d`` without a primary key)."""
        kind = self._one("SELECT relreplident FROM pg_class WHERE oid = to_regclass(%s)", (self._regclass(),))
        index = "indisprimary" if kind and kind[0] == "d" else "indisreplident"
        rows = self.conn.execute(
            "SELECT a.attname FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid"
            f" AND a.attnum = ANY(i.indkey) WHERE i.indrelid = to_regclass(%s) AND i.{index}",
            (self._regclass(),),
        ).fetchall()
        if kind and kind[0] == "f":
            return "f", [c[0] for c in self.columns()]
        return (kind[0] if kind else "n"), [r[0] for r in rows]

    def _regclass(self) -> str:
        return ".".join('"' + part + '"' for part in self.table.split("."))

    def publication_problem(self) -> str | None:
        """Creates the publication of the table if there is none (adds the table to one that
        lacks it); what keeps an existing one from carrying every change, or ``None``."""
        pub = self._one(
            "SELECT pubinsert AND pubupdate AND pubdelete AND pubtruncate FROM pg_publication WHERE pubname = %s",
            (self.publication,),
        )
        if pub is None:
            self.conn.execute(
                sql.SQL("CREATE PUBLICATION {} FOR TABLE {}").format(
                    sql.Identifier(self.publication), _ident(self.table)
                )
            )
            return None
        if not pub[0]:
            return f"publication {self.publication} does not publish every insert, update, delete and truncate"
        whole = (
            "rowfilter IS NULL AND attnames @> (SELECT array_agg(attname) FROM pg_attribute"
            " WHERE attrelid = c.oid AND attnum > 0 AND NOT attisdropped AND attgenerated = '')"
        )
        listed = self._one(
            f"SELECT {'TRUE' if self.conn.info.server_version < 150000 else whole}"
            " FROM pg_publication_tables p JOIN pg_class c ON c.relname = p.tablename"
            " JOIN pg_namespace n ON n.oid = c.relnamespace AND n.nspname = p.schemaname"
            " WHERE p.pubname = %s AND c.oid = to_regclass(%s)",
            (self.publication, self._regclass()),
        )
        if listed is None:
            self.conn.execute(
                sql.SQL("ALTER PUBLICATION {} ADD TABLE {}").format(
                    sql.Identifier(self.publication), _ident(self.table)
                )
            )
        elif not listed[0]:
            return f"publication {self.publication} filters the rows or columns of {self.table}"
        return None

    def slot(self) -> Slot | None:
        """The slot, or ``None`` when there is none."""
        row = self._one(
            "SELECT confirmed_flush_lsn::text, restart_lsn::text, active_pid, wal_status, database, plugin"
            " FROM pg_replication_slots WHERE slot_name = %s",
            (self.slot_name,),
        )
        if row is None:
            return None
        confirmed, restart, pid, status, database, plugin = row
        return Slot(
            parse_lsn(confirmed) if confirmed else 0,
            parse_lsn(restart) if restart else None,
            pid,
            status == "lost",
            database or "",
            plugin or "",
        )

    def create_slot(self) -> int:
        """Create the slot; the LSN from which it returns every transaction that commits."""
        row = self._one("SELECT lsn::text FROM pg_create_logical_replication_slot(%s, 'pgoutput')", (self.slot_name,))
        return parse_lsn(row[0]) if row else 0

    def drop_slot(self) -> None:
        """Drop the slot if there is one."""
        if self.slot() is not None:
            self._call("SELECT pg_drop_replication_slot(%s)", (self.slot_name,))

    def flush_lsn(self) -> int:
        """How far the WAL is flushed: all that decoding can read now."""
        row = self._one("SELECT pg_current_wal_flush_lsn()::text")
        return parse_lsn(row[0]) if row else 0

    def current_lsn(self) -> int:
        """Where the WAL is written to now."""
        row = self._one("SELECT pg_current_wal_lsn()::text")
        return parse_lsn(row[0]) if row else 0

    def inserted_lsn(self) -> int:
        """The end of the WAL: every transaction committed so far ends at or before it (flushed
        or not yet, under ``synchronous_commit = off``)."""
        row = self._one("SELECT pg_current_wal_insert_lsn()::text, current_setting('wal_block_size')::int")
        if row is None:
            return 0
        lsn, page = parse_lsn(row[0]), row[1]
        # right after a page's header (24 bytes; 40 starting a segment) the last record ended at the page's start
        return lsn - lsn % page if lsn % page in (24, 40) else lsn

    def peek(self, upto: int, limit: int) -> list[bytes]:
        """The messages of the transactions that committed before ``upto``, from the slot's
        confirmed position, whole transactions only, stopping after about ``limit`` messages."""
        query = (
            "SELECT data FROM pg_logical_slot_peek_binary_changes(%s, %s::pg_lsn, %s::int,"
            " 'proto_version', '1', 'publication_names', %s)"
        )
        params = (self.slot_name, format_lsn(upto), limit, self.publication)
        return self._call(query, params, self._peek)

    def advance(self, lsn: int) -> None:
        """Move the slot's confirmed position to ``lsn``: the WAL before it may go."""
        self._call("SELECT pg_replication_slot_advance(%s, %s::pg_lsn)", (self.slot_name, format_lsn(lsn)))

    def _call(self, query: str, params: tuple, cursor=None) -> list:
        try:
            return (cursor or self.conn.cursor()).execute(query, params).fetchall()
        except psycopg.errors.ObjectInUse:
            found = self.slot()
            raise SlotInUse(found.active_pid if found else None) from None
        except psycopg.errors.UndefinedObject as exc:  # dropped
            raise SlotGone(str(exc).splitlines()[0]) from None
        except psycopg.errors.ObjectNotInPrerequisiteState as exc:
            if "no longer" not in str(exc):  # "can no longer get changes": its WAL was removed
                raise
            raise SlotGone(str(exc).splitlines()[0]) from None


def snapshot(url: str, table: str, columns: list[tuple[str, int, int]]) -> pa.Table:
    """Every row of ``table`` (``columns``: :meth:`ChangeLog.columns`) as Arrow, each column of
    its :func:`arrow_type`, read in :data:`SESSION` by ADBC."""
    names = []
    for name, type_oid, typmod in columns:
        quoted = '"' + name + '"'
        plain = arrow_type(type_oid, typmod) != pa.string() or type_oid in (25, 1042, 1043)
        names.append(quoted if plain else f"{quoted}::text AS {quoted}")
    relation = ".".join('"' + part + '"' for part in table.split("."))
    rows = read_arrow(url, f"SELECT {', '.join(names)} FROM {relation}", table, SESSION)
    schema = pa.schema([(name, arrow_type(t, m)) for name, t, m in columns])
    return pa.table([rows.column(i).cast(schema.field(i).type) for i in range(len(columns))], schema=schema)
