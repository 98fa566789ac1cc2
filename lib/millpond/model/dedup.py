"""Deduplication: the latest record per key, and exact duplicate rows.

Raw feeds repeat themselves: a CDC log holds every version of a row, a re-sent file
repeats whole records. :func:`latest_per_key` keeps one row per key (the last one by
an ordering column); :func:`drop_exact_duplicates` keeps one copy of rows that are
equal in every column (nulls count as equal, as in ``SELECT DISTINCT``). Both return
Ibis expressions that keep the input's columns and run on any engine.
"""

from __future__ import annotations

from collections.abc import Sequence

import ibis
import ibis.expr.types as ir

from millpond.model._columns import column_list, require_columns

_RANK = "_mp_rank"


def latest_per_key(
    table: ir.Table,
    key: str | Sequence[str],
    order_by: str | Sequence[str],
) -> ir.Table:
    """Return one row per ``key``: the one that sorts last by ``order_by``.

    Parameters
    ----------
    table
        The rows, several per key.
    key
        The column (or columns) that identify a record.
    order_by
        The column (or columns, compared left to right) that say which row is the
        latest, e.g. ``"updated_at"`` or ``["updated_at", "load_id"]``. A null sorts
        before every value, so a row with a null ``order_by`` wins only when its key
        has no other row. Rows tied on every ``order_by`` column are kept one
        arbitrarily: add a column that breaks the tie when that matters.

    Returns
    -------
    ir.Table
        The columns of ``table``, one row per distinct key (a null key is a key too).

    Examples
    --------
    >>> import ibis
    >>> events = ibis.memtable({"id": [1, 1, 2], "status": ["new", "paid", "new"], "seq": [1, 2, 1]})
    >>> latest = latest_per_key(events, "id", "seq")
    >>> sorted(ibis.duckdb.connect().to_pyarrow(latest).to_pylist(), key=lambda r: r["id"])
    [{'id': 1, 'status': 'paid', 'seq': 2}, {'id': 2, 'status': 'new', 'seq': 1}]
    """
    keys = column_list(key, "latest_per_key key")
    order = column_list(order_by, "latest_per_key order_by")
    require_columns(table, keys + order, "latest_per_key")
    rank = ibis.row_number().over(
        group_by=[table[k] for k in keys],
        order_by=[ibis.desc(table[c], nulls_first=False) for c in order],
    )
    return table.mutate(**{_RANK: rank}).filter(ibis._[_RANK] == 0).drop(_RANK)


def drop_exact_duplicates(table: ir.Table) -> ir.Table:
    """Return ``table`` with one copy of each row (rows equal in every column).

    Examples
    --------
    >>> import ibis
    >>> rows = ibis.memtable({"id": [1, 1, 2, None, None], "name": ["a", "a", "b", None, None]})
    >>> ibis.duckdb.connect().execute(drop_exact_duplicates(rows).count())
    3
    """
    return table.distinct()
