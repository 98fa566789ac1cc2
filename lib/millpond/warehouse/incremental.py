"""Incremental materializations: add only what is new to an existing table.

Three strategies, each given the *full* expression of the table; what is new is
decided here, from the table already in the warehouse:

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

import datetime as dt
import re
import secrets
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, NamedTuple

from millpond.errors import MillpondError
from millpond.warehouse.materialize import TEMP_PREFIX, _fetch, _quote, run_in_transaction

if TYPE_CHECKING:
    import ibis.expr.types as ir
    from ibis.backends import BaseBackend

    from millpond.settings.tables import Contract

STRATEGIES = ("append", "merge", "delete+insert")
_UNITS = {"w": "weeks", "d": "days", "h": "hours", "m": "minutes", "s": "seconds"}


def parse_lookback(value: Any) -> dt.timedelta | int | float | None:
    """A lookback window: a ``timedelta``, ``"3d"``/``"12h"``/``"30m"``/``"2w"``, or a number.

    >>> parse_lookback("3d")
    datetime.timedelta(days=3)
    >>> parse_lookback(None) is None, parse_lookback(10)
    (True, 10)
    """
    if value is None or isinstance(value, (dt.timedelta, int, float)):
        return value
    match = re.fullmatch(r"\s*(\d+)\s*([wdhms])\s*", str(value))
    if not match:
        raise MillpondError(f"lookback {value!r}: expected e.g. '3d', '12h', '30m', '2w', a timedelta or a number")
    return dt.timedelta(**{_UNITS[match[2]]: int(match[1])})


@dataclass(frozen=True)
class Incremental:
    """How an incremental table takes new rows (see the module docstring)."""

    strategy: str = "append"
    unique_key: tuple[str, ...] = ()
    watermark: str | None = None
    partition_by: str | None = None
    partitions: tuple[Any, ...] = ()
    lookback: dt.timedelta | int | float | None = field(default=None)

    @classmethod
    def of(cls, strategy: str = "append", unique_key: str | list[str] | tuple[str, ...] | None = None,
           watermark: str | None = None, partition_by: str | None = None, partitions: Any = None,
           lookback: Any = None) -> Incremental:
        """Normalize loose arguments (a key as a string, one partition as a scalar).

        >>> Incremental.of("merge", unique_key="id", watermark="updated_at", lookback="2d")
        Incremental(strategy='merge', unique_key=('id',), watermark='updated_at', partition_by=None, partitions=(), lookback=datetime.timedelta(days=2))
        """
        keys = (unique_key,) if isinstance(unique_key, str) else tuple(unique_key or ())
        if partitions is None:
            parts: tuple[Any, ...] = ()
        elif isinstance(partitions, (list, tuple, set, frozenset)):
            parts = tuple(partitions)
        else:
            parts = (partitions,)
        return cls(strategy, keys, watermark, partition_by, parts, parse_lookback(lookback))

    def validate(self, name: str, columns: list[str]) -> None:
        """One-line errors for a strategy without what it needs, or unknown columns."""
        where = f"incremental {name}"
        if self.strategy not in STRATEGIES:
            raise MillpondError(f"{where}: unknown strategy {self.strategy!r} (choose from {', '.join(STRATEGIES)})")
        if self.strategy == "append" and not (self.watermark or self.unique_key):
            raise MillpondError(f"{where}: append needs watermark= or unique_key= to know which rows are new")
        if self.strategy == "append" and self.lookback and not self.unique_key:
            raise MillpondError(f"{where}: append with a lookback needs unique_key= (or rows would be added twice)")
        if self.strategy == "merge" and not self.unique_key:
            raise MillpondError(f"{where}: merge needs unique_key= (the column(s) to upsert on)")
        if self.strategy == "delete+insert" and not self.partition_by:
            raise MillpondError(f"{where}: delete+insert needs partition_by= (the column whose partitions are replaced)")
        named = [*self.unique_key, self.watermark, self.partition_by]
        unknown = [c for c in named if c is not None and c not in columns]
        if unknown:
            raise MillpondError(f"{where}: no column {', '.join(unknown)} in the new rows (columns: {', '.join(columns)})")


def watermark_cutoff(con: BaseBackend, target: ir.Table, column: str, lookback: Any = None) -> Any:
    """``max(column) - lookback`` of the existing ``target``, or ``None`` when it is empty.

    >>> import ibis, datetime
    >>> con = ibis.duckdb.connect()
    >>> t = con.create_table("t", ibis.memtable({"day": [datetime.date(2024, 1, 5), datetime.date(2024, 1, 9)]}))
    >>> watermark_cutoff(con, t, "day", "3d")
    datetime.date(2024, 1, 6)
    """
    top = target[column].max().to_pyarrow().as_py()
    lookback = parse_lookback(lookback)
    if top is None or not lookback:
        return top
    try:
        return top - lookback
    except TypeError:
        raise MillpondError(
            f"lookback {lookback!r} does not fit watermark column {column} of type {target.schema()[column]}"
        ) from None


def staging_name(table: str) -> str:
    return f"{TEMP_PREFIX}{table}_{secrets.token_hex(4)}"


def drop_stale_staging(con: BaseBackend, schema: str, table: str) -> list[str]:
    """Drop the staging and temporary tables an interrupted build of ``table`` left behind."""
    pattern = re.compile(rf"{re.escape(TEMP_PREFIX + table)}_[0-9a-f]{{8}}")
    rows = _fetch(
        con,
        "SELECT table_name FROM information_schema.tables "
        f"WHERE table_schema = '{schema}' AND table_name LIKE '{TEMP_PREFIX}%'",
    )
    stale = [r[0] for r in rows if pattern.fullmatch(r[0])]
    if stale:
        run_in_transaction(con, [f"DROP TABLE IF EXISTS {_quote(con, schema, n)}" for n in stale])
    return stale


def _select_new(con: BaseBackend, expr: ir.Table, target: ir.Table, spec: Incremental) -> ir.Table:
    """The rows of ``expr`` that a strategy takes (delete+insert widens them to whole partitions later)."""
    if spec.strategy == "delete+insert" and spec.partitions:
        return expr
    rows = expr
    if spec.watermark:
        cutoff = watermark_cutoff(con, target, spec.watermark, spec.lookback)
        if cutoff is not None:
            import ibis

            edge = ibis.literal(cutoff, type=target.schema()[spec.watermark])
            strict = spec.strategy == "append" and not spec.unique_key
            rows = rows.filter(rows[spec.watermark] > edge if strict else rows[spec.watermark] >= edge)
    if spec.strategy == "append" and spec.unique_key:
        rows = rows.anti_join(target, list(spec.unique_key))
    return rows


class Applied(NamedTuple):
    """What an incremental build did: rows staged and applied, rows held in quarantine."""

    new_rows: int
    held: int | None = None


def apply_incremental(con: BaseBackend, expr: ir.Table, schema: str, table: str, spec: Incremental, *,
                      on_schema_change: str | None = None, contract: Contract | None = None,
                      run_id: str | None = None) -> Applied:
    """Add the new rows of ``expr`` to the existing ``schema.table``.

    ``on_schema_change`` (default ``fail``) decides what a change of columns or types
    does (:mod:`millpond.warehouse.evolution`); a ``contract`` is checked on the staged
    rows and, for its key, over the whole table before the commit.

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
    from millpond.engines import create_table_as, described_table
    from millpond.warehouse.contracts import enforce_contract, key_checks_sql
    from millpond.warehouse.evolution import hold_misfits, plan_schema_change

    name = f"{schema}.{table}"
    target = described_table(con, table, schema)
    spec.validate(name, list(expr.columns))
    plan = plan_schema_change(con, name, target, expr, on_schema_change, incremental=True)
    temps: list[str] = []
    try:
        held = None
        if plan.policy == "quarantine":
            expr, held = hold_misfits(con, expr, plan.columns, schema, table, run_id)
            temps += [held.staging] if held else []
        expr = plan.conform(expr)
        statements: list[str] = list(plan.ddl)
        rows = _select_new(con, expr, target, spec)
        if spec.strategy == "delete+insert":
            parts_name = staging_name(table)
            temps.append(parts_name)
            parts = create_table_as(con, parts_name, _partitions(expr, rows, spec, target), schema)
            rows = expr.filter(expr[spec.partition_by].isin(parts[spec.partition_by]))
            statements.append(_delete_partitions(con, schema, table, parts_name, spec.partition_by))
        stage_name = staging_name(table)
        temps.append(stage_name)
        staged = create_table_as(con, stage_name, rows, schema)
        if spec.strategy == "merge":
            _check_keys(name, staged, spec.unique_key)
            statements.append(_delete_matching(con, schema, table, stage_name, spec.unique_key))
        enforce_contract(name, contract, staged, check_key=False)
        columns = ", ".join(_quote(con, c) for c in plan.columns)
        statements.append(
            f"INSERT INTO {_quote(con, schema, table)} ({columns}) SELECT {columns} FROM {_quote(con, schema, stage_name)}"
        )
        staged_rows = int(staged.count().execute())
        statements += held.statements if held else []
        statements += [f"DROP TABLE {_quote(con, schema, t)}" for t in temps]
        checks = key_checks_sql(con, contract, schema, table)
        if checks:
            run_in_transaction(con, statements, checks=checks, failure=lambda p: contract_error(name, p))
        else:  # the plain call (tests replace run_in_transaction with a two-argument one)
            run_in_transaction(con, statements)
        temps = []
        return Applied(staged_rows, held.rows if held else (0 if plan.policy == "quarantine" else None))
    finally:
        if temps:
            try:
                run_in_transaction(con, [f"DROP TABLE IF EXISTS {_quote(con, schema, t)}" for t in temps])
            except Exception:  # noqa: S110 - the original error matters more; the next build cleans up
                pass


