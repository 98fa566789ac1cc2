"""Basic data quality checks: each one is an Ibis expression selecting the bad rows.

A check passes when its expression returns zero rows; when it fails, the rows it
returns are the evidence a report shows. The functions here only build expressions
(nothing runs until :func:`run_checks` counts them), and they use portable Ibis
operations only, so the same check runs on DuckDB and PostgreSQL.

Null semantics follow SQL constraints and dbt's generic tests:

- :func:`unique` ignores rows with a null in any key column (``UNIQUE`` treats nulls
  as distinct); pair it with :func:`not_null` to forbid nulls;
- :func:`relationships` ignores null foreign keys (a nullable foreign key is valid);
- :func:`accepted_values` ignores nulls.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import ibis.expr.types as ir
import pandas as pd

from millpond.quality.thresholds import Severity, Status, Threshold, check_status, needs_total

__all__ = [
    "Check",
    "CheckResult",
    "accepted_values",
    "not_null",
    "relationships",
    "row_count_between",
    "run_check",
    "run_checks",
    "unique",
]

RESULT_COLUMNS = ["check", "table", "severity", "status", "failing_rows", "sample", "detail"]
"""Columns of the frame :func:`run_checks` returns, in order."""


def not_null(table: ir.Table, column: str) -> ir.Table:
    """Rows of ``table`` where ``column`` is null.

    Examples
    --------
    >>> import ibis
    >>> t = ibis.memtable({"id": [1, None, 3]})
    >>> not_null(t, "id").count().execute()
    1
    """
    return table.filter(table[column].isnull())


def unique(table: ir.Table, columns: str | Sequence[str]) -> ir.Table:
    """Rows of ``table`` whose key (one column or several) occurs more than once.

    Every row sharing a duplicated key is returned, so the report shows all copies.
    Rows with a null in any key column are never duplicates, as with SQL ``UNIQUE``.

    Examples
    --------
    >>> import ibis
    >>> t = ibis.memtable({"a": [1, 1, 2, None, None], "b": ["x", "x", "x", "y", "y"]})
    >>> unique(t, ["a", "b"]).count().execute()
    2
    """
    key = [columns] if isinstance(columns, str) else list(columns)
    if not key:
        raise ValueError("unique() needs at least one key column, got an empty list")
    keyed = table.filter(*[table[name].notnull() for name in key])
    duplicated = keyed.group_by(key).having(keyed.count() > 1).aggregate()
    return table.semi_join(duplicated, key)


def relationships(child: ir.Table, column: str, parent: ir.Table, parent_column: str) -> ir.Table:
    """Rows of ``child`` whose non-null ``column`` has no match in ``parent.parent_column``.

    A referential-integrity (foreign key) check. Null keys are not violations.
    ``child`` and ``parent`` may be the same table (a self-reference).

    Examples
    --------
    >>> import ibis
    >>> customers = ibis.memtable({"id": ["ann", "bob"]})
    >>> orders = ibis.memtable({"customer_id": ["ann", "eve", None]})
    >>> relationships(orders, "customer_id", customers, "id").to_pandas()["customer_id"].tolist()
    ['eve']
    """
    parent = parent.view()
    keyed = child.filter(child[column].notnull())
    return keyed.anti_join(parent, keyed[column] == parent[parent_column])


def accepted_values(table: ir.Table, column: str, values: Iterable[Any]) -> ir.Table:
    """Rows of ``table`` whose non-null ``column`` is not one of ``values``.

    Examples
    --------
    >>> import ibis
    >>> t = ibis.memtable({"status": ["paid", "lost", None]})
    >>> accepted_values(t, "status", ["paid", "refunded"]).to_pandas()["status"].tolist()
    ['lost']
    """
    allowed = list(values)
    if not allowed:
        raise ValueError(f"accepted_values() on column {column!r} needs at least one value")
    return table.filter(table[column].notnull() & ~table[column].isin(allowed))


def row_count_between(table: ir.Table, *, min: int | None = None, max: int | None = None) -> ir.Table:
    """One row holding ``row_count`` when the table's row count is out of bounds, else none.

    Bounds are inclusive; leave one out for an open interval.

    Examples
    --------
    >>> import ibis
    >>> t = ibis.memtable({"x": [1, 2, 3]})
    >>> row_count_between(t, min=5).to_pandas().to_dict("records")
    [{'row_count': 3}]
    >>> row_count_between(t, min=1, max=3).count().execute()
    0
    """
    if min is None and max is None:
        raise ValueError("row_count_between() needs min=, max= or both")
    if min is not None and max is not None and min > max:
        raise ValueError(f"row_count_between(): min={min} is greater than max={max}")
    counted = table.aggregate(row_count=table.count())
    out_of_bounds = []
    if min is not None:
        out_of_bounds.append(counted.row_count < min)
    if max is not None:
        out_of_bounds.append(counted.row_count > max)
    condition = out_of_bounds[0] if len(out_of_bounds) == 1 else out_of_bounds[0] | out_of_bounds[1]
    return counted.filter(condition)


@dataclass(frozen=True)
class Check:
    """A named check: an expression selecting violations of a rule on one table.

    Parameters
    ----------
    name
        What the rule is, e.g. ``"orders.customer_id references customers.id"``.
    table
        Name of the table checked, for the report.
    expression
        An Ibis table expression returning the violating rows.
    severity
        ``"error"`` (a violation fails the check) or ``"warn"``.
    warn_if, error_if
        Optional :class:`~millpond.quality.thresholds.Threshold` (or a mapping such as
        ``{"rows": 10}`` or ``{"percent": 1.5}``): how many violating rows make the
        check warn or fail; see :func:`~millpond.quality.thresholds.check_status`.
    population
        The rows the check examines, whose count a percent threshold is a share of
        (usually the checked table itself). Required by a percent threshold, and
        counted only when there are violations to weigh.

    Examples
    --------
    >>> import ibis
    >>> t = ibis.memtable({"id": [1, None, 3, 4]})
    >>> check = Check("id is not null", "t", not_null(t, "id"),
    ...               error_if={"percent": 10}, population=t)
    >>> check.error_if
    Threshold(rows=None, percent=10.0)
    """

    name: str
    table: str
    expression: ir.Table = field(repr=False)
    severity: Severity = "error"
    warn_if: Threshold | None = None
    error_if: Threshold | None = None
    population: ir.Table | None = field(default=None, repr=False)
    columns: tuple[str, ...] = ()
    """The columns the rule is about (``not_null``'s column, ``unique``'s key...): a failing
    check shows them first in its sample, and their unexpected values with counts."""
    duplicates: bool = False
    """The rule is a key's uniqueness: its failing values are the duplicated keys."""

    def __post_init__(self) -> None:
        if self.severity not in ("error", "warn"):
            raise ValueError(f"check {self.name!r}: severity must be 'error' or 'warn', got {self.severity!r}")
        if not isinstance(self.expression, ir.Table):
            raise TypeError(
                f"check {self.name!r}: expression must be an Ibis table expression selecting "
                f"the violating rows, got {type(self.expression).__name__}"
            )
        for name in ("warn_if", "error_if"):
            value = getattr(self, name)
            if isinstance(value, Mapping):
                object.__setattr__(self, name, Threshold.model_validate(dict(value)))
            elif value is not None and not isinstance(value, Threshold):
                raise TypeError(
                    f"check {self.name!r}: {name} must be a Threshold or a mapping such as "
                    f"{{'rows': 10}}, got {type(value).__name__}"
                )
        if needs_total(self.warn_if, self.error_if) and not isinstance(self.population, ir.Table):
            raise ValueError(
                f"check {self.name!r}: a percent threshold needs population=, the table whose rows the check examines"
            )


