"""Every settings model of millpond, at the bottom of the layers: ``millpond.yml``
(:mod:`~millpond.settings.workspace`), a pipeline file (:mod:`~millpond.settings.pipeline`),
the declarations of a table (:mod:`~millpond.settings.tables`), quality and alert settings,
typed parameters and the value types the spec files share.

The models import only pydantic and :mod:`millpond.errors` (Ibis only to check a type it
alone knows), so every layer above may use them and none of them reaches up. Loading
files into these models is :class:`millpond.workspace.Workspace`'s and
:mod:`millpond.pipeline.load`'s business.

>>> from millpond.settings import PipelineSpec
>>> PipelineSpec.model_validate({"stages": [{"name": "a", "notebook": "a.ipynb"}]}).stages[0].trigger
'all_success'
"""

from millpond.settings.alerts import AlertsSpec
from millpond.settings.pipeline import ParamSpec, PipelineSpec, RetryPolicy, StageSpec
from millpond.settings.quality import MonitorsSpec, QualitySpec
from millpond.settings.tables import ColumnDoc, Contract, ProductSpec, PublishSpec, TableSpec, VolumeGuard
from millpond.settings.workspace import (
    CompactionSpec,
    ExecutionSpec,
    Folders,
    ResourcesSpec,
    SecretSpec,
    VersionsSpec,
    WorkspaceSpec,
)

__all__ = [
    "AlertsSpec",
    "ColumnDoc",
    "CompactionSpec",
    "Contract",
    "ExecutionSpec",
    "Folders",
    "MonitorsSpec",
    "ParamSpec",
    "PipelineSpec",
    "ProductSpec",
    "PublishSpec",
    "QualitySpec",
    "ResourcesSpec",
    "RetryPolicy",
    "SecretSpec",
    "StageSpec",
    "TableSpec",
    "VersionsSpec",
    "VolumeGuard",
    "WorkspaceSpec",
]
