"""How an incremental table takes new rows (:class:`Incremental`), and the strategies, in a
registry: what each takes from the new rows and what it replaces.

:func:`millpond.warehouse.incremental.apply_incremental` runs every strategy the same way:
the strategy says which rows of the full expression are new (:meth:`IncrementalStrategy.rows`,
staged in a table of their own) and what those staged rows replace in the target
(:meth:`IncrementalStrategy.replaces`: ``DELETE`` statements); then one transaction deletes,
inserts the staged rows and drops the staging tables, with the contract's key checks before
the commit. A new strategy is one subclass and one :func:`register_strategy` line (its name
also goes into ``settings.tables.Strategy``, which a test keeps in step), and it gets the
staging, schema evolution, quarantine, contract and atomic commit of the others.

>>> sorted(strategies())
['append', 'delete+insert', 'merge']
>>> strategy("merge").problem(type("Spec", (), {"unique_key": ()})())
'merge needs unique_key= (the column(s) to upsert on)'
"""

from __future__ import annotations

import datetime as dt
import re
import secrets
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import ibis

from millpond.engines import create_table_as
from millpond.errors import MillpondError
from millpond.warehouse.sql import TEMP_PREFIX, quote

if TYPE_CHECKING:
    import ibis.expr.types as ir
    from ibis.backends import BaseBackend

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


@dataclass(frozen=True)
class Incremental:
    """How an incremental table takes new rows (see the module docstring)."""

    strategy: str = "append"
    unique_key: tuple[str, ...] = ()
    watermark: str | None = None
    partition_by: str | None = None
    partitions: tuple[Any, ...] = ()
    lookback: dt.timedelta | int | float | None = field(default=None)
    propagate_deletes: bool = False
    """Keep the table to the full expression's ``unique_key`` values both ways: delete the rows
    whose key it no longer has (deleted upstream, or held in quarantine), and add back a
    key that returns, whatever its watermark; in the same transaction as the new rows."""

    @classmethod
    def of(
        cls,
        strategy: str = "append",
        unique_key: str | list[str] | tuple[str, ...] | None = None,
        watermark: str | None = None,
        partition_by: str | None = None,
        partitions: Any = None,
        lookback: Any = None,
        propagate_deletes: bool = False,
    ) -> Incremental:
        """Normalize loose arguments (a key as a string, one partition as a scalar).

        >>> Incremental.of("merge", unique_key="id", watermark="updated_at", lookback="2d")
        Incremental(strategy='merge', unique_key=('id',), watermark='updated_at', partition_by=None, partitions=(), lookback=datetime.timedelta(days=2), propagate_deletes=False)
        """
        keys = (unique_key,) if isinstance(unique_key, str) else tuple(unique_key or ())
        if partitions is None:
            parts: tuple[Any, ...] = ()
        elif isinstance(partitions, (list, tuple, set, frozenset)):
            parts = tuple(partitions)
        else:
            parts = (partitions,)
        return cls(strategy, keys, watermark, partition_by, parts, parse_lookback(lookback), propagate_deletes)

    def validate(self, name: str, columns: list[str]) -> None:
        """One-line errors for an unknown strategy, one without what it needs, or unknown columns."""
        where = f"incremental {name}"
        try:
            problem = strategy(self.strategy).problem(self)
        except MillpondError as exc:
            raise MillpondError(f"{where}: {exc}") from None
        if problem:
            raise MillpondError(f"{where}: {problem}")
        if self.propagate_deletes and not self.unique_key:
            raise MillpondError(f"{where}: propagate_deletes needs unique_key (the key whose rows are deleted)")
        named = [*self.unique_key, self.watermark, self.partition_by]
        unknown = [c for c in named if c is not None and c not in columns]
        if unknown:
            raise MillpondError(
                f"{where}: no column {', '.join(unknown)} in the new rows (columns: {', '.join(columns)})"
            )


def staging_name(table: str) -> str:
    """A fresh name for a staging table of ``table`` (dropped by the build, or by the next)."""
    return f"{TEMP_PREFIX}{table}_{secrets.token_hex(4)}"


@dataclass
class IncrementalStep:
    """One incremental build in progress, as a strategy sees it."""

    con: BaseBackend
    schema: str
    table: str
    spec: Incremental
    expr: ir.Table
    """Every row of the table as the stage computes it now (columns conformed to the target)."""
    target: ir.Table
    """The table in the warehouse."""
    statements: list[str] = field(default_factory=list)
    """Run in the build's transaction before the staged rows are inserted."""
    temps: list[str] = field(default_factory=list)
    """Staging tables, dropped in the same transaction (or by the next build after a crash)."""

    @property
    def name(self) -> str:
        return f"{self.schema}.{self.table}"

    def stage(self, rows: ir.Table) -> tuple[str, ir.Table]:
        """Write ``rows`` to a new staging table; its name and the table."""
        name = staging_name(self.table)
        self.temps.append(name)
        return name, create_table_as(self.con, name, rows, self.schema)

    def since_watermark(self, rows: ir.Table, *, strict: bool = False) -> ir.Table:
        """``rows`` at or after (``strict``: after) ``max(watermark) - lookback`` of the target."""
        spec = self.spec
        if not spec.watermark:
            return rows
        cutoff = watermark_cutoff(self.con, self.target, spec.watermark, spec.lookback)
        if cutoff is None:
            return rows
        edge = ibis.literal(cutoff, type=self.target.schema()[spec.watermark])
        return rows.filter(rows[spec.watermark] > edge if strict else rows[spec.watermark] >= edge)


