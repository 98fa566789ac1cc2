"""The pipeline spec (``pipelines/<name>.yml``) as pydantic models.

Example::

    name: shop
    params:
      run_date: {type: date, default: 2024-01-31}
    defaults: {timeout: 600, retries: 1}
    stages:
      - name: ingest_orders
        notebook: notebooks/bronze/10_ingest_orders.ipynb
        reads: [data/raw/orders.csv]
        produces: [bronze.orders]
      - name: clean_orders
        notebook: notebooks/silver/20_clean_orders.ipynb
        needs: [ingest_orders]
        produces: [silver.orders]

Stages may share settings through YAML anchors and merge keys: keys written in the stage
win over merged ones, and of a list (``<<: [*slow, *defaults]``) the first mapping wins::

    defaults: &defaults {timeout: 600, retries: 1, retry_backoff: 2}
    stages:
      - name: render_report
        notebook: notebooks/reports/50_render_shop_report.ipynb
        <<: *defaults
        retries: 0

Durations are bounded (a stage ``timeout`` of at most a week, a ``retry_backoff`` of at
most an hour, neither ``.inf`` nor ``.nan``), and ``notebook`` and ``reads`` must be
paths and globs the system can use (:mod:`millpond.settings.values`).

What starts a run under ``millpond watch`` is the ``watch:`` block (files landing, a
schedule: :mod:`millpond.settings.watch`) and a stage's ``on_stream`` (a stream's output advancing).

Only structure and types are checked here; :mod:`millpond.pipeline.load` checks
what needs the whole file or the notebooks (cycles, unknown ``needs``, parameters).
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

from millpond.settings.params import ParamType, coerce
from millpond.settings.sources import SourceSpec
from millpond.settings.streams import StreamSpec
from millpond.settings.tables import DOMAIN, TableSpec
from millpond.settings.values import MAX_BACKOFF, MAX_TIMEOUT, GlobPattern, WorkspacePath
from millpond.settings.watch import WatchSpec

IDENTIFIER = r"^[A-Za-z_][A-Za-z0-9_]*$"
TABLE_NAME = r"^[A-Za-z_][A-Za-z0-9_]*\.[A-Za-z_][A-Za-z0-9_]*$"
LAYER_OR_TABLE = r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)?$"


class ParamSpec(BaseModel):
    """A typed pipeline parameter with its default."""

    model_config = ConfigDict(extra="forbid")

    type: ParamType
    default: Any = None
    description: str = ""

    @model_validator(mode="after")
    def _default_has_type(self) -> ParamSpec:
        if self.default is not None:
            self.default = coerce(self.default, self.type)
        return self


class RetryPolicy(BaseModel):
    """Timeout and retries of a stage; unset fields fall back to the pipeline's defaults."""

    model_config = ConfigDict(extra="forbid")

    timeout: float | None = Field(
        default=None,
        gt=0,
        le=MAX_TIMEOUT,
        allow_inf_nan=False,
        description="seconds for the whole stage (at most a week)",
    )
    retries: int | None = Field(default=None, ge=0, le=10)
    retry_backoff: float | None = Field(
        default=None,
        ge=0,
        le=MAX_BACKOFF,
        allow_inf_nan=False,
        description="first wait in seconds (at most an hour); doubles",
    )


class StageSpec(RetryPolicy):
    """One stage: a notebook, its parameters, what it needs, reads and produces."""

    name: str = Field(pattern=IDENTIFIER)
    notebook: WorkspacePath
    description: str = ""
    domain: str | None = Field(default=None, pattern=DOMAIN, description="the stage's domain (default: the pipeline's)")
    params: dict[str, Any] = {}
    needs: list[str] = []
    reads: list[GlobPattern] = []
    produces: list[str] = []
    checks: dict[str, list[Any]] = Field(
        default={}, description="checks per produced table (see millpond.quality.declared); validated in load.py"
    )
    tables: dict[str, TableSpec] = Field(
        default={}, description="options per produced table: schema change policy, contract, retention, lake"
    )
    trigger: Literal["all_success", "all_done"] = Field(
        default="all_success",
        description="all_success: run when every needed stage succeeded (or was skipped); "
        "all_done: run once they all finished, whatever their outcome (a report on a failed run)",
    )
    on_stream: str | None = Field(
        default=None,
        pattern=IDENTIFIER,
        description="a stream: millpond watch runs this stage (as run --stage does) when the stream's output "
        "advances (its row of _millpond.stream_progress)",
    )

    @model_validator(mode="after")
    def _table_names(self) -> StageSpec:
        for table in self.produces:
            if not re.match(TABLE_NAME, table):
                raise ValueError(f"produces: {table!r} is not a table name of the form layer.table")
        for table in self.tables:
            if table not in self.produces:
                raise ValueError(f"tables: {table!r} is not among this stage's produces ({', '.join(self.produces)})")
        return self


class PipelineSpec(BaseModel):
    """The whole pipeline file."""

    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(default=None, pattern=IDENTIFIER)
    description: str = ""
    domain: str | None = Field(default=None, pattern=DOMAIN, description="the domain of stages that name none")
    params: dict[str, ParamSpec] = {}
    defaults: RetryPolicy = RetryPolicy()
    publish_together: list[Annotated[str, StringConstraints(pattern=LAYER_OR_TABLE)]] = Field(
        default=["gold"],
        description="layers or tables a run publishes together, or not at all (run/publish_together.py)",
    )
    sources: dict[Annotated[str, StringConstraints(pattern=IDENTIFIER)], SourceSpec] = Field(
        default={}, description="sources by name: what ctx.load(name) loads, and into which table (millpond.sources)"
    )
    streams: dict[Annotated[str, StringConstraints(pattern=IDENTIFIER)], StreamSpec] = Field(
        default={}, description="streams by name: what millpond stream run NAME processes (millpond.streams)"
    )
    watch: WatchSpec | None = Field(
        default=None, description="what starts a run under millpond watch: files landing, a schedule"
    )
    stages: list[StageSpec] = Field(min_length=1)

    def stage(self, name: str) -> StageSpec:
        """The stage called ``name``."""
        for s in self.stages:
            if s.name == name:
                return s
        raise KeyError(name)

    def policy(self, stage: StageSpec) -> tuple[float | None, int, float]:
        """Effective ``(timeout, retries, retry_backoff)`` of ``stage``."""
        timeout = stage.timeout if stage.timeout is not None else self.defaults.timeout
        retries = stage.retries if stage.retries is not None else (self.defaults.retries or 0)
        backoff = stage.retry_backoff if stage.retry_backoff is not None else self.defaults.retry_backoff
        return timeout, retries, 1.0 if backoff is None else backoff