def contract_error(name: str, problems: list[str]) -> MillpondError:
    from millpond.warehouse.contracts import violation_error

    return violation_error(name, problems)


def _partitions(expr: ir.Table, rows: ir.Table, spec: Incremental, target: ir.Table) -> ir.Table:
    """The partition values to replace: the given ones, else those of the new rows."""
    column = spec.partition_by
    if spec.partitions:
        import ibis

        values = ibis.memtable({column: list(spec.partitions)})
        return values.select(values[column].cast(target.schema()[column]).name(column)).distinct()
    return rows.select(column).distinct()


def _delete_partitions(con: BaseBackend, schema: str, table: str, parts: str, column: str) -> str:
    col, src = _quote(con, column), _quote(con, schema, parts)
    return (
        f"DELETE FROM {_quote(con, schema, table)} WHERE {col} IN (SELECT {col} FROM {src} WHERE {col} IS NOT NULL)"
        f" OR ({col} IS NULL AND EXISTS (SELECT 1 FROM {src} WHERE {col} IS NULL))"
    )


def _delete_matching(con: BaseBackend, schema: str, table: str, staging: str, keys: tuple[str, ...]) -> str:
    match = " AND ".join(f"s.{_quote(con, k)} = t.{_quote(con, k)}" for k in keys)
    return (
        f"DELETE FROM {_quote(con, schema, table)} AS t "
        f"WHERE EXISTS (SELECT 1 FROM {_quote(con, schema, staging)} AS s WHERE {match})"
    )


def _check_keys(name: str, staged: ir.Table, keys: tuple[str, ...]) -> None:
    """A merge key must be present and unique in the new rows."""
    key = ", ".join(keys)
    nulls = int(staged.filter(_any([staged[k].isnull() for k in keys])).count().execute())
    if nulls:
        raise MillpondError(f"merge into {name}: {nulls} new row(s) have a null in unique_key ({key})")
    dupes = int(staged.group_by(list(keys)).agg(n=staged.count()).filter(lambda g: g.n > 1).count().execute())
    if dupes:
        raise MillpondError(f"merge into {name}: {dupes} unique_key ({key}) value(s) appear more than once in the new rows")


def _any(conditions: list) -> Any:
    out = conditions[0]
    for c in conditions[1:]:
        out = out | c
    return out
