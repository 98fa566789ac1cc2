"""One stage of a run executed: its notebook through Papermill (with retries and a timeout),
its declared products verified, its checks and monitors run, its outcome recorded.

:class:`StageExecution` is mixed into :class:`~millpond.run.runner.Runner`; it uses the
runner's ``pipeline``, ``workspace``, ``store``, ``options``, ``status``, ``reporter``,
``redactor`` and its ``decide``, ``stage_params``, ``_warm_up`` and ``_engine``.
"""

from __future__ import annotations

import time

from millpond.errors import MillpondError, StageFailed
from millpond.kernels.forkserver import call_forked
from millpond.pipeline.reads import tables_outside_needs
from millpond.run.execute import StageJob, kernel_env, run_with_retries, stage_declarations
from millpond.run.monitoring import run_stage_monitors
from millpond.stage_api.checks import ChecksOutcome, run_stage_checks, stage_as_yaml
from millpond.store.metadata import FINISHED_OK


class StageExecution:
    """The runner's execution of one stage (see the module docstring)."""

    def _finish(
        self,
        run_id: str,
        name: str,
        status: str,
        duration: float | None,
        rows: int | None,
        detail: str | None,
        **fields,
    ) -> None:
        self.status[name] = status
        detail = None if detail is None else self.redactor.text(detail)
        self.store.set_stage(
            run_id,
            name,
            status=status,
            finished_at=time.time(),
            rows_written=rows,
            error=detail if status not in FINISHED_OK else None,
            **fields,
        )
        self.reporter.stage_finished(name, status, duration, rows, detail)

    def _run_stage(self, run_id: str, name: str) -> None:
        stage = self.pipeline.stage(name)
        t0 = time.time()
        try:
            fingerprint, reason = self.decide(name)
        except MillpondError as exc:
            self._finish(run_id, name, "failed", 0.0, None, str(exc), started_at=t0)
            return
        if reason is None:
            self._finish(run_id, name, "skipped", 0.0, None, "unchanged", fingerprint=fingerprint, started_at=t0)
            return
        self._warm_up()
        self.store.set_stage(run_id, name, status="running", fingerprint=fingerprint, started_at=t0)
        self.reporter.stage_started(name)
        params = self.stage_params(name)
        timeout, retries, backoff = self.pipeline.spec.policy(stage)
        out_dir = self.workspace.runs_dir / run_id
        job = StageJob(
            stage=name,
            notebook=self.pipeline.notebook_path(stage),
            output=out_dir / f"{name}.ipynb",
            params=params,
            env=kernel_env(
                self.workspace.root,
                run_id,
                self.pipeline.name,
                name,
                fingerprint,
                list(params),
                self.options.full_refresh,
                profile=self.options.profile,
                not_needed=tables_outside_needs(self.pipeline, name),
                publish_together=self.pipeline.spec.publish_together,
                declarations=stage_declarations(stage),
            ),
            cwd=self.workspace.root,
            timeout=timeout,
            retries=retries,
            retry_backoff=backoff,
            engine=self._engine(),
            redactor=self.redactor,
        )
        files = {
            "notebook": self.workspace.relative(job.output),
            "html": self.workspace.relative(job.output.with_suffix(".html")),
        }
        try:
            outcome = run_with_retries(job, on_retry=lambda a, e, w: self.reporter.stage_retry(name, a, e, w))
        except StageFailed as exc:
            status = "timeout" if str(exc).startswith("timed out") else "failed"
            self._finish(
                run_id,
                name,
                status,
                time.time() - t0,
                self._rows(run_id, name),
                str(exc),
                attempts=getattr(exc, "attempts", 1),
                **files,
            )
            return

        def executed(status: str, detail: str | None) -> None:  # the notebook ran: its outcome, as checked
            self._finish(
                run_id,
                name,
                status,
                outcome.duration,
                self._rows(run_id, name),
                detail,
                attempts=outcome.attempts,
                **files,
            )

        built = {m["table_name"] for m in self.store.materializations(run_id, name)}
        missing = [t for t in stage.produces if t not in built]
        if missing:
            executed(
                "failed", f"declared produces {', '.join(missing)} but did not materialize it (call ctx.materialize)"
            )
            return
        detail = None
        if stage.checks:
            try:
                checked = self._checks(stage, run_id)
            except MillpondError as exc:
                executed("failed", f"checks could not run: {exc}")
                return
            detail = checked.summary()
            if not checked.ok:
                executed("failed", detail)
                return
        if self.workspace.spec.quality.monitors.enabled and stage.produces:
            watched = run_stage_monitors(self.workspace, stage, run_id, self.store).summary()
            detail = "; ".join(part for part in (detail, watched) if part) or None
        warned = [f"warning: {w}" for w in self.store.stage_warnings(run_id).get(name, [])]  # ctx.warn
        detail = "; ".join(part for part in (detail, *warned) if part) or None
        executed("success", detail)

    def _checks(self, stage, run_id: str):
        """Run ``stage``'s declared checks: on the warm engine in a child of the fork server (which
        has Ibis and DuckDB loaded), so the runner never imports them; else here."""
        if self._engine() == "warm":
            try:
                found = call_forked(
                    "millpond.stage_api.checks:stage_checks_in_child",
                    {"root": str(self.workspace.root), "stage": stage_as_yaml(stage), "run_id": run_id},
                )
            except RuntimeError as exc:  # the child died or the server is gone: this stage fails, not the run
                raise MillpondError(str(exc)) from None
            return ChecksOutcome(**found)
        return run_stage_checks(self.workspace, stage, run_id, self.store)

    def _rows(self, run_id: str, name: str) -> int | None:
        rows = [m["rows"] for m in self.store.materializations(run_id, name) if m["rows"] is not None]
        return sum(rows) if rows else None
