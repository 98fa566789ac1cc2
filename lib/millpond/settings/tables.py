"""What a stage declares about one table it produces (``tables:`` in a pipeline file),
as pydantic models: evolution policy, contract, volume guard, retention, lake publishing,
data product and catalog fields.

Example::

    - name: build_fct_orders
      notebook: notebooks/gold/33_build_fct_orders.ipynb
      produces: [gold.fct_orders]
      tables:
        gold.fct_orders:
          on_schema_change: append_new_columns
          retain: 5
          description: One row per order, in the shop's currency.
          owner: sales-analytics
          tags: [finance]
          primary_key: [order_id]          # or the contract's primary_key
          contract: {not_null: [order_id], primary_key: [order_id]}
          volume: {min_rows: 1, max_drop: 0.5}
          publish: {format: delta, partition_by: [order_date]}
          product: {sla: 24h}
          columns:
            net_amount: {description: after discounts, before tax, tags: [finance]}

What the fields do is the business of the modules that act on them:
:mod:`millpond.warehouse.evolution` (``on_schema_change``),
:mod:`millpond.warehouse.contracts`, :mod:`millpond.warehouse.audit` (``volume``),
:mod:`millpond.warehouse.versions` (``retain``), :mod:`millpond.warehouse.lake`
(``publish``), :mod:`millpond.pipeline.products` (``product``) and the catalog.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError, field_validator, model_validator

from millpond.errors import MillpondError

QUARANTINE_LAYER = "quarantine"
"""The layer (schema) of quarantine tables."""

_PLAIN_DTYPE = re.compile(
    r"!?(boolean|bool|u?int(8|16|32|64)|float(16|32|64)|string|binary|date|time|json|uuid|inet|macaddr|null"
    r"|decimal(\(\d+,\d+\))?|timestamp(\(\d\))?|interval\('?(second|minute|hour|day|week|month|year)'?\))"
)
"""Type names Ibis certainly parses (checked in tests); a spec's contract is validated
without importing Ibis when every type is one of them."""


def parse_dtype(spelled: str, column: str):
    """The Ibis dtype spelled ``spelled``; a ``ValueError`` naming ``column`` if none.

    >>> parse_dtype("decimal(18, 2)", "amount")
    Decimal(precision=18, scale=2, nullable=True)
    >>> parse_dtype("integr", "id")
    Traceback (most recent call last):
    ...
    ValueError: column 'id': 'integr' is not an Ibis type (such as int64, float64, string, date, timestamp, decimal(18, 2))
    """
    import ibis  # 0.4 s: only for a type outside _PLAIN_DTYPE, or when a build compares types

    try:
        return ibis.dtype(spelled)
    except Exception:
        raise ValueError(
            f"column {column!r}: {spelled!r} is not an Ibis type "
            "(such as int64, float64, string, date, timestamp, decimal(18, 2))"
        ) from None


class Contract(BaseModel):
    """A table's promised shape.

    >>> Contract.model_validate({"columns": {"id": "int64"}, "primary_key": ["id"]}).primary_key
    ['id']
    """

    model_config = ConfigDict(extra="forbid")

    columns: dict[str, str] | None = None
    not_null: list[str] = []
    primary_key: list[str] = []

    @field_validator("columns")
    @classmethod
    def _types_parse(cls, columns: dict[str, str] | None) -> dict[str, str] | None:
        for column, spelled in (columns or {}).items():
            if not _PLAIN_DTYPE.fullmatch(spelled.replace(" ", "")):  # anything else: ask Ibis (0.4 s to import)
                parse_dtype(spelled, column)
        return columns

    @model_validator(mode="after")
    def _names_are_columns(self) -> Contract:
        if self.columns is not None:
            unknown = [c for c in [*self.not_null, *self.primary_key] if c not in self.columns]
            if unknown:
                raise ValueError(f"not_null/primary_key name column(s) not in columns: {', '.join(unknown)}")
        return self


def parse_contract(value: Contract | dict[str, Any] | None, name: str) -> Contract | None:
    """A :class:`Contract` from a declaration, or one line naming the table and the bad field.

    >>> parse_contract({"columns": {"id": "integr"}}, "gold.t")
    Traceback (most recent call last):
    ...
    millpond.errors.MillpondError: contract of gold.t: columns: column 'id': 'integr' is not an Ibis type (such as int64, float64, string, date, timestamp, decimal(18, 2))
    """
    if value is None or isinstance(value, Contract):
        return value
    try:
        return Contract.model_validate(value)
    except ValidationError as invalid:
        error = invalid.errors()[0]
        where = ".".join(str(p) for p in error["loc"]) or "contract"
        message = str(error["msg"]).removeprefix("Value error, ")
        raise MillpondError(f"contract of {name}: {where}: {message}") from None


class VolumeGuard(BaseModel):
    """``volume:`` of a table: how few rows, and how sudden a drop, a build may bring.

    >>> VolumeGuard.model_validate({"min_rows": 1, "max_drop": 0.5}).max_drop
    0.5
    """

    model_config = ConfigDict(extra="forbid")

    min_rows: int = Field(default=0, ge=0, description="the fewest rows a build may have")
    max_drop: float | None = Field(
        default=None, gt=0, le=1, description="the largest share of the replaced table's rows a build may lose"
    )
    allow_empty: bool = Field(default=False, description="an empty build may replace a table that has rows")


def default_volume_guard(name: str) -> VolumeGuard:
    """The guard of a table that declares none: no empty build over a non-empty table,
    except in the ``quarantine`` layer.

    >>> default_volume_guard("silver.orders").allow_empty, default_volume_guard("quarantine.orders").allow_empty
    (False, True)
    """
    return VolumeGuard(allow_empty=name.split(".")[0] == QUARANTINE_LAYER)


class PublishSpec(BaseModel):
    """How a table is published to the lake (``publish:`` under a stage's ``tables:``).

    >>> PublishSpec.model_validate({"partition_by": ["order_date"], "format": "delta"}).compression
    'zstd'
    """

    model_config = ConfigDict(extra="forbid")

    format: Literal["parquet", "delta"] = Field(
        default="parquet", description="plain Parquet snapshots or a Delta table"
    )
    partition_by: list[str] = Field(default=[], description="Hive partition columns (integer, string, date or boolean)")
    compression: Literal["zstd", "snappy", "gzip", "lz4", "brotli", "none"] = "zstd"
    compression_level: int | None = Field(default=None, description="the codec's level; its default when unset")
    row_group_size: int = Field(
        default=122_880, gt=0, description="rows per Parquet row group (the last may be smaller)"
    )


DOMAIN = r"^[a-z][a-z0-9_-]*$"
"""What a domain may be called."""
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhd])\s*$")


def parse_duration(value: str | float | int) -> float:
    """Seconds in ``value``: a number of seconds, or a number with ``s``, ``m``, ``h`` or ``d``.

    >>> parse_duration("24h"), parse_duration("30m"), parse_duration("1.5d"), parse_duration(90)
    (86400.0, 1800.0, 129600.0, 90.0)
    """
    if isinstance(value, bool):
        raise ValueError(f"{value!r} is not a duration")
    if isinstance(value, (int, float)):
        seconds = float(value)
    else:
        match = _DURATION.match(str(value))
        if not match:
            raise ValueError(f"{value!r} is not a duration such as 90s, 30m, 24h or 7d")
        seconds = float(match.group(1)) * _UNITS[match.group(2)]
    if seconds <= 0:
        raise ValueError(f"{value!r}: a duration must be positive")
    return seconds


class ProductSpec(BaseModel):
    """A table published as a data product: its freshness SLA and whether checks must pass.

    >>> ProductSpec.model_validate({"sla": "24h"}).sla_seconds
    86400.0
    """

    model_config = ConfigDict(extra="forbid")

    sla: str | float | None = Field(
        default=None, description="the longest age of the latest build consumers accept (90s, 30m, 24h, 7d)"
    )
    checks_must_pass: bool = Field(default=True, description="not ready while a check of the latest run failed")

    @field_validator("sla")
    @classmethod
    def _sla_is_a_duration(cls, value: str | float | None) -> str | float | None:
        if value is not None:
            parse_duration(value)
        return value

    @property
    def sla_seconds(self) -> float | None:
        return None if self.sla is None else parse_duration(self.sla)


SchemaChangePolicy = Literal["fail", "append_new_columns", "sync_all_columns", "quarantine"]
Kind = Literal["table", "view", "incremental", "materialized_view"]
Strategy = Literal["append", "merge", "delete+insert"]
TAG = r"^[A-Za-z0-9][A-Za-z0-9_.:-]*$"
Tag = Annotated[str, StringConstraints(pattern=TAG)]


class ColumnDoc(BaseModel):
    """What the catalog says about one column: a description and tags such as ``pii``.

    >>> ColumnDoc.model_validate({"description": "where receipts go", "tags": ["pii"]}).tags
    ['pii']
    """

    model_config = ConfigDict(extra="forbid")

    description: str = ""
    tags: list[Tag] = []
    nulls_expected: bool = Field(
        default=False,
        description="its nulls are by design (a type 2 dimension's valid_to on current rows): the quality "
        "report does not draw them as a warning and monitors do not watch its null rate",
    )


class TableSpec(BaseModel):
    """What a stage declares about one table it produces.

    >>> TableSpec.model_validate({"retain": 2}).retain
    2
    """

    model_config = ConfigDict(extra="forbid")

    kind: Kind | None = Field(
        default=None,
        description="how ctx.materialize builds it (default table); an argument of the notebook overrides it",
    )
    strategy: Strategy | None = Field(default=None, description="an incremental table's strategy (default append)")
    unique_key: list[str] | None = Field(default=None, description="an incremental table's key: merge upserts on it")
    watermark: str | None = Field(default=None, description="the column whose max - lookback decides what is new")
    partition_by: str | None = Field(default=None, description="the column whose partitions delete+insert replaces")
    lookback: str | None = Field(
        default=None,
        pattern=r"^\s*\d+\s*[wdhms]\s*$",
        description="how far behind the watermark rows may arrive, e.g. 3d",
    )
    propagate_deletes: bool | None = Field(
        default=None,
        description="an incremental table's rows whose unique_key the full expression no longer has "
        "(deleted upstream, or held in quarantine) are deleted with each build",
    )
    on_schema_change: SchemaChangePolicy | None = Field(
        default=None, description="what a change of columns or types does (see warehouse/evolution.py)"
    )
    contract: Contract | None = Field(
        default=None, description="columns, types, not-null and primary key enforced before the swap"
    )
    volume: VolumeGuard | None = Field(
        default=None, description="min_rows, max_drop, allow_empty: audited before the swap (warehouse/audit.py)"
    )
    retain: int | None = Field(default=None, ge=1, description="versions of the table kept for time travel")
    publish: PublishSpec | None = Field(default=None, description="also publish the table to the lake")
    description: str = Field(default="", description="what one row is, for the catalog")
    owner: str | None = Field(default=None, description="who answers for the table (a team or a person)")
    tags: list[Tag] = Field(default=[], description="labels such as pii or finance; `millpond catalog --tag`")
    primary_key: list[str] = Field(
        default=[], description="the key columns (documented, not enforced: a contract enforces)"
    )
    columns: dict[str, ColumnDoc] = Field(default={}, description="descriptions and tags per column")
    product: ProductSpec | None = Field(
        default=None, description="publish as a data product of the stage's domain (docs/products.md)"
    )

    @property
    def nulls_expected(self) -> set[str]:
        """The columns declared with ``nulls_expected: true``."""
        return {name for name, column in self.columns.items() if column.nulls_expected}

    @field_validator("unique_key", mode="before")
    @classmethod
    def _key_as_list(cls, value: Any) -> Any:
        return [value] if isinstance(value, str) else value

    @model_validator(mode="after")
    def _incremental_settings(self) -> TableSpec:
        incremental = ("strategy", "watermark", "partition_by", "lookback", "propagate_deletes")
        given = [f for f in incremental if getattr(self, f) is not None]
        if given and self.kind not in ("incremental", "materialized_view", None):
            raise ValueError(f"{', '.join(given)} only apply to kind incremental, not {self.kind}")
        needs = {
            "merge": ("unique_key", "merge upserts on unique_key"),
            "delete+insert": ("partition_by", "delete+insert replaces the partitions of partition_by"),
        }
        if self.strategy in needs and not getattr(self, needs[self.strategy][0]):
            raise ValueError(f"strategy {self.strategy} needs {needs[self.strategy][0]} ({needs[self.strategy][1]})")
        return self

    @model_validator(mode="after")
    def _one_primary_key(self) -> TableSpec:
        enforced = self.contract.primary_key if self.contract else []
        if self.primary_key and enforced and self.primary_key != enforced:
            raise ValueError(
                f"primary_key {self.primary_key} differs from contract.primary_key {enforced}; declare it once"
            )
        return self

    @property
    def key(self) -> list[str]:
        """The declared primary key, or the contract's.

        >>> TableSpec.model_validate({"contract": {"primary_key": ["id"]}}).key
        ['id']
        """
        return self.primary_key or (self.contract.primary_key if self.contract else [])

    def volume_guard(self, name: str) -> VolumeGuard:
        """The declared ``volume:``, or the default guard of table ``name``.

        >>> TableSpec().volume_guard("silver.orders")
        VolumeGuard(min_rows=0, max_drop=None, allow_empty=False)
        """
        return self.volume or default_volume_guard(name)

    def declared_columns(self) -> list[str]:
        """Every column the catalog fields name (``columns`` then ``primary_key``), once each."""
        return list(dict.fromkeys([*self.columns, *self.primary_key]))

    def missing_columns(self, built: list[str]) -> list[str]:
        """Declared columns that are not among ``built``.

        >>> TableSpec.model_validate({"columns": {"id": {}, "emial": {}}}).missing_columns(["id", "email"])
        ['emial']
        """
        have = set(built)
        return [c for c in self.declared_columns() if c not in have]

    def check_columns(self, name: str, built: list[str]) -> None:
        """Raise one line naming table ``name`` and a declared column it does not build.

        >>> TableSpec.model_validate({"columns": {"emial": {}}}).check_columns("gold.t", ["id", "email"])
        Traceback (most recent call last):
        ...
        millpond.errors.MillpondError: gold.t: declared column 'emial' is not built (columns: id, email); fix `tables: gold.t:` in the pipeline spec or the expression; the previous version stays
        """
        missing = self.missing_columns(built)
        if missing:
            which = ", ".join(repr(c) for c in missing)
            raise MillpondError(
                f"{name}: declared column{'s' if len(missing) > 1 else ''} {which} "
                f"{'are' if len(missing) > 1 else 'is'} not built (columns: {', '.join(built)}); "
                f"fix `tables: {name}:` in the pipeline spec or the expression; the previous version stays"
            )