@dataclass(frozen=True)
class CheckResult:
    """The outcome of one :class:`Check`.

    ``status`` is ``"pass"``, ``"warn"`` or ``"fail"``: without thresholds, ``pass``
    means no violating rows and violations make an ``error`` check ``fail`` and a
    ``warn`` check ``warn``; with thresholds, see
    :func:`~millpond.quality.thresholds.check_status`. ``sample`` holds the first few
    violating rows as plain dicts (nulls as ``None``). ``total_rows`` is the size of
    the check's population when a percent threshold needed it, else ``None``.
    """

    check: str
    table: str
    severity: Severity
    status: Status
    failing_rows: int
    sample: list[dict[str, Any]] = field(default_factory=list)
    total_rows: int | None = None
    detail: dict[str, Any] = field(default_factory=dict)
    """For a failing check on :attr:`Check.columns`: ``columns``, ``values`` (the most
    frequent unexpected values, each with its ``rows``), ``distinct`` (how many values, or
    keys, fail) and, for a uniqueness rule, ``duplicates``: the values are duplicated keys."""

    @property
    def passed(self) -> bool:
        """Whether the check found no violating rows."""
        return self.status == "pass"


def run_check(check: Check, *, sample_size: int = 5, failing: int | None = None) -> CheckResult:
    """Count ``check``'s violating rows and fetch a sample of them.

    ``failing``: the count, when it is known already (:func:`run_checks` counts many
    checks in one query); the check then runs a query only to fetch a sample when it fails.

    Examples
    --------
    >>> import ibis
    >>> t = ibis.memtable({"id": [1, None]})
    >>> run_check(Check("id is not null", "t", not_null(t, "id"), "warn"))
    CheckResult(check='id is not null', table='t', severity='warn', status='warn', failing_rows=1, sample=[{'id': None}], total_rows=None, detail={})

    Naming the columns the rule is about adds the failing values with their counts:

    >>> u = ibis.memtable({"k": [1, 1, 2, 2, 3], "v": list("abcde")})
    >>> run_check(Check("k is unique", "u", unique(u, "k"), columns=("k",))).detail
    {'columns': ['k'], 'values': [{'value': 1, 'rows': 2}, {'value': 2, 'rows': 2}], 'distinct': 2}

    With a threshold, 1 null in 2 rows (50 %) is more than 40 % but not 50 %:

    >>> run_check(Check("id is not null", "t", not_null(t, "id"), population=t,
    ...                 warn_if={"percent": 40}, error_if={"percent": 50})).status
    'warn'
    """
    try:
        if failing is None:
            failing = int(check.expression.count().execute())
        sample = _records(check.expression.limit(sample_size).to_pandas()) if failing else []
        detail = _detail(check) if failing and check.columns else {}
        sample = [_focused(row, check.columns) for row in sample]
        total = None
        if failing and needs_total(check.warn_if, check.error_if):
            total = int(check.population.count().execute())
    except Exception as error:
        raise RuntimeError(f"check {check.name!r} on table {check.table!r} could not run: {error}") from error
    status = check_status(check.severity, failing, total, warn_if=check.warn_if, error_if=check.error_if)
    return CheckResult(check.name, check.table, check.severity, status, failing, sample, total, detail)


