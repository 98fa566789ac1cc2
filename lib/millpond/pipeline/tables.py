"""Per-table options a stage declares in the pipeline spec, under ``tables:``.

Example::

    - name: build_fct_orders
      notebook: notebooks/gold/33_build_fct_orders.ipynb
      produces: [gold.fct_orders]
      tables:
        gold.fct_orders:
          on_schema_change: append_new_columns
          retain: 5

A key must be one of the stage's ``produces``. :func:`declared_table_spec` finds a
table's options from any pipeline of the workspace, cheaply (YAML only, no notebook
inspection), so a notebook run from JupyterLab honours them as the runner does.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from millpond.warehouse.contracts import Contract
from millpond.warehouse.lake import PublishSpec

if TYPE_CHECKING:
    from millpond.workspace import Workspace

SchemaChangePolicy = Literal["fail", "append_new_columns", "sync_all_columns", "quarantine"]


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
    retain: int | None = Field(default=None, ge=1, description="versions of the table kept for time travel")
    publish: PublishSpec | None = Field(default=None, description="also publish the table to the lake")


def declared_table_spec(workspace: Workspace, name: str, pipeline: str | None = None) -> TableSpec:
    """The options declared for table ``name``: from ``pipeline`` first, then any pipeline.

    An empty :class:`TableSpec` when no stage declares ``name`` under ``tables:``.
    Files that do not parse are passed over here: validation reports them.
    """
    files = sorted(workspace.pipelines_dir.glob("*.yml")) if workspace.pipelines_dir.is_dir() else []
    if pipeline:
        files.sort(key=lambda f: f.stem != pipeline)
    for path in files:
        declared = _tables_in(path).get(name)
        if declared is not None:
            return TableSpec.model_validate(declared)
    return TableSpec()


_CACHE: dict[Path, tuple[int, dict[str, Any]]] = {}


def _tables_in(path: Path) -> dict[str, Any]:
    """``{table: options}`` over the stages of one pipeline file (cached by mtime)."""
    import yaml

    mtime = path.stat().st_mtime_ns
    cached = _CACHE.get(path)
    if cached and cached[0] == mtime:
        return cached[1]
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except (OSError, yaml.YAMLError):
        data = {}
    found: dict[str, Any] = {}
    for stage in data.get("stages") or []:
        if isinstance(stage, dict) and isinstance(stage.get("tables"), dict):
            for table, options in stage["tables"].items():
                found.setdefault(table, options or {})
    _CACHE[path] = (mtime, found)
    return found
