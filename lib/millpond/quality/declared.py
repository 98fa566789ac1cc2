"""Checks declared in YAML next to the tables they guard, as pydantic models.

One list of checks per table; each check is a mapping with one key, its type::

    checks:
      gold.fct_orders:
        - not_null: [order_id, customer_key]          # one check per column
        - unique: order_id                            # [a, b]: one check on a composite key
        - relationships: {column: customer_key, to: gold.dim_customer, field: customer_key}
        - accepted_values: {column: status, values: [placed, shipped, delivered]}
        - between: {column: net_amount, min: 0}       # also max:, inclusive: false
        - regex: {column: email, pattern: email}      # a built-in pattern name, or a regex
        - row_count: {min: 1, max: 1000000}
        - freshness: {column: order_ts, max_age: 2d}  # 45s, 30m, 12h, 2d, 1w
        - schema: {columns: {order_id: int64, status: string}, allow_extra: true}
        - sql: {name: no negative totals, query: "SELECT * FROM ... WHERE net_amount < 0"}
        - unique: {columns: [order_id], severity: warn, error_if: {percent: 1}}

Every check also takes ``name``, ``severity`` (``error``/``warn``), ``warn_if`` and
``error_if`` (``{rows: N}`` or ``{percent: X}``, see :mod:`millpond.quality.thresholds`;
percentages are of the guarded table's rows, so ``row_count``, ``freshness`` and
``schema`` take ``rows`` only). :func:`parse_checks` validates the data;
:func:`build_checks` turns it into :class:`~millpond.quality.basic.Check` objects.
"""

from __future__ import annotations

import datetime
from collections.abc import Callable
from typing import Annotated, Any

import ibis
import ibis.expr.types as ir
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator

from millpond.errors import MillpondError
from millpond.quality.basic import Check
from millpond.quality.check_arguments import (
    ARGUMENTS_BY_TYPE,
    AcceptedValuesArguments,
    BetweenArguments,
    CheckArguments,
    FreshnessArguments,
    NotNullArguments,
    RegexArguments,
    RelationshipsArguments,
    RowCountArguments,
    SchemaArguments,
    SqlArguments,
    UniqueArguments,
)

__all__ = ["CheckBuildError", "CheckDeclaration", "CheckDeclarations", "build_checks", "parse_checks"]

TableGetter = Callable[[str], ir.Table]


class CheckBuildError(MillpondError):
    """A declared check could not be built (an unknown column, a missing table...).

    ``loc`` is the check's field path, such as ``("checks", "gold.fct_orders", 3)``,
    for :class:`~millpond.yaml_source.LineMap` to find its line.
    """

    def __init__(self, message: str, loc: tuple[str | int, ...]) -> None:
        super().__init__(message)
        self.loc = loc


class CheckDeclaration(BaseModel):
    """One declared check: a mapping with one key, the check type, to its arguments."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    not_null: NotNullArguments | None = None
    unique: UniqueArguments | None = None
    relationships: RelationshipsArguments | None = None
    accepted_values: AcceptedValuesArguments | None = None
    between: BetweenArguments | None = None
    regex: RegexArguments | None = None
    row_count: RowCountArguments | None = None
    freshness: FreshnessArguments | None = None
    schema_: SchemaArguments | None = Field(default=None, alias="schema")
    sql: SqlArguments | None = None

    @model_validator(mode="before")
    @classmethod
    def _one_check_type(cls, data: Any) -> Any:
        known = ", ".join(ARGUMENTS_BY_TYPE)
        if isinstance(data, str):
            raise ValueError(f"{data!r} needs its arguments: write it as a mapping such as `not_null: [id]`")
        if not isinstance(data, dict):
            raise ValueError(f"a check is a mapping with one key, its type ({known})")
        if len(data) != 1:
            options = sorted(set(data) & set(CheckArguments.model_fields))
            hint = (
                f"; put {', '.join(options)} inside the check's arguments, e.g. "
                "`unique: {columns: [id], severity: warn}`"
                if options
                else ""
            )
            found = ", ".join(map(str, data)) or "none"
            raise ValueError(f"a check is a mapping with exactly one key, its type; found {found}{hint}")
        ((kind, arguments),) = data.items()
        if kind not in ARGUMENTS_BY_TYPE:
            raise ValueError(f"unknown check type {kind!r} (known: {known})")
        if arguments is None:
            raise ValueError(f"{kind} needs arguments, such as {ARGUMENTS_BY_TYPE[kind].example}")
        return data

    @property
    def kind(self) -> str:
        """The check type, as written in YAML (``not_null``, ``schema``...)."""
        return next(kind for kind in ARGUMENTS_BY_TYPE if self.arguments_of(kind) is not None)

    @property
    def arguments(self) -> CheckArguments:
        """The check's arguments."""
        return self.arguments_of(self.kind)

    def arguments_of(self, kind: str) -> CheckArguments | None:
        return getattr(self, "schema_" if kind == "schema" else kind)

    def names(self) -> list[str]:
        """The names of the checks this declaration makes (several for ``not_null``)."""
        arguments = self.arguments
        return [arguments.name] if arguments.name else arguments.default_names()


