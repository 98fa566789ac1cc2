"""Row changes applied to a table by key: a change stream's batch (:mod:`millpond.sources.postgres_cdc`)
netted to one final row per key, then written by statements that run in one transaction.

:func:`net_changes` goes through the batch's transactions in commit order: an insert or an
update sets its key's row (an update that changes the key also deletes the old one), a
delete removes it, a truncate forgets everything before it. What is left is each key's last
state: its row, or ``None`` (gone). :func:`apply_statements` then deletes the target's rows of
those keys (every row after a truncate) and inserts the rows that remain, so applying a
batch again over its own result changes nothing.

A value a change leaves out (a TOASTed column an update did not touch,
:data:`~millpond.engines.pgoutput.UNCHANGED`) is taken from the key's earlier row in the batch,
or else, in the transaction, from the row the target holds.

>>> import pyarrow as pa

from millpond.engines.pgoutput import DELETE, INSERT, UPDATE, Transaction
>>> tx = Transaction(1, 0, 7, 2, [(INSERT, 5, [b"1", b"a"], None), (UPDATE, 5, [b"1", b"b"], None),
...                               (DELETE, 5, None, [b"1", None]), (INSERT, 5, [b"2", b"c"], None)])
>>> netted = net_changes([tx], 5, [0])
>>> netted.images, netted.changes, netted.truncated
({b'1': None, b'2': [b'2', b'c']}, 4, False)
"""

from __future__ import annotations

import gc
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from millpond.engines.pgoutput import DELETE, INSERT, TRUNCATE, UNCHANGED, UPDATE, Transaction
from millpond.warehouse.sql import quote

if TYPE_CHECKING:
    from ibis.backends import BaseBackend

OP, FILL, FROM = "_mp_op", "_mp_unchanged_", "_mp_from_"
"""Columns of a staged batch beside the table's own: upsert (true) or delete; which values to
take from the target; the key of the target's row to take them from."""


@dataclass
class Netted:
    """A batch netted: each key's final row (``None``: deleted), whether a truncate came first."""

    images: dict[Any, list | None] = field(default_factory=dict)
    truncated: bool = False
    changes: int = 0
    """The table's changes in the batch, before netting."""
    sources: dict[Any, Any] = field(default_factory=dict)
    """Keys whose row still misses values, to the key of the target row that holds them."""
    left_out: bool = False
    """Whether any change left a value out (else no row misses one)."""


def net_changes(transactions: Sequence[Transaction], relation: int, key: list[int]) -> Netted:
    """The changes of ``relation`` in ``transactions`` netted by the columns at ``key``."""
    netted = Netted()
    images, sources = netted.images, netted.sources
    single = key[0] if len(key) == 1 else None

    def key_of(row: list) -> Any:
        return row[single] if single is not None else tuple(row[i] for i in key)

    enabled = gc.isenabled()
    gc.disable()  # lists of bytes by the hundred thousand: a collection pass each few thousand costs more than the work
    try:
        for tx in transactions:
            for kind, rel, new, old in tx.changes:
                if rel != relation:
                    continue
                netted.changes += 1
                if kind == INSERT:
                    images[key_of(new)] = new
                    continue
                if kind == UPDATE:
                    k = key_of(new)
                    before = k if old is None else key_of(old)
                    if UNCHANGED in new:
                        netted.left_out = True
                        new = _fill(new, images.get(before), sources, k, before)
                    else:
                        sources.pop(k, None)
                    if before != k:
                        images[before] = None
                        sources.pop(before, None)
                    images[k] = new
                elif kind == DELETE:
                    k = key_of(old)
                    images[k] = None
                    sources.pop(k, None)
                elif kind == TRUNCATE:
                    images.clear()
                    sources.clear()
                    netted.truncated = True
    finally:
        if enabled:
            gc.enable()
    return netted


def _fill(new: list, earlier: list | None, sources: dict, key: Any, before: Any) -> list:
    """``new`` with its left-out values taken from ``earlier`` (the key's row in the batch);
    what is still missing is marked to be taken from the target's row of ``before`` (or of the
    key the earlier row takes its own from)."""
    if earlier is not None:
        new = [e if v is UNCHANGED else v for v, e in zip(new, earlier)]
    if UNCHANGED in new:
        sources[key] = sources.get(before, before)
    else:
        sources.pop(key, None)
    return new


def staged_rows(
    netted: Netted, columns: list[str], key: list[int], convert: Callable[[Sequence, int], pa.Array]
) -> pa.Table:
    """The netted rows as Arrow: the table's columns (``convert(values, i)`` types column ``i``),
    :data:`OP`, and, where values are missing, a flag per such column and the key to take them from."""
    rows: list[list] = []
    upsert: list[bool] = []
    for k, image in netted.images.items():
        upsert.append(image is not None)
        if image is None:  # a delete: only its key
            image = [None] * len(columns)
            for position, value in zip(key, (k,) if len(key) == 1 else k):
                image[position] = value
        rows.append(image)
    by_column: list[Sequence] = list(zip(*rows)) if rows else [() for _ in columns]
    missing = [i for i, values in enumerate(by_column) if netted.left_out and UNCHANGED in values]
    for i in missing:
        by_column[i] = [None if v is UNCHANGED else v for v in by_column[i]]
    arrays = [convert(values, i) for i, values in enumerate(by_column)]
    names = list(columns)
    arrays.append(pa.array(upsert, pa.bool_()))
    names.append(OP)
    if missing:
        for i in missing:
            arrays.append(pa.array([v is UNCHANGED for v in (row[i] for row in rows)], pa.bool_()))
            names.append(f"{FILL}{i}")
        keys = list(netted.images)
        for n, position in enumerate(key):
            source_keys = [netted.sources.get(k, k) for k in keys]
            values = [s if len(key) == 1 else s[n] for s in source_keys]
            arrays.append(convert(values, position))
            names.append(f"{FROM}{n}")
    return pa.table(arrays, names=names)


def apply_statements(
    con: BaseBackend, schema: str, table: str, staged: str, columns: list[str], key: list[int], staged_names: list[str]
) -> tuple[list[str], list[str]]:
    """``(fill, replace)``: the statements that take left-out values from the target, and those that
    delete the target's rows of the staged keys and insert the staged rows (not the truncate:
    see :func:`truncate_statement`)."""
    target, rows = quote(con, schema, table), quote(con, schema, staged)
    names = [quote(con, c) for c in columns]
    fill = []
    for flag in (n for n in staged_names if n.startswith(FILL)):
        column = names[int(flag[len(FILL) :])]
        match = " AND ".join(f"t.{names[p]} = s.{quote(con, f'{FROM}{n}')}" for n, p in enumerate(key))
        fill.append(
            f"UPDATE {rows} AS s SET {column} = t.{column} FROM {target} AS t WHERE {match} AND s.{quote(con, flag)}"
        )
    if len(key) == 1:
        delete = f"DELETE FROM {target} WHERE {names[key[0]]} IN (SELECT {names[key[0]]} FROM {rows})"
    else:
        match = " AND ".join(f"s.{names[p]} = t.{names[p]}" for p in key)
        delete = f"DELETE FROM {target} AS t WHERE EXISTS (SELECT 1 FROM {rows} AS s WHERE {match})"
    listed = ", ".join(names)
    insert = f"INSERT INTO {target} ({listed}) SELECT {listed} FROM {rows} WHERE {quote(con, OP)}"
    return fill, [delete, insert]


def truncate_statement(con: BaseBackend, schema: str, table: str) -> str:
    """Empty the target (a truncate in the batch, before its later changes)."""
    return f"DELETE FROM {quote(con, schema, table)}"
