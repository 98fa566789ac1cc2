"""The arguments of each check type a declaration may use, as pydantic models.

:mod:`millpond.quality.declared` reads a check such as ``between: {column: x, min: 0}``
into :class:`BetweenArguments`; each model knows its default check names and builds
its expressions. Every model takes the options of :class:`CheckArguments`.
"""

from __future__ import annotations

import datetime
import re
import re._parser as parser
from collections.abc import Callable
from typing import Annotated, Any, ClassVar

import ibis.expr.types as ir
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from millpond.quality import basic, builtin
from millpond.quality.thresholds import Severity, Threshold

__all__ = [
    "ARGUMENTS_BY_TYPE",
    "AcceptedValuesArguments",
    "BetweenArguments",
    "CheckArguments",
    "FreshnessArguments",
    "NotNullArguments",
    "RegexArguments",
    "RelationshipsArguments",
    "RowCountArguments",
    "SchemaArguments",
    "SqlArguments",
    "UniqueArguments",
]

Column = Annotated[str, Field(min_length=1)]
TableGetter = Callable[[str], ir.Table]
DURATION = re.compile(r"^\s*(\d+)\s*([smhdw])\s*$")
UNITS = {"w": "weeks", "d": "days", "h": "hours", "m": "minutes", "s": "seconds"}


