"""More built-in checks: ranges, patterns, freshness, schema contracts and custom rules.

Like those of :mod:`millpond.quality.basic`, each function returns an Ibis table
expression selecting the violations (zero rows = pass), built from portable Ibis
operations only, so DuckDB and PostgreSQL give the same rows. Null semantics:

- :func:`between`, :func:`matches_regex` and :func:`expression_check` ignore nulls,
  as a SQL ``CHECK`` constraint does (a null is unknown, not false); pair them with
  :func:`~millpond.quality.basic.not_null` to forbid nulls;
- :func:`freshness` looks at the newest non-null timestamp; a table with none (empty,
  or only nulls) is stale.
"""

from __future__ import annotations

import datetime
from collections.abc import Callable, Mapping
from typing import Any

import ibis
import ibis.expr.datatypes as dt
import ibis.expr.types as ir
from ibis.common.deferred import Deferred

from millpond.settings.tables import parse_dtype

__all__ = [
    "EMAIL",
    "PATTERNS",
    "SCHEMA_PROBLEM_COLUMNS",
    "between",
    "expression_check",
    "freshness",
    "matches_regex",
    "schema_contract",
    "sql_check",
]

EMAIL = r"[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}"
"""A practical e-mail address pattern (not RFC 5322): ``local@domain.tld``."""

PATTERNS = {"email": EMAIL}
"""Built-in patterns by the name a declaration may use instead of a regex."""

SCHEMA_PROBLEM_COLUMNS = {"column": "string", "expected": "string", "actual": "string", "problem": "string"}
"""Schema of the table :func:`schema_contract` returns."""


def between(
    table: ir.Table,
    column: str,
    min: Any = None,
    max: Any = None,
    *,
    inclusive: bool = True,
) -> ir.Table:
    """Rows of ``table`` whose non-null ``column`` lies outside ``[min, max]``.

    Leave a bound out for an open interval; ``inclusive=False`` makes both bounds
    exclusive (``min < value < max``). Nulls are not violations.

    Examples
    --------
    >>> import ibis
    >>> t = ibis.memtable({"amount": [-1.0, 0.0, 5.0, None, 12.0]})
    >>> between(t, "amount", min=0, max=10).to_pandas()["amount"].tolist()
    [-1.0, 12.0]
    >>> between(t, "amount", min=0, inclusive=False).to_pandas()["amount"].tolist()
    [-1.0, 0.0]
    """
    if min is None and max is None:
        raise ValueError(f"between() on column {column!r} needs min=, max= or both")
    if min is not None and max is not None and min > max:
        raise ValueError(f"between() on column {column!r}: min={min!r} is greater than max={max!r}")
    value = table[column]
    outside = []
    if min is not None:
        outside.append(value < min if inclusive else value <= min)
    if max is not None:
        outside.append(value > max if inclusive else value >= max)
    condition = outside[0] if len(outside) == 1 else outside[0] | outside[1]
    return table.filter(condition)


def matches_regex(table: ir.Table, column: str, pattern: str) -> ir.Table:
    """Rows of ``table`` whose non-null ``column`` does not match ``pattern`` as a whole.

    The pattern is anchored at both ends (``^(?:pattern)$``), so ``[0-9]+`` rejects
    ``"12a"``. It runs on the engine (RE2 on DuckDB, POSIX ARE on PostgreSQL): keep
    to their common syntax (classes such as ``[A-Za-z0-9]``, ``\\d``, ``+``, ``{2,}``,
    ``(...)``, ``|``). :data:`EMAIL` is a ready-made e-mail pattern.

    Examples
    --------
    >>> import ibis
    >>> t = ibis.memtable({"email": ["ann@example.com", "bob@", None, "x ann@example.com"]})
    >>> matches_regex(t, "email", EMAIL).to_pandas()["email"].tolist()
    ['bob@', 'x ann@example.com']
    """
    if not pattern:
        raise ValueError(f"matches_regex() on column {column!r} needs a non-empty pattern")
    value = table[column]
    return table.filter(value.notnull() & ~value.re_search(f"^(?:{pattern})$"))