VALUES_SHOWN = 10
"""The unexpected values a failing check lists, most frequent first."""


def _detail(check: Check) -> dict[str, Any]:
    """The failing values of ``check``'s columns with their counts, and how many there are."""
    columns = list(check.columns)
    failing = check.expression
    counted = failing.group_by(columns).aggregate(rows=failing.count())
    top = counted.order_by([counted["rows"].desc(), *columns]).limit(VALUES_SHOWN)
    values = [
        {"value": row[columns[0]] if len(columns) == 1 else {c: row[c] for c in columns}, "rows": int(row["rows"])}
        for row in _records(top.to_pandas())
    ]
    detail = {"columns": columns, "values": values, "distinct": int(counted.count().execute())}
    return detail | {"duplicates": True} if check.duplicates else detail


def _focused(row: dict[str, Any], columns: Sequence[str]) -> dict[str, Any]:
    """``row`` with ``columns`` first."""
    return {**{c: row[c] for c in columns if c in row}, **{k: v for k, v in row.items() if k not in columns}}


def run_checks(checks: Iterable[Check], *, sample_size: int = 5) -> pd.DataFrame:
    """Run ``checks`` in order and return one row per check.

    Returns
    -------
    pandas.DataFrame
        Columns ``check``, ``table``, ``severity``, ``status`` (``pass``/``warn``/``fail``),
        ``failing_rows`` (int) and ``sample`` (a list of up to ``sample_size`` row dicts).
        Pass it to :class:`millpond.report.Checks` to show it in a report.

    Raises
    ------
    RuntimeError
        If a check's expression cannot be executed (names the check and table).

    Examples
    --------
    >>> import ibis
    >>> orders = ibis.memtable({"id": [1, 2, 2], "amount": [9.5, None, 3.0]})
    >>> results = run_checks([
    ...     Check("id is unique", "orders", unique(orders, "id")),
    ...     Check("amount is not null", "orders", not_null(orders, "amount"), "warn"),
    ...     Check("at least one order", "orders", row_count_between(orders, min=1)),
    ... ])
    >>> results[["check", "status", "failing_rows"]].to_dict("records")  # doctest: +NORMALIZE_WHITESPACE
    [{'check': 'id is unique', 'status': 'fail', 'failing_rows': 2},
     {'check': 'amount is not null', 'status': 'warn', 'failing_rows': 1},
     {'check': 'at least one order', 'status': 'pass', 'failing_rows': 0}]
    """
    results = run_all(checks, sample_size=sample_size)
    frame = pd.DataFrame(
        [[getattr(r, name) for name in RESULT_COLUMNS] for r in results],
        columns=RESULT_COLUMNS,
    )
    return frame.astype({"failing_rows": "int64"})


def run_all(checks: Iterable[Check], *, sample_size: int = 5) -> list[CheckResult]:
    """:func:`run_check` for each check, their counts taken together in one query where they
    share a backend (:func:`millpond.quality.counting.count_rows`), else one by one."""
    from millpond.quality.counting import count_rows

    checks = list(checks)
    counts = count_rows([check.expression for check in checks]) or [None] * len(checks)
    return [run_check(check, sample_size=sample_size, failing=n) for check, n in zip(checks, counts, strict=True)]


def _records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """``frame`` as a list of dicts of plain Python values, nulls (NaN, NaT, NA) as ``None``."""
    return [{key: _plain(value) for key, value in row.items()} for row in frame.to_dict("records")]


def _plain(value: Any) -> Any:
    if value is None or value is pd.NaT or value is pd.NA:
        return None
    if isinstance(value, float) and math.isnan(value):
        return None
    if hasattr(value, "item") and not isinstance(value, (pd.Timestamp, pd.Timedelta)):
        return value.item()
    return value