class IncrementalStrategy:
    """One way of adding new rows to an existing table."""

    name: str = ""

    def problem(self, spec: Incremental) -> str | None:
        """What the strategy misses in ``spec`` (one line), or ``None``."""
        return None

    def rows(self, step: IncrementalStep) -> ir.Table:
        """The rows of ``step.expr`` to insert."""
        raise NotImplementedError

    def replaces(self, step: IncrementalStep, staged_name: str, staged: ir.Table) -> None:
        """Add to ``step.statements`` what removes the rows the staged rows replace."""


class Append(IncrementalStrategy):
    """Rows past the target's watermark (strictly), or, with a ``unique_key``, the rows at or
    after ``max - lookback`` whose key the target does not hold yet."""

    name = "append"

    def problem(self, spec: Incremental) -> str | None:
        if not (spec.watermark or spec.unique_key):
            return "append needs watermark= or unique_key= to know which rows are new"
        if spec.lookback and not spec.unique_key:
            return "append with a lookback needs unique_key= (or rows would be added twice)"
        return None

    def rows(self, step: IncrementalStep) -> ir.Table:
        keys = list(step.spec.unique_key)
        rows = step.since_watermark(step.expr, strict=not keys)
        return rows.anti_join(step.target, keys) if keys else rows


class Merge(IncrementalStrategy):
    """Upsert on ``unique_key``: rows at or after ``max(watermark) - lookback`` (all rows
    without a watermark) replace the target's rows with the same key; the others are added."""

    name = "merge"

    def problem(self, spec: Incremental) -> str | None:
        return None if spec.unique_key else "merge needs unique_key= (the column(s) to upsert on)"

    def rows(self, step: IncrementalStep) -> ir.Table:
        return step.since_watermark(step.expr)

    def replaces(self, step: IncrementalStep, staged_name: str, staged: ir.Table) -> None:
        keys = step.spec.unique_key
        _check_keys(step.name, staged, keys)
        con = step.con
        match = " AND ".join(f"s.{quote(con, k)} = t.{quote(con, k)}" for k in keys)
        step.statements.append(
            f"DELETE FROM {quote(con, step.schema, step.table)} AS t "
            f"WHERE EXISTS (SELECT 1 FROM {quote(con, step.schema, staged_name)} AS s WHERE {match})"
        )


class DeleteInsert(IncrementalStrategy):
    """Whole partitions of ``partition_by`` replaced: the ``partitions`` given (e.g. the run
    date), or those touched by rows at or after ``max(watermark) - lookback``, or every
    partition of the new rows."""

    name = "delete+insert"

    def problem(self, spec: Incremental) -> str | None:
        return (
            None
            if spec.partition_by
            else "delete+insert needs partition_by= (the column whose partitions are replaced)"
        )

    def rows(self, step: IncrementalStep) -> ir.Table:
        spec, expr, column = step.spec, step.expr, step.spec.partition_by
        if column is None:  # problem() refuses it before a build starts
            raise MillpondError(f"incremental {step.name}: delete+insert needs partition_by=")
        if spec.partitions:
            values = ibis.memtable({column: list(spec.partitions)})
            touched = values.select(values[column].cast(step.target.schema()[column]).name(column)).distinct()
        else:
            touched = step.since_watermark(expr).select(column).distinct()
        parts_name, parts = step.stage(touched)
        col, src = quote(step.con, column), quote(step.con, step.schema, parts_name)
        step.statements.append(
            f"DELETE FROM {quote(step.con, step.schema, step.table)} WHERE {col} IN (SELECT {col} FROM {src} WHERE {col} IS NOT NULL)"
            f" OR ({col} IS NULL AND EXISTS (SELECT 1 FROM {src} WHERE {col} IS NULL))"
        )
        return expr.filter(expr[column].isin(parts[column]))


_STRATEGIES: dict[str, IncrementalStrategy] = {}


def register_strategy(strategy_: IncrementalStrategy) -> None:
    """Make ``strategy_`` available as ``strategy=`` of incremental tables, by its name."""
    _STRATEGIES[strategy_.name] = strategy_


def strategies() -> tuple[str, ...]:
    """The names of the registered strategies."""
    return tuple(_STRATEGIES)


def strategy(name: str) -> IncrementalStrategy:
    """The strategy named ``name`` (a one-line error naming the others when there is none)."""
    found = _STRATEGIES.get(name)
    if found is None:
        raise MillpondError(f"unknown strategy {name!r} (choose from {', '.join(_STRATEGIES)})")
    return found


register_strategy(Append())
register_strategy(Merge())
register_strategy(DeleteInsert())


def _check_keys(name: str, staged: ir.Table, keys: tuple[str, ...]) -> None:
    """A merge key must be present and unique in the new rows."""
    key = ", ".join(keys)
    nulls = int(staged.filter(_any([staged[k].isnull() for k in keys])).count().execute())
    if nulls:
        raise MillpondError(f"merge into {name}: {nulls} new row(s) have a null in unique_key ({key})")
    dupes = int(staged.group_by(list(keys)).agg(n=staged.count()).filter(lambda g: g.n > 1).count().execute())
    if dupes:
        raise MillpondError(
            f"merge into {name}: {dupes} unique_key ({key}) value(s) appear more than once in the new rows"
        )


def _any(conditions: list) -> Any:
    out = conditions[0]
    for c in conditions[1:]:
        out = out | c
    return out
