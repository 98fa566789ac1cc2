"""Run the checks a stage declares, right after it built its tables.

The runner calls :func:`run_stage_checks` once a stage's notebook succeeded. Each
result goes to the metadata store (with a small sample of violating rows); a failed
``error`` check fails the stage, so the stages downstream of its table do not run,
while a ``warn`` is recorded and lets the run go on.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import yaml

from millpond.engines import described_table
from millpond.project import project_of
from millpond.quality.pii import mask_detail, mask_sample
from millpond.secrets import remember_declared
from millpond.settings.pipeline import StageSpec
from millpond.store.metadata import MetadataStore
from millpond.warehouse.sql import split_name
from millpond.workspace import Workspace

if TYPE_CHECKING:
    from millpond.quality.basic import Check


@dataclass
class ChecksOutcome:
    """What the checks of one stage found."""

    passed: int
    warned: list[str]
    failed: list[str]
    results: list[dict] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.failed

    def summary(self) -> str | None:
        """One line for the run log, or ``None`` when every check passed."""
        parts = []
        if self.failed:
            parts.append(f"{len(self.failed)} error check(s) failed: {'; '.join(self.failed)}")
        if self.warned:
            parts.append(f"{len(self.warned)} check(s) warned: {'; '.join(self.warned)}")
        return ", ".join(parts) or None


def run_stage_checks(workspace: Workspace, stage: StageSpec, run_id: str | None, store: MetadataStore) -> ChecksOutcome:
    """Build, run and record the checks ``stage`` declares (as the run loaded them); see the
    module docstring."""
    from millpond.quality.declared import build_checks, parse_checks

    remember_declared(workspace.secret_env())  # a violating row may hold a secret's value: the store masks it
    declarations = parse_checks({"checks": stage.checks})
    warehouse = project_of(workspace).warehouse(f"checks of stage {stage.name} of run {run_id}")
    try:
        con = warehouse.hold()

        def table(name: str):  # this run's staged build of it, if it made one (millpond.warehouse.staging)
            schema, name = split_name(store.staged_location(run_id, name) or name)
            return described_table(con, name, schema)

        now = dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)
        return run_and_record(build_checks(declarations, table, con=con, now=now), workspace, store, run_id, stage.name)
    finally:
        warehouse.close()


def stage_checks_in_child(root: str, stage: str, run_id: str | None) -> dict:
    """:func:`run_stage_checks` for a child of the fork server
    (:func:`millpond.kernels.forkserver.call_forked`): the runner then imports no Ibis. ``stage``
    is the stage's declaration as the run loaded it (:func:`stage_as_yaml`), not read again
    from its file."""

    workspace = Workspace(root)
    spec = StageSpec.model_validate(yaml.safe_load(stage))
    store = project_of(workspace).store()  # as the runner opens it
    return dataclasses.asdict(run_stage_checks(workspace, spec, run_id, store))


def stage_as_yaml(stage: StageSpec) -> str:
    """``stage``'s declaration as YAML text: what the runner hands a process that must act on
    it as the run loaded it (YAML, not JSON, so that dates in check arguments stay dates).

    >>> import datetime as dt, yaml
    >>> s = StageSpec(name="s", notebook="s.ipynb", produces=["gold.t"],
    ...               checks={"gold.t": [{"between": {"column": "d", "min_value": dt.date(2024, 1, 1)}}]})
    >>> StageSpec.model_validate(yaml.safe_load(stage_as_yaml(s))) == s
    True
    """
    return yaml.safe_dump(stage.model_dump(mode="python", exclude_unset=True), sort_keys=False)


def run_and_record(
    checks: Iterable[Check], workspace: Workspace, store: MetadataStore | None, run_id: str | None, stage: str | None
) -> ChecksOutcome:
    """Run ``checks``, store each result (PII masked in the sample) unless ``store`` is None."""
    from millpond.quality.basic import run_all

    results = run_all(checks)
    rows = [
        {
            "table": r.table,
            "check": r.check,
            "severity": r.severity,
            "status": r.status,
            "failing_rows": r.failing_rows,
            "sample": mask_sample(r.sample, workspace.spec.quality),
            "detail": mask_detail(r.detail, workspace.spec.quality),
        }
        for r in results
    ]
    if store is not None:
        store.record_checks(run_id, stage, rows)
    label = lambda r: f"{r.table}: {r.check} ({r.failing_rows:,} rows)"  # noqa: E731
    return ChecksOutcome(
        passed=sum(r.status == "pass" for r in results),
        warned=[label(r) for r in results if r.status == "warn"],
        failed=[label(r) for r in results if r.status == "fail"],
        results=rows,
    )
