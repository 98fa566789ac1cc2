"""Change data capture by snapshot diff, for sources without a change log.

:func:`snapshot_changes` compares the previous snapshot of a source with the current one,
one row per key in each, and returns the **change table**: every key inserted, updated or
deleted between the two, with ``_op`` (``insert``, ``update``, ``delete``) and the row's
values (the current ones; for a delete, the last ones). A row is updated when one of the
compared columns differs, nulls compared as values, so an unchanged row with a null is
no change. :func:`apply_changes` applies a change table to a snapshot, and
:func:`scd2_from_changes` feeds one to the type 2 helper
(:func:`millpond.model.scd.scd2_snapshot`): an insert opens a version, an update closes the
current version and opens the next, a delete closes it (a hard delete).

>>> import ibis
>>> before = ibis.memtable({"id": [1, 2, 3], "tier": ["gold", "silver", None]})
>>> after = ibis.memtable({"id": [2, 3, 4], "tier": ["gold", None, "bronze"]})
>>> changes = snapshot_changes(before, after, "id").order_by("id")
>>> [(r["id"], r["tier"], r["_op"]) for r in ibis.duckdb.connect().to_pyarrow(changes).to_pylist()]
[(1, 'gold', 'delete'), (2, 'gold', 'update'), (4, 'bronze', 'insert')]
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime
from typing import Any

import ibis
import ibis.expr.types as ir

from millpond.errors import MillpondError
from millpond.model._columns import column_list, require_columns
from millpond.model.scd import SCD_COLUMNS, scd2_snapshot

OPS = ("insert", "update", "delete")


def snapshot_changes(
    previous: ir.Table | None, current: ir.Table, key: str | Sequence[str], *, columns: Sequence[str] | None = None
) -> ir.Table:
    """The change table from ``previous`` to ``current`` (see the module docstring).

    Parameters
    ----------
    previous
        The last snapshot (one row per key), or ``None``: then every row is an insert.
    current
        This snapshot, one row per key, with the columns of ``previous``.
    key
        The key column(s).
    columns
        The columns compared for an update (every column but the key by default).

    Returns
    -------
    ir.Table
        ``current``'s columns and ``_op``.
    """
    keys = column_list(key, "snapshot_changes key")
    require_columns(current, keys, "snapshot_changes current")
    compared = [c for c in current.columns if c not in keys] if columns is None else list(columns)
    require_columns(current, compared, "snapshot_changes columns")
    op = ibis.literal
    if previous is None:
        return current.mutate(_op=op("insert"))
    require_columns(previous, current.columns, "snapshot_changes previous")
    previous = previous.select(*current.columns).cast(current.schema())
    inserts = current.anti_join(previous, keys).mutate(_op=op("insert"))
    deletes = previous.anti_join(current, keys).mutate(_op=op("delete"))
    old = previous.select(*[previous[c].name(f"_old_{c}") for c in [*keys, *compared]])
    pairs = current.inner_join(old, [current[k] == old[f"_old_{k}"] for k in keys])
    differs = [~pairs[c].identical_to(pairs[f"_old_{c}"]) for c in compared]
    updates = pairs.filter(ibis.or_(*differs) if differs else ibis.literal(False)).select(*current.columns)
    return ibis.union(inserts, updates.mutate(_op=op("update")), deletes, distinct=False)


def apply_changes(snapshot: ir.Table, changes: ir.Table, key: str | Sequence[str]) -> ir.Table:
    """``snapshot`` (one row per key) with a change table applied: the next snapshot.

    >>> import ibis
    >>> snap = ibis.memtable({"id": [1, 2], "v": ["a", "b"]})
    >>> changes = ibis.memtable({"id": [1, 3], "v": ["a", "c"], "_op": ["delete", "insert"]})
    >>> sorted(ibis.duckdb.connect().to_pyarrow(apply_changes(snap, changes, "id")).to_pylist(), key=str)
    [{'id': 2, 'v': 'b'}, {'id': 3, 'v': 'c'}]
    """
    keys = column_list(key, "apply_changes key")
    require_columns(changes, [*snapshot.columns, "_op"], "apply_changes changes")
    unknown = changes.filter(~changes._op.isin(OPS)).count().to_pyarrow().as_py()
    if unknown:
        raise MillpondError(f"apply_changes: {unknown} changes with an _op other than {', '.join(OPS)}")
    kept = snapshot.anti_join(changes.select(*keys), keys)
    upserts = changes.filter(changes._op != "delete").select(*snapshot.columns).cast(snapshot.schema())
    return ibis.union(kept, upserts, distinct=False)


def scd2_from_changes(
    existing: ir.Table | None,
    changes: ir.Table,
    key: str | Sequence[str],
    *,
    now: datetime | date,
    **options: Any,
) -> ir.Table:
    """The next type 2 snapshot from ``existing`` and a change table (``options`` as
    :func:`~millpond.model.scd.scd2_snapshot`): its current versions with the changes applied
    are the source, so a delete closes the key's version (a hard delete)."""
    source_columns = [c for c in changes.columns if c != "_op"]
    if existing is None:
        source = changes.filter(changes._op != "delete").select(*source_columns)
    else:
        current = existing.filter(existing.is_current).select(*[c for c in existing.columns if c not in SCD_COLUMNS])
        source = apply_changes(current.select(*source_columns), changes, key)
    return scd2_snapshot(existing, source, key, now=now, **options)
