"""Run the checks a stage declares, right after it built its tables.

The runner calls :func:`run_stage_checks` once a stage's notebook succeeded. Each
result goes to the metadata store (with a small sample of violating rows); a failed
``error`` check fails the stage, so the stages downstream of its table do not run,
while a ``warn`` is recorded and lets the run go on.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from millpond.pipeline.spec import StageSpec
from millpond.quality.pii import mask_sample
from millpond.store.metadata import MetadataStore
from millpond.warehouse.connect import Warehouse
from millpond.warehouse.materialize import split_name
from millpond.workspace import Workspace


@dataclass
class ChecksOutcome:
    """What the checks of one stage found."""

    passed: int
    warned: list[str]
    failed: list[str]

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
    """Build, run and record the checks ``stage`` declares; see the module docstring."""
    from millpond.quality.basic import run_check
    from millpond.quality.declared import build_checks, parse_checks

    declarations = parse_checks({"checks": stage.checks})
    warehouse = Warehouse(workspace, f"checks of stage {stage.name} of run {run_id}")
    try:
        con = warehouse.hold()

        def table(name: str):
            schema, name = split_name(name)
            return con.table(name, database=schema)

        now = dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)
        results = [run_check(check) for check in build_checks(declarations, table, con=con, now=now)]
    finally:
        warehouse.close()
    pii = workspace.spec.quality
    store.record_checks(run_id, stage.name, [
        {"table": r.table, "check": r.check, "severity": r.severity, "status": r.status,
         "failing_rows": r.failing_rows, "sample": mask_sample(r.sample, pii)}
        for r in results
    ])
    label = lambda r: f"{r.table}: {r.check} ({r.failing_rows:,} rows)"  # noqa: E731
    return ChecksOutcome(
        passed=sum(r.status == "pass" for r in results),
        warned=[label(r) for r in results if r.status == "warn"],
        failed=[label(r) for r in results if r.status == "fail"],
    )
