"""Quarantine (dead-letter) tables: rows a stage could not keep, with why, kept whole.

A silver stage splits its input into clean rows and rejected rows with a ``reason``
(see :mod:`millpond.model.rejection`); the rejected rows go, unchanged, into
``quarantine.<source>`` with the run that held them. Nothing is lost:
rows in = rows out + rows quarantined.
"""

from __future__ import annotations

import datetime as dt

import ibis
import ibis.expr.types as ir

QUARANTINE_LAYER = "quarantine"


def quarantine_table(rejected: ir.Table, *, run_id: str | None, at: dt.datetime) -> ir.Table:
    """``rejected`` (raw columns plus ``reason``) with ``_run_id`` and ``_quarantined_at``.

    Examples
    --------
    >>> import pyarrow as pa
    >>> rows = ibis.memtable(pa.table({"id": ["x"], "reason": ["invalid_id"]}))
    >>> held = quarantine_table(rows, run_id="r1", at=dt.datetime(2024, 2, 1))
    >>> ibis.duckdb.connect().to_pyarrow(held).to_pylist()
    [{'id': 'x', 'reason': 'invalid_id', '_run_id': 'r1', '_quarantined_at': datetime.datetime(2024, 2, 1, 0, 0)}]
    """
    if "reason" not in rejected.columns:
        raise ValueError("a quarantine table needs a 'reason' column saying why each row was held")
    return rejected.mutate(
        _run_id=ibis.literal(run_id, type="string"),
        _quarantined_at=ibis.literal(at, type="timestamp"),
    )


def quarantine_name(table: str) -> str:
    """The quarantine table of ``table``: ``orders`` or ``silver.orders`` -> ``quarantine.orders``.

    >>> quarantine_name("silver.orders"), quarantine_name("orders"), quarantine_name("quarantine.orders")
    ('quarantine.orders', 'quarantine.orders', 'quarantine.orders')
    """
    return f"{QUARANTINE_LAYER}.{table.split('.')[-1]}"