def _distinct_names(declarations: list[CheckDeclaration]) -> list[CheckDeclaration]:
    seen: dict[str, int] = {}
    for index, declaration in enumerate(declarations):
        for name in declaration.names():
            if name in seen:
                raise ValueError(
                    f"checks [{seen[name]}] and [{index}] are both named {name!r}: remove one or give it another name"
                )
            seen[name] = index
    return declarations


class CheckDeclarations(BaseModel):
    """The ``checks:`` section: a list of checks for each table name."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    checks: dict[
        Annotated[str, Field(min_length=1)],
        Annotated[list[CheckDeclaration], AfterValidator(_distinct_names)],
    ] = {}


def parse_checks(data: dict[str, Any]) -> CheckDeclarations:
    """Validate declarations (``{"checks": {table: [check, ...]}}``, e.g. parsed YAML).

    Raises
    ------
    pydantic.ValidationError
        For an unknown check type or bad arguments; each error's ``loc`` is the path
        of the offending item, such as ``("checks", "gold.fct_orders", 2, "between")``.

    Examples
    --------
    >>> declared = parse_checks({"checks": {"gold.orders": [{"not_null": ["id", "total"]}]}})
    >>> declared.checks["gold.orders"][0].names()
    ['id is not null', 'total is not null']
    """
    return CheckDeclarations.model_validate(data)


def build_checks(
    declarations: CheckDeclarations,
    table_getter: TableGetter,
    con: ibis.BaseBackend | None = None,
    now: datetime.datetime | None = None,
) -> list[Check]:
    """The :class:`~millpond.quality.basic.Check` objects ``declarations`` describe, in order.

    Parameters
    ----------
    declarations
        From :func:`parse_checks`.
    table_getter
        Gives a table by name, e.g. ``ctx.table``; called once per guarded or
        referenced table.
    con
        The backend ``sql`` checks run on.
    now
        The reference time of ``freshness`` checks (see
        :func:`~millpond.quality.builtin.freshness` for the default).

    Raises
    ------
    CheckBuildError
        When a check cannot be built (a missing column, a ``sql`` check without
        ``con``...), naming the check; its ``loc`` is the check's field path.

    Examples
    --------
    >>> import ibis
    >>> orders = ibis.memtable({"id": [1, 1, None]})
    >>> declared = parse_checks({"checks": {"gold.orders": [{"unique": "id"}]}})
    >>> [check.name for check in build_checks(declared, {"gold.orders": orders}.__getitem__)]
    ['id is unique']
    """
    tables: dict[str, ir.Table] = {}

    def table(name: str) -> ir.Table:
        if name not in tables:
            tables[name] = table_getter(name)
        return tables[name]

    checks: list[Check] = []
    for table_name, declared in declarations.checks.items():
        for index, declaration in enumerate(declared):
            names = declaration.names()
            arguments = declaration.arguments
            try:
                guarded = table(table_name)
                expressions = arguments.expressions(guarded, table, con, now)
                checks += [
                    Check(
                        name,
                        table_name,
                        expression,
                        arguments.severity,
                        warn_if=arguments.warn_if,
                        error_if=arguments.error_if,
                        population=guarded if arguments.row_level else None,
                        columns=columns,
                        duplicates=declaration.kind == "unique",
                    )
                    for name, expression, columns in zip(names, expressions, focus(arguments), strict=True)
                ]
            except Exception as error:
                raise CheckBuildError(
                    f"checks.{table_name}[{index}]: {declaration.kind} check {names[0]!r}: {error}",
                    ("checks", table_name, index),
                ) from error
    return checks


def focus(arguments: CheckArguments) -> list[tuple[str, ...]]:
    """The columns each check of ``arguments`` is about, in their names' order: its ``column``,
    or its ``columns`` (one each when it makes a check per column, else all: a key); none
    for a check that does not look at rows.

    >>> focus(parse_checks({"checks": {"t": [{"not_null": ["a", "b"]}]}}).checks["t"][0].arguments)
    [('a',), ('b',)]
    >>> focus(parse_checks({"checks": {"t": [{"unique": ["a", "b"]}]}}).checks["t"][0].arguments)
    [('a', 'b')]
    """
    names = arguments.default_names()
    column, columns = getattr(arguments, "column", None), getattr(arguments, "columns", None)
    if arguments.row_level and isinstance(column, str):
        return [(column,) for _ in names]
    if arguments.row_level and isinstance(columns, list):
        return [(c,) for c in columns] if len(columns) == len(names) else [tuple(columns)]
    return [() for _ in names]
