"""``millpond.yml`` as pydantic models: folders, secrets, execution, resources, versions,
compaction, alerts and quality settings of a workspace.

>>> WorkspaceSpec.model_validate({"versions": {"retain": 5}}).versions.retain
5
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from millpond.settings.alerts import AlertsSpec
from millpond.settings.quality import QualitySpec
from millpond.settings.values import MAX_TIMEOUT, WorkspacePath


class Folders(BaseModel):
    """Where things live, relative to the workspace root."""

    model_config = ConfigDict(extra="forbid")

    raw: WorkspacePath = "data/raw"
    runs: WorkspacePath = "data/runs"
    reports: WorkspacePath = "data/reports"
    meta: WorkspacePath = "data/.millpond"
    pipelines: WorkspacePath = "pipelines"
    notebooks: WorkspacePath = "notebooks"
    lib: WorkspacePath = "lib"
    """The workspace's own Python modules (its transforms), importable by its stages."""


class SecretSpec(BaseModel):
    """A secret is a reference to an environment variable, never a value."""

    model_config = ConfigDict(extra="forbid")

    env: str = Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")


class ExecutionSpec(BaseModel):
    """How stage notebooks are executed (``execution:`` in ``millpond.yml``)."""

    model_config = ConfigDict(extra="forbid")

    engine: Literal["warm", "papermill"] = Field(
        default="warm",
        description="warm: each stage's kernel is forked from one process that imported everything once "
        "(millpond.kernels.forkserver); papermill: a fresh `python -m ipykernel_launcher` per stage",
    )
    keep_warm: float = Field(
        default=600,
        ge=0,
        le=MAX_TIMEOUT,
        allow_inf_nan=False,
        description="seconds (at most a week) the warm engine's fork server outlives a run, to serve the next one without "
        "importing everything again (0: one server per run; MILLPOND_KEEP_WARM overrides)",
    )
    preload: list[str] = Field(
        default_factory=list,
        description="modules the warm engine imports once, before forking stage kernels: the workspace's own "
        "library (millpond's modules and Ibis, pandas, DuckDB are always preloaded)",
    )


class ResourcesSpec(BaseModel):
    """What the embedded DuckDB warehouse may use (``resources:`` in ``millpond.yml``).

    Unset values keep DuckDB's defaults (every core, 80 % of the memory, spilling next to
    the database file). Each run records the settings it ran with (``millpond runs RUN_ID``).
    """

    model_config = ConfigDict(extra="forbid")

    threads: int | None = Field(default=None, gt=0, le=1024, description="worker threads of a DuckDB connection")
    memory_limit: str | None = Field(
        default=None,
        pattern=r"^\d+(\.\d+)?\s*(B|KB|KiB|MB|MiB|GB|GiB|TB|TiB)$",
        description="the most memory DuckDB uses before spilling, e.g. 2GB",
    )
    temp_directory: WorkspacePath | None = Field(
        default=None, description="where DuckDB spills (relative to the workspace)"
    )

    def engine_config(self, workspace_root: Path) -> dict[str, Any]:
        """The settings as DuckDB connection options.

        >>> ResourcesSpec(threads=2, memory_limit="2GB", temp_directory="data/tmp").engine_config(Path("/ws"))
        {'threads': 2, 'memory_limit': '2GB', 'temp_directory': '/ws/data/tmp'}
        """
        config: dict[str, Any] = {}
        if self.threads is not None:
            config["threads"] = self.threads
        if self.memory_limit is not None:
            config["memory_limit"] = self.memory_limit.replace(" ", "")
        if self.temp_directory is not None:
            config["temp_directory"] = str(workspace_root / self.temp_directory)
        return config


class VersionsSpec(BaseModel):
    """``versions:`` in ``millpond.yml``.

    >>> VersionsSpec().retain
    3
    """

    model_config = ConfigDict(extra="forbid")

    retain: int = Field(default=3, ge=1, description="versions kept per table, the live one included")


class CompactionSpec(BaseModel):
    """``compaction:`` in ``millpond.yml``.

    >>> CompactionSpec().waste
    0.3
    """

    model_config = ConfigDict(extra="forbid")

    auto: bool = Field(default=True, description="compact at the end of a run when the thresholds are passed")
    waste: float = Field(default=0.3, gt=0, lt=1, description="share of the file that is free space")
    min_size_mb: float = Field(
        default=64, ge=0, allow_inf_nan=False, description="smaller files are never compacted automatically"
    )


class WorkspaceSpec(BaseModel):
    """The contents of ``millpond.yml``."""

    model_config = ConfigDict(extra="forbid")

    name: str = "millpond"
    description: str = ""
    warehouse: str | None = None
    """The warehouse URL (any Ibis URL); unset: the embedded default (``millpond.engines.DEFAULT_URL``)."""
    folders: Folders = Folders()
    params: dict[str, Any] = {}
    secrets: dict[str, SecretSpec] = {}
    alerts: AlertsSpec = AlertsSpec()
    quality: QualitySpec = QualitySpec()
    versions: VersionsSpec = VersionsSpec()
    compaction: CompactionSpec = CompactionSpec()
    execution: ExecutionSpec = ExecutionSpec()
    resources: ResourcesSpec = ResourcesSpec()
    generator: str | None = Field(default=None, pattern=r"^[A-Za-z_][\w.]*:[A-Za-z_]\w*$")
    """``module:function`` of the workspace's sample-data generator, run by ``millpond generate``."""

    @field_validator("warehouse")
    @classmethod
    def _has_scheme(cls, value: str | None) -> str | None:
        if value is not None and "://" not in value:
            raise ValueError(f"warehouse must be an Ibis URL (scheme://...), got {value!r}")
        return value