def freshness(
    table: ir.Table,
    column: str,
    max_age: datetime.timedelta,
    now: datetime.datetime | None = None,
) -> ir.Table:
    """One row holding the ``newest`` timestamp and the ``cutoff`` when the data is stale.

    The data is stale when the newest non-null ``column`` is older than
    ``cutoff = now - max_age``, or when there is no such value (an empty table, or
    only nulls: ``newest`` is then null). A date column counts from its midnight.

    Parameters
    ----------
    table, column
        The table and its timestamp (or date) column.
    max_age
        How old the newest row may be.
    now
        The reference time; pass it for deterministic results. It must be naive for a
        column without time zone and aware for one with a time zone. Defaults to the
        current time in UTC (naive for a column without time zone: millpond takes
        naive timestamps to be UTC).

    Examples
    --------
    >>> import datetime, ibis
    >>> t = ibis.memtable({"ts": [datetime.datetime(2024, 1, 1), datetime.datetime(2024, 1, 3)]})
    >>> now = datetime.datetime(2024, 1, 5)
    >>> freshness(t, "ts", datetime.timedelta(days=1), now).to_pandas().to_dict("records")
    [{'newest': Timestamp('2024-01-03 00:00:00'), 'cutoff': Timestamp('2024-01-04 00:00:00')}]
    >>> freshness(t, "ts", datetime.timedelta(days=2), now).count().execute()
    0
    """
    if max_age < datetime.timedelta(0):
        raise ValueError(f"freshness() on column {column!r}: max_age must not be negative, got {max_age}")
    value = table[column]
    kind = value.type()
    if kind.is_date():
        value, zone = value.cast("timestamp"), None
    elif kind.is_timestamp():
        zone = kind.timezone
    else:
        raise TypeError(f"freshness() needs a timestamp or date column; {column!r} is {kind}")
    if now is None:
        now = datetime.datetime.now(datetime.UTC)
        now = now if zone else now.replace(tzinfo=None)
    if zone and now.tzinfo is None:
        raise ValueError(
            f"freshness() on column {column!r} (with time zone {zone}): now must be "
            f"timezone-aware, got {now.isoformat()}"
        )
    if not zone and now.tzinfo is not None:
        raise ValueError(
            f"freshness() on column {column!r} (without time zone): now must be naive, "
            f"in the column's convention, got {now.isoformat()}"
        )
    cutoff = ibis.literal(now - max_age)
    newest = table.aggregate(newest=value.max()).mutate(cutoff=cutoff)
    return newest.filter(newest.newest.isnull() | (newest.newest < newest.cutoff))


def schema_contract(table: ir.Table, columns: Mapping[str, str], *, allow_extra: bool = True) -> ir.Table:
    """The ways ``table``'s schema breaks a contract, one row per problem.

    A check on the schema, not the rows: the result is a small in-memory table with
    columns ``column``, ``expected``, ``actual`` and ``problem``, where ``problem`` is
    ``"missing"``, ``"wrong type"`` or ``"unexpected"`` (a column not in the contract,
    reported only when ``allow_extra`` is false). Zero rows means the schema fits.

    Types are Ibis dtype strings (``int64``, ``string``, ``decimal(18, 2)``,
    ``timestamp``, ``timestamp('UTC')``...), compared after :func:`ibis.dtype`
    normalisation. Parameters left out of the contract are not checked (``decimal``
    fits any precision, ``timestamp`` any scale but only a column without time zone);
    ``int64`` fits a column with or without nulls, ``!int64`` only a ``NOT NULL`` one.
    The schema is the one the table expression had when this function was called.

    Examples
    --------
    >>> import ibis
    >>> t = ibis.table({"id": "int32", "name": "string", "extra": "float64"}, name="t")
    >>> problems = schema_contract(t, {"id": "int64", "name": "string", "email": "string"},
    ...                            allow_extra=False)
    >>> problems.to_pyarrow().to_pylist()  # doctest: +NORMALIZE_WHITESPACE
    [{'column': 'id', 'expected': 'int64', 'actual': 'int32', 'problem': 'wrong type'},
     {'column': 'email', 'expected': 'string', 'actual': None, 'problem': 'missing'},
     {'column': 'extra', 'expected': None, 'actual': 'float64', 'problem': 'unexpected'}]
    """
    schema = table.schema()
    problems: dict[str, list[str | None]] = {name: [] for name in SCHEMA_PROBLEM_COLUMNS}

    def report(column: str, expected: str | None, actual: str | None, problem: str) -> None:
        for name, value in zip(SCHEMA_PROBLEM_COLUMNS, (column, expected, actual, problem)):
            problems[name].append(value)

    for column, spelled in columns.items():
        expected = parse_dtype(spelled, column)
        if column not in schema:
            report(column, str(expected), None, "missing")
        elif not dtype_fits(expected, schema[column]):
            report(column, str(expected), str(schema[column]), "wrong type")
    if not allow_extra:
        for column, actual in schema.items():
            if column not in columns:
                report(column, None, str(actual), "unexpected")
    return ibis.memtable(problems, schema=SCHEMA_PROBLEM_COLUMNS)


