"""Per-table options a stage declares in the pipeline spec, under ``tables:``.

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
          columns:
            net_amount: {description: after discounts, before tax, tags: [finance]}

A key must be one of the stage's ``produces``. The catalog fields (``description``,
``owner``, ``tags``, ``primary_key``, ``columns``) document the table for
``millpond catalog``; every column they name must be built: :meth:`TableSpec.check_columns`
runs in ``materialize()`` before anything is built, and ``millpond validate`` compares
them with the latest recorded schema. :func:`declared_table_spec` finds a
table's options from any pipeline of the workspace, cheaply (YAML only, no notebook
inspection), so a notebook run from JupyterLab honours them as the runner does.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

from millpond.errors import MillpondError
from millpond.warehouse.audit import VolumeGuard, default_volume_guard
from millpond.warehouse.contracts import Contract
from millpond.pipeline.products import ProductSpec
from millpond.warehouse.lake import PublishSpec

if TYPE_CHECKING:
    from millpond.workspace import Workspace

SchemaChangePolicy = Literal["fail", "append_new_columns", "sync_all_columns", "quarantine"]
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


class TableSpec(BaseModel):
    """What a stage declares about one table it produces.

    >>> TableSpec.model_validate({"retain": 2}).retain
    2
    """

    model_config = ConfigDict(extra="forbid")

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
    primary_key: list[str] = Field(default=[], description="the key columns (documented, not enforced: a contract enforces)")
    columns: dict[str, ColumnDoc] = Field(default={}, description="descriptions and tags per column")
    product: ProductSpec | None = Field(
        default=None, description="publish as a data product of the stage's domain (docs/products.md)"
    )

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


def declared_table_spec(workspace: Workspace, name: str, pipeline: str | None = None) -> TableSpec:
    """The options declared for table ``name``: from ``pipeline`` first, then any pipeline.

    An empty :class:`TableSpec` when no stage declares ``name`` under ``tables:``.
    Files that do not parse are passed over here: validation reports them.
    """
    files = workspace.pipeline_files()
    if pipeline:
        files.sort(key=lambda f: f.stem != pipeline)
    for path in files:
        declared = _tables_in(path).get(name)
        if declared is not None:
            return TableSpec.model_validate(declared)
    return TableSpec()


def declared_checks(workspace: Workspace, name: str, pipeline: str | None = None) -> list[Any]:
    """The checks declared for table ``name`` under a stage's ``checks:`` (YAML mappings),
    from ``pipeline`` first, then any pipeline; empty when none."""
    files = workspace.pipeline_files()
    if pipeline:
        files.sort(key=lambda f: f.stem != pipeline)
    for path in files:
        declared = _blocks_in(path)[1].get(name)
        if isinstance(declared, list):
            return declared
    return []


_CACHE: dict[Path, tuple[int, tuple[dict[str, Any], dict[str, Any]]]] = {}


def _tables_in(path: Path) -> dict[str, Any]:
    """``{table: options}`` over the stages of one pipeline file (cached by mtime)."""
    return _blocks_in(path)[0]


def _blocks_in(path: Path) -> tuple[dict[str, Any], dict[str, Any]]:
    """``({table: options}, {table: checks})`` over the stages of one pipeline file (cached by mtime)."""
    from millpond.errors import SpecError
    from millpond.yaml_source import load_yaml

    mtime = path.stat().st_mtime_ns
    cached = _CACHE.get(path)
    if cached and cached[0] == mtime:
        return cached[1]
    try:  # the spec reader: bounded on hostile files, merge keys as in validation
        data, _ = load_yaml(path)
    except SpecError:
        data = {}
    if not isinstance(data, dict):
        data = {}
    found: tuple[dict[str, Any], dict[str, Any]] = ({}, {})
    for stage in (data.get("stages") or []) if isinstance(data, dict) else []:
        for block, into in (("tables", found[0]), ("checks", found[1])):
            if isinstance(stage, dict) and isinstance(stage.get(block), dict):
                for table, options in stage[block].items():
                    into.setdefault(table, options if options is not None else ({} if block == "tables" else []))
    _CACHE[path] = (mtime, found)
    return found
