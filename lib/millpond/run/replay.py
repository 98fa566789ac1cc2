"""``millpond quarantine TABLE --replay``: re-process held rows after a fix.

A silver stage rebuilds its clean table and its quarantine table together, from the
whole of its input, in one run, each by an atomic swap. Replaying therefore means:
rerun the stage that produces ``quarantine.<table>`` (and everything downstream of
it) with the rules as they are now, and account for the rows:

- *released*: held before the replay, not held after it; they are now in the clean
  table, once, because the clean table is rebuilt, never appended to;
- *still held*: held before and after (their reason may have changed);
- *newly held*: held now but not before (a stricter rule).

Rows are compared by their raw columns (everything but ``reason``, ``_run_id`` and
``_quarantined_at``, and the load's time ``_loaded_at``: a file loaded again since the rows
were held holds the same records), as multisets, so two identical raw rows count twice. The
replay is an ordinary run in ``millpond runs``; if it fails, the previous tables stay.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

import pyarrow as pa

from millpond.errors import MillpondError
from millpond.project import project_of
from millpond.quality.quarantine import quarantine_name
from millpond.run.runner import Runner, RunOptions
from millpond.warehouse.sql import split_name
from millpond.workspace import Workspace

#: Columns a quarantine table adds to the raw record, and the time the raw record was loaded
#: (a reload of the same file between the hold and the replay changes only that).
HOLD_COLUMNS = ("reason", "_run_id", "_quarantined_at", "_loaded_at")


@dataclass
class ReplayOutcome:
    """What a replay did to one quarantine table."""

    table: str
    pipeline: str
    stage: str
    run_id: str | None
    status: str
    held_before: int
    released: int
    still_held: int
    newly_held: int
    reasons: dict[str, int] = field(default_factory=dict)

    @property
    def exit_code(self) -> int:
        return 0 if self.status == "success" else 1

    def summary(self) -> str:
        """One line for the terminal."""
        if self.status != "success":
            return (
                f"{self.table}: replay run {self.run_id} {self.status}; "
                f"the previous tables are unchanged ({self.held_before:,} rows still held)"
            )
        reasons = ", ".join(f"{r} {n:,}" for r, n in sorted(self.reasons.items())) or "none"
        return (
            f"{self.table}: replayed {self.held_before:,} held rows through {self.stage} (run {self.run_id}): "
            f"{self.released:,} released, {self.still_held:,} still held, {self.newly_held:,} newly held"
            f" (held now by reason: {reasons})"
        )


def find_producer(workspace: Workspace, table: str, pipeline: str | None = None) -> tuple[str, str]:
    """The ``(pipeline, stage)`` that produces ``table``; an error naming the choices if ambiguous."""
    project = project_of(workspace)
    names = [pipeline] if pipeline else [p.stem for p in workspace.pipeline_files()]
    found = []
    for name in names:
        spec = project.pipeline(name, check_notebooks=False)
        found += [(name, s.name) for s in spec.spec.stages if table in s.produces]
    if not found:
        where = f"pipeline {pipeline}" if pipeline else f"any pipeline in {workspace.relative(workspace.pipelines_dir)}"
        raise MillpondError(f"no stage of {where} produces {table}; nothing to replay")
    if len(found) > 1:
        raise MillpondError(
            f"{table} is produced by {', '.join(f'{p}:{s}' for p, s in found)}; pick one with --pipeline"
        )
    return found[0]


def held_rows(workspace: Workspace, table: str) -> pa.Table | None:
    """The rows of quarantine table ``table`` (``None`` if it does not exist yet)."""
    schema, name = split_name(table)
    warehouse = project_of(workspace).warehouse(f"replay of {table}")
    try:
        con = warehouse.hold()
        if name not in con.list_tables(database=schema):
            return None
        return con.table(name, database=schema).to_pyarrow()
    finally:
        warehouse.close()


def replay_quarantine(
    workspace: Workspace,
    table: str,
    *,
    pipeline: str | None = None,
    params: dict[str, str] | None = None,
    reporter=None,
) -> ReplayOutcome:
    """Rerun the producer of ``quarantine.<table>`` and its downstream; see the module docstring."""
    name = quarantine_name(table)
    pipeline_name, stage = find_producer(workspace, name, pipeline)
    before = held_rows(workspace, name)
    if before is None:
        raise MillpondError(f"no quarantine table {name} in the warehouse; run pipeline {pipeline_name} first")
    options = RunOptions(params=dict(params or {}), from_stages=[stage], force=True)
    result = Runner(workspace, pipeline_name, options, reporter=reporter).run()
    outcome = ReplayOutcome(
        table=name,
        pipeline=pipeline_name,
        stage=stage,
        run_id=result.run_id,
        status=result.status,
        held_before=before.num_rows,
        released=0,
        still_held=before.num_rows,
        newly_held=0,
    )
    after = held_rows(workspace, name) if result.status == "success" else None
    if after is not None:
        shared = [c for c in before.column_names if c in after.column_names and c not in HOLD_COLUMNS]
        old, new = _raw_records(before, shared), _raw_records(after, shared)  # a column added since: not compared
        kept = sum((old & new).values())
        outcome.released = before.num_rows - kept
        outcome.still_held = kept
        outcome.newly_held = after.num_rows - kept
        outcome.reasons = dict(Counter(after.column("reason").to_pylist()))
    return outcome


def _raw_records(rows: pa.Table, columns: list[str]) -> Counter:
    """The multiset of raw records (their ``columns``, never :data:`HOLD_COLUMNS`) in ``rows``."""
    return Counter(tuple(r[c] for c in columns) for r in rows.select(columns).to_pylist())
