"""Incremental materializations: add only what is new to an existing table.

Three strategies are built in (:mod:`millpond.warehouse.incremental_strategies`, a registry
a new one joins with one line), each given the *full* expression of the table; what is new
is decided from the table already in the warehouse:

- ``append`` inserts the rows whose ``watermark`` is past the table's maximum
  (strictly), or, with a ``unique_key``, the rows at or after ``max - lookback``
  whose key the table does not hold yet;
- ``merge`` upserts on ``unique_key`` (one or more columns): the rows at or after
  ``max(watermark) - lookback`` (all rows without a watermark) replace the table's
  rows with the same key and the others are inserted;
- ``delete+insert`` replaces whole partitions of ``partition_by``: the ``partitions``
  given (e.g. the run date), or those touched by rows at or after
  ``max(watermark) - lookback``, or every partition of the new data.

Late rows whose watermark is older than ``max - lookback`` are ignored: widen
``lookback`` or rebuild the table with ``--full-refresh``. Every build is atomic:
the new rows go to a staging table (``_mp_tmp_<table>_<hex>``) first, then one
transaction deletes, inserts and drops the staging table, so a crash at any point
leaves the previous state; the next build drops the staging tables it left.
A missing target (or a full refresh) is built whole, by the atomic table swap.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, NamedTuple

from millpond.engines import described_table
from millpond.warehouse.contracts import enforce_contract, key_checks_sql, violation_error
from millpond.warehouse.evolution import hold_misfits, plan_schema_change
from millpond.warehouse.incremental_strategies import (
    Incremental,
    IncrementalStep,
    parse_lookback,
    staging_name,
    strategies,
    strategy,
    watermark_cutoff,
)
from millpond.warehouse.sql import TEMP_PREFIX, fetch, quote, run_in_transaction

if TYPE_CHECKING:
    import ibis.expr.types as ir
    from ibis.backends import BaseBackend

    from millpond.settings.tables import Contract

__all__ = [
    "Applied",
    "Incremental",
    "apply_incremental",
    "drop_stale_staging",
    "parse_lookback",
    "staging_name",
    "strategies",
    "watermark_cutoff",
]


def drop_stale_staging(con: BaseBackend, schema: str, table: str) -> list[str]:
    """Drop the staging and temporary tables an interrupted build of ``table`` left behind."""
    pattern = re.compile(rf"{re.escape(TEMP_PREFIX + table)}_[0-9a-f]{{8}}")
    rows = fetch(
        con,
        "SELECT table_name FROM information_schema.tables "
        f"WHERE table_schema = '{schema}' AND table_name LIKE '{TEMP_PREFIX}%'",
    )
    stale = [r[0] for r in rows if pattern.fullmatch(r[0])]
    if stale:
        run_in_transaction(con, [f"DROP TABLE IF EXISTS {quote(con, schema, n)}" for n in stale])
    return stale


class Applied(NamedTuple):
    """What an incremental build did: rows staged and applied, rows held in quarantine."""

    new_rows: int
    held: int | None = None


def apply_incremental(
    con: BaseBackend,
    expr: ir.Table,
    schema: str,
    table: str,
    spec: Incremental,
    *,
    on_schema_change: str | None = None,
    contract: Contract | None = None,
    run_id: str | None = None,
    also: Sequence[str] = (),
    guard: Callable[[Callable[[str], Any]], None] | None = None,
) -> Applied:
    """Add the new rows of ``expr`` to the existing ``schema.table``.

    ``on_schema_change`` (default ``fail``) decides what a change of columns or types
    does (:mod:`millpond.warehouse.evolution`); a ``contract`` is checked on the staged
    rows and, for its key, over the whole table before the commit; ``also`` are statements
    committed in the same transaction (a loader's state); ``guard(fetch_count)`` runs before
    the commit and rolls the build back by raising (the table's volume guard).

    Examples
    --------
    >>> import ibis
    >>> con = ibis.duckdb.connect()
    >>> _ = con.create_table("t", ibis.memtable({"id": [1, 2], "v": ["a", "b"]}))
    >>> apply_incremental(con, ibis.memtable({"id": [2, 3], "v": ["B", "c"]}), "main", "t",
    ...                   Incremental.of("merge", unique_key="id"))
    Applied(new_rows=2, held=None)
    >>> sorted(con.table("t").to_pyarrow().to_pylist(), key=lambda r: r["id"])
    [{'id': 1, 'v': 'a'}, {'id': 2, 'v': 'B'}, {'id': 3, 'v': 'c'}]
    """
    name = f"{schema}.{table}"
    target = described_table(con, table, schema)
    spec.validate(name, list(expr.columns))
    plan = plan_schema_change(con, name, target, expr, on_schema_change, incremental=True)
    how = strategy(spec.strategy)
    step = IncrementalStep(con, schema, table, spec, expr, target)
    try:
        held = None
        if plan.policy == "quarantine":
            step.expr, held = hold_misfits(con, step.expr, plan.columns, schema, table, run_id)
            step.temps += [held.staging] if held else []
        step.expr = plan.conform(step.expr)
        step.statements[:0] = list(plan.ddl)
        rows = how.rows(step)
        if spec.propagate_deletes:  # the table follows the full expression's keys both ways
            key = list(spec.unique_key)
            back = step.expr.anti_join(step.target, key)  # keys it lost: deleted upstream once, now back
            rows = rows.union(back.anti_join(rows, key), distinct=False)
        stage_name, staged = step.stage(rows)
        how.replaces(step, stage_name, staged)
        if spec.propagate_deletes:
            step.statements += _deleted_upstream(step, expr, list(spec.unique_key))
        enforce_contract(name, contract, staged, check_key=False)
        columns = ", ".join(quote(con, c) for c in plan.columns)
        statements = [
            *step.statements,
            f"INSERT INTO {quote(con, schema, table)} ({columns}) SELECT {columns} FROM {quote(con, schema, stage_name)}",
        ]
        staged_rows = int(staged.count().execute())
        statements += held.statements if held else []
        statements += list(also)
        statements += [f"DROP TABLE {quote(con, schema, t)}" for t in step.temps]
        checks = key_checks_sql(con, contract, schema, table)
        if checks or guard:
            run_in_transaction(con, statements, checks=checks, failure=lambda p: violation_error(name, p), guard=guard)
        else:  # the plain call (tests replace run_in_transaction with a two-argument one)
            run_in_transaction(con, statements)
        step.temps = []
        return Applied(staged_rows, held.rows if held else (0 if plan.policy == "quarantine" else None))
    finally:
        if step.temps:
            try:
                run_in_transaction(con, [f"DROP TABLE IF EXISTS {quote(con, schema, t)}" for t in step.temps])
            except Exception:  # noqa: S110 - the original error matters more; the next build cleans up
                pass


def _deleted_upstream(step: IncrementalStep, expr: ir.Table, key: list[str]) -> list[str]:
    """The DELETE of the rows whose ``key`` the full expression ``expr`` no longer has
    (``propagate_deletes``): its keys are staged, then compared in the commit."""
    con, schema, table = step.con, step.schema, step.table
    keys_name, _ = step.stage(expr.select(*key).distinct())
    live, keys = quote(con, schema, table), quote(con, schema, keys_name)
    match = " AND ".join(f"k.{quote(con, c)} = {live}.{quote(con, c)}" for c in key)
    return [f"DELETE FROM {live} WHERE NOT EXISTS (SELECT 1 FROM {keys} AS k WHERE {match})"]
