"""What a run decides about each stage: run it and why, or skip it.

:class:`StageDecisions` is mixed into :class:`~millpond.run.runner.Runner`. A stage is
skipped when its fingerprint (:mod:`millpond.run.fingerprint`) equals that of its last
successful execution, each product's latest build came from that execution, the products
exist, and no table its last execution read has been built again since
(:mod:`millpond.store.reads`). A build its run never published (:mod:`millpond.store.pending`)
does not count. ``--force`` and ``--full-refresh`` run it; so does an
upstream stage that runs (``--dry-run`` shows the plan).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from millpond.run.fingerprint import stage_fingerprint
from millpond.run.products import existing_tables

BLOCKING = ("failed", "timeout", "upstream_failed")


class StageDecisions:
    """The runner's decisions; uses its ``pipeline``, ``store``, ``options``, ``status``,
    ``params``, ``selected`` and ``workspace``."""

    def stage_params(self, name: str) -> dict[str, Any]:
        return self.pipeline.stage_params(self.pipeline.stage(name), self.params)

    def existing_tables(self) -> set[str]:
        if self._existing is None:
            self._existing = existing_tables(self.workspace)
        return self._existing

    def decide(self, name: str) -> tuple[str, str | None]:
        """``(fingerprint, reason to run or None to skip)``."""
        stage = self.pipeline.stage(name)
        fingerprint = stage_fingerprint(self.pipeline, stage, self.stage_params(name), self.store)
        if self.options.force:
            return fingerprint, "forced"
        refreshed = [t for t in stage.produces if t in self.options.full_refresh]
        if refreshed:
            return fingerprint, f"full refresh of {', '.join(refreshed)}"
        failed = [u for u in stage.needs if self.status.get(u) in BLOCKING]
        if failed:  # only an all_done stage starts after a failure; it reports on this run
            return fingerprint, f"upstream {', '.join(failed)} did not succeed"
        last = self.store.last_success_fingerprint(self.pipeline.name, name)
        if last is None:
            return fingerprint, "never built"
        if last != fingerprint:
            return fingerprint, "changed"
        for table in stage.produces:
            m = self.store.latest_materialization(table)
            if m is None or m.fingerprint != fingerprint:
                unpublished = self.store.unpublished_build_of(table, m.id if m else None)
                if unpublished:
                    return fingerprint, f"its build of {table} in run {unpublished} was never published"
                return fingerprint, f"{table} was rebuilt elsewhere"
        missing = [t for t in stage.produces if t not in self.existing_tables()]
        if missing:
            return fingerprint, f"{', '.join(missing)} missing"
        for table, build in sorted(self.store.reads_of_last_execution(self.pipeline.name, name).items()):
            latest = self.store.latest_materialization(table) if table not in stage.produces else None
            if latest is not None and latest.id != build:
                return fingerprint, f"{table}, which it read, was rebuilt since"
        return fingerprint, None

    def plan(self) -> "RunResult":
        """What a run would do, without running or locking (``--dry-run``).

        A stage downstream of one that would run is reported as running too.
        """
        plan: dict[str, str] = {}
        will_run: set[str] = set()
        for name in self.selected:
            _, reason = self.decide(name)
            ups = [u for u in self.pipeline.stage(name).needs if u in will_run]
            if reason is None and ups:
                reason = f"upstream {', '.join(ups)} runs"
            plan[name] = f"run ({reason})" if reason else "skip (unchanged)"
            if reason:
                will_run.add(name)
        return RunResult(None, "planned", {}, plan)


@dataclass
class RunResult:
    """What a run (or a dry run's plan) came to."""

    run_id: str | None
    status: str
    stages: dict[str, str]
    plan: dict[str, str] = field(default_factory=dict)

    @property
    def exit_code(self) -> int:
        return 0 if self.status in ("success", "planned") else 1