class CheckArguments(BaseModel):
    """Options every check takes; subclasses add the check's own arguments."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    example: ClassVar[str] = ""
    row_level: ClassVar[bool] = True

    name: str | None = Field(default=None, min_length=1)
    severity: Severity = "error"
    warn_if: Threshold | None = None
    error_if: Threshold | None = None

    @model_validator(mode="before")
    @classmethod
    def _mapping(cls, data: Any) -> Any:
        data = cls._expand(data)
        if not isinstance(data, dict):
            raise ValueError(f"expected a mapping of arguments, such as {cls.example}")
        return data

    @classmethod
    def _expand(cls, data: Any) -> Any:
        """Turn a scalar shorthand into the mapping form (none by default)."""
        return data

    @field_validator("warn_if", "error_if")
    @classmethod
    def _rows_only(cls, threshold: Threshold | None) -> Threshold | None:
        if threshold is not None and threshold.percent is not None and not cls.row_level:
            raise ValueError("this check does not look at rows: give a threshold in rows, not percent")
        return threshold

    def default_names(self) -> list[str]:
        """The names of the checks made when no ``name`` is given, one per check."""
        raise NotImplementedError

    def expressions(self, table: ir.Table, tables: TableGetter, con: Any, now: Any) -> list[ir.Table]:
        """The violation expressions on the guarded ``table``, in :meth:`default_names` order.

        ``tables`` gives other tables by name, ``con`` is the backend for SQL and
        ``now`` the reference time of freshness.
        """
        raise NotImplementedError


class _Columns(CheckArguments):
    """``not_null``/``unique``: a column name, a list of them, or ``{columns: ...}``."""

    columns: list[Column] = Field(min_length=1)

    @classmethod
    def _expand(cls, data: Any) -> Any:
        if isinstance(data, str):
            return {"columns": [data]}
        if isinstance(data, list):
            return {"columns": data}
        if isinstance(data, dict) and isinstance(data.get("columns"), str):
            return {**data, "columns": [data["columns"]]}
        return data


class NotNullArguments(_Columns):
    example: ClassVar[str] = "not_null: [order_id, customer_key]"

    @model_validator(mode="after")
    def _one_name_per_check(self) -> NotNullArguments:
        if self.name is not None and len(self.columns) > 1:
            raise ValueError(
                f"name applies to one check, but not_null on {len(self.columns)} columns makes "
                f"{len(self.columns)}: declare each column separately to name it"
            )
        return self

    def default_names(self) -> list[str]:
        return [f"{column} is not null" for column in self.columns]

    def expressions(self, table, tables, con, now):
        return [basic.not_null(table, column) for column in self.columns]


class UniqueArguments(_Columns):
    example: ClassVar[str] = "unique: order_id, or unique: [order_id, line_no] for a composite key"

    def default_names(self) -> list[str]:
        key = self.columns[0] if len(self.columns) == 1 else f"({', '.join(self.columns)})"
        return [f"{key} is unique"]

    def expressions(self, table, tables, con, now):
        return [basic.unique(table, self.columns)]


class RelationshipsArguments(CheckArguments):
    example: ClassVar[str] = "{column: customer_key, to: gold.dim_customer, field: customer_key}"

    column: Column
    to: str = Field(min_length=1, description="the referenced table")
    field: Column | None = Field(default=None, description="its key column; defaults to column")

    def default_names(self) -> list[str]:
        return [f"{self.column} references {self.to}.{self.field or self.column}"]

    def expressions(self, table, tables, con, now):
        return [basic.relationships(table, self.column, tables(self.to), self.field or self.column)]


class AcceptedValuesArguments(CheckArguments):
    example: ClassVar[str] = "{column: status, values: [placed, shipped]}"

    column: Column
    values: list[str | int | float | bool] = Field(min_length=1)

    def default_names(self) -> list[str]:
        return [f"{self.column} is one of {', '.join(str(v) for v in self.values)}"]

    def expressions(self, table, tables, con, now):
        return [basic.accepted_values(table, self.column, self.values)]


Bound = int | float | datetime.datetime | datetime.date


def _comparable(value: Bound) -> Any:
    """A bound as what compares with the other bound (a date as its midnight).

    >>> _comparable(datetime.date(2024, 1, 2)) < _comparable(datetime.datetime(2024, 1, 2, 6))
    True
    """
    if isinstance(value, datetime.date) and not isinstance(value, datetime.datetime):
        return datetime.datetime.combine(value, datetime.time())
    return value


class BetweenArguments(CheckArguments):
    example: ClassVar[str] = "{column: net_amount, min: 0, max: 1000}"

    column: Column
    min: Bound | None = None
    max: Bound | None = None
    inclusive: bool = True

    @model_validator(mode="after")
    def _bounds(self) -> BetweenArguments:
        if self.min is None and self.max is None:
            raise ValueError("between needs min, max or both")
        if self.min is not None and self.max is not None:
            try:
                backwards = _comparable(self.min) > _comparable(self.max)
            except TypeError:
                raise ValueError(
                    f"min {self.min} and max {self.max} cannot be compared: give two numbers, "
                    "two dates or two times (both with a time zone or both without)"
                ) from None
            if backwards:
                raise ValueError(f"min {self.min} is greater than max {self.max}")
        return self

    def default_names(self) -> list[str]:
        lower, upper = ("<=", ">=") if self.inclusive else ("<", ">")
        if self.max is None:
            return [f"{self.column} {upper} {self.min}"]
        if self.min is None:
            return [f"{self.column} {lower} {self.max}"]
        return [f"{self.min} {lower} {self.column} {lower} {self.max}"]

    def expressions(self, table, tables, con, now):
        return [builtin.between(table, self.column, self.min, self.max, inclusive=self.inclusive)]


_NOT_IN_RE2 = {
    "ASSERT": "lookahead or lookbehind",
    "ASSERT_NOT": "lookahead or lookbehind",
    "GROUPREF": "backreference",
    "GROUPREF_EXISTS": "conditional group",
    "ATOMIC_GROUP": "atomic group",
    "POSSESSIVE_REPEAT": "possessive quantifier",
}


def unsupported_by_re2(pattern: str) -> str | None:
    """What of a valid Python ``pattern`` RE2 (DuckDB's regular expressions) lacks, if anything.

    >>> unsupported_by_re2(r"^[a-z]+@\\w+$"), unsupported_by_re2(r"(?<!x)y"), unsupported_by_re2(r"(a)\\1")
    (None, 'lookahead or lookbehind', 'backreference')
    """

    def walk(items) -> str | None:
        for op, value in items:
            if str(op) in _NOT_IN_RE2:
                return _NOT_IN_RE2[str(op)]
            for part in value if isinstance(value, (list, tuple)) else ():
                found = (
                    walk(part)
                    if isinstance(part, parser.SubPattern)
                    else (
                        next((f for sub in part if isinstance(sub, parser.SubPattern) and (f := walk(sub))), None)
                        if isinstance(part, (list, tuple))
                        else None
                    )
                )
                if found:
                    return found
        return None

    return walk(parser.parse(pattern))


class RegexArguments(CheckArguments):
    example: ClassVar[str] = "{column: email, pattern: email}"

    column: Column
    pattern: str = Field(min_length=1, description=f"a regex, or a built-in pattern: {', '.join(builtin.PATTERNS)}")

    @field_validator("pattern")
    @classmethod
    def _compiles(cls, pattern: str) -> str:
        """A pattern is compiled when the spec is validated, not when the check first runs."""
        if pattern in builtin.PATTERNS:
            return pattern
        try:
            re.compile(pattern)
        except re.error as exc:
            where = f" at position {exc.pos}" if exc.pos is not None else ""
            raise ValueError(
                f"not a valid regular expression: {exc.msg}{where} (or a built-in pattern: "
                f"{', '.join(builtin.PATTERNS)})"
            ) from None
        unsupported = unsupported_by_re2(pattern)
        if unsupported:
            raise ValueError(
                f"the warehouse's regular expressions (RE2) have no {unsupported}; rewrite the pattern without it"
            ) from None
        return pattern

    def default_names(self) -> list[str]:
        if self.pattern in builtin.PATTERNS:
            return [f"{self.column} matches the {self.pattern} pattern"]
        return [f"{self.column} matches {self.pattern}"]

    def expressions(self, table, tables, con, now):
        pattern = builtin.PATTERNS.get(self.pattern, self.pattern)
        return [builtin.matches_regex(table, self.column, pattern)]


class RowCountArguments(CheckArguments):
    example: ClassVar[str] = "{min: 1, max: 1000000}"
    row_level: ClassVar[bool] = False

    min: int | None = Field(default=None, ge=0)
    max: int | None = Field(default=None, ge=0)

    @model_validator(mode="after")
    def _bounds(self) -> RowCountArguments:
        if self.min is None and self.max is None:
            raise ValueError("row_count needs min, max or both")
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError(f"min {self.min} is greater than max {self.max}")
        return self

    def default_names(self) -> list[str]:
        if self.max is None:
            return [f"has at least {_rows(self.min or 0)}"]
        if self.min is None:
            return [f"has at most {_rows(self.max)}"]
        return [f"has {self.min} to {_rows(self.max)}"]

    def expressions(self, table, tables, con, now):
        return [basic.row_count_between(table, min=self.min, max=self.max)]


class FreshnessArguments(CheckArguments):
    example: ClassVar[str] = "{column: order_ts, max_age: 2d}"
    row_level: ClassVar[bool] = False

    column: Column
    max_age: datetime.timedelta = Field(description="a duration such as 45s, 30m, 12h, 2d or 1w")

    @field_validator("max_age", mode="before")
    @classmethod
    def _duration(cls, value: Any) -> Any:
        if isinstance(value, datetime.timedelta):
            return value
        match = DURATION.match(value) if isinstance(value, str) else None
        if match is None:
            raise ValueError(f"{value!r} is not a duration such as 45s, 30m, 12h, 2d or 1w")
        return datetime.timedelta(**{UNITS[match[2]]: int(match[1])})

    def default_names(self) -> list[str]:
        return [f"newest {self.column} is at most {_duration(self.max_age)} old"]

    def expressions(self, table, tables, con, now):
        return [builtin.freshness(table, self.column, self.max_age, now)]


class SchemaArguments(CheckArguments):
    example: ClassVar[str] = "{columns: {order_id: int64, status: string}}"
    row_level: ClassVar[bool] = False

    columns: dict[Column, str] = Field(min_length=1, description="column name: Ibis type")
    allow_extra: bool = True

    @field_validator("columns")
    @classmethod
    def _types(cls, columns: dict[str, str]) -> dict[str, str]:
        for column, spelled in columns.items():
            builtin.parse_dtype(spelled, column)
        return columns

    def default_names(self) -> list[str]:
        return ["schema fits the contract" if self.allow_extra else "schema is exactly the contract"]

    def expressions(self, table, tables, con, now):
        return [builtin.schema_contract(table, self.columns, allow_extra=self.allow_extra)]


class SqlArguments(CheckArguments):
    example: ClassVar[str] = "{name: no negative totals, query: SELECT * FROM t WHERE total < 0}"

    name: str = Field(min_length=1, description="what the query looks for")
    query: str = Field(min_length=1, description="selects the violating rows")

    def default_names(self) -> list[str]:
        return [self.name]

    def expressions(self, table, tables, con, now):
        if con is None:
            raise ValueError("a sql check needs the backend: pass con= to build_checks()")
        return [builtin.sql_check(con, self.query)]


ARGUMENTS_BY_TYPE: dict[str, type[CheckArguments]] = {
    "not_null": NotNullArguments,
    "unique": UniqueArguments,
    "relationships": RelationshipsArguments,
    "accepted_values": AcceptedValuesArguments,
    "between": BetweenArguments,
    "regex": RegexArguments,
    "row_count": RowCountArguments,
    "freshness": FreshnessArguments,
    "schema": SchemaArguments,
    "sql": SqlArguments,
}


def _rows(count: int) -> str:
    return f"{count} row" if count == 1 else f"{count} rows"


def _duration(age: datetime.timedelta) -> str:
    """``age`` spelled the way a declaration writes it (``2d``, ``12h``, ``90s``)."""
    seconds = int(age.total_seconds())
    for unit, size in (("w", 604800), ("d", 86400), ("h", 3600), ("m", 60)):
        if seconds and seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"