def dtype_fits(expected: dt.DataType, actual: dt.DataType) -> bool:
    """Whether a column of type ``actual`` satisfies a contract asking for ``expected``.

    Nullability only matters when ``expected`` is non-nullable; unset decimal precision
    or scale and unset timestamp scale match any value.

    >>> dtype_fits(ibis.dtype("timestamp"), ibis.dtype("!timestamp(6)"))
    True
    >>> dtype_fits(ibis.dtype("timestamp"), ibis.dtype("timestamp('UTC')"))
    False
    >>> dtype_fits(ibis.dtype("!int64"), ibis.dtype("int64"))
    False
    """
    if not expected.nullable and actual.nullable:
        return False
    expected, actual = expected.copy(nullable=True), actual.copy(nullable=True)
    if expected.is_decimal() and actual.is_decimal():
        return all(
            getattr(expected, part) is None or getattr(expected, part) == getattr(actual, part)
            for part in ("precision", "scale")
        )
    if expected.is_timestamp() and actual.is_timestamp():
        return expected.timezone == actual.timezone and (expected.scale is None or expected.scale == actual.scale)
    return expected == actual


def expression_check(table: ir.Table, condition: Callable[[ir.Table], ir.BooleanValue] | Deferred) -> ir.Table:
    """Rows of ``table`` for which ``condition`` is false.

    ``condition`` gives the rule every row must satisfy: a function of the table
    returning a boolean column (``lambda t: t.net <= t.gross``) or a deferred
    expression (``ibis._.net <= ibis._.gross``). A row where it is null (unknown) is
    not a violation, as with a SQL ``CHECK`` constraint; to count nulls as
    violations, say so in the rule: ``lambda t: (t.net <= t.gross).fill_null(False)``.

    Examples
    --------
    >>> import ibis
    >>> t = ibis.memtable({"net": [8, 12, None], "gross": [10, 10, 10]})
    >>> expression_check(t, lambda t: t.net <= t.gross).to_pandas()["net"].tolist()
    [12.0]
    >>> expression_check(t, lambda t: (t.net <= t.gross).fill_null(False)).count().execute()
    2
    """
    rule = condition.resolve(table) if isinstance(condition, Deferred) else condition(table)
    if not isinstance(rule, ir.BooleanValue):
        raise TypeError(f"expression_check(): the condition must give a boolean expression, got {type(rule).__name__}")
    return table.filter(~rule)


def sql_check(con: ibis.BaseBackend, query: str) -> ir.Table:
    """The rows of a SQL ``query`` on ``con``, which selects the violations itself.

    Examples
    --------
    >>> import ibis
    >>> con = ibis.duckdb.connect()
    >>> _ = con.create_table("orders", ibis.memtable({"id": [1, 2], "total": [5, -3]}))
    >>> sql_check(con, "SELECT * FROM orders WHERE total < 0").to_pandas().to_dict("records")
    [{'id': 2, 'total': -3}]
    """
    if not query.strip():
        raise ValueError("sql_check() needs a query selecting the violating rows, got an empty one")
    return con.sql(query)
