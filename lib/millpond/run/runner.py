"""Run a pipeline: select stages, skip what has not changed, execute the rest in DAG order.

Independent stages run in parallel up to ``jobs``; a failed stage stops its
downstream stages (``upstream_failed``) while independent branches finish. The
exit code is 0 only when every selected stage succeeded or was skipped.
"""

from __future__ import annotations

import os
import sys
import threading
import time
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from typing import Any

from millpond.engines import engine_class
from millpond.errors import MillpondError, SpecError, StageFailed
from millpond.kernels.forkserver import call_forked, configure
from millpond.kernels.pool import kernel_pool
from millpond.pipeline.dag import select
from millpond.pipeline.load import Pipeline
from millpond.pipeline.reads import tables_outside_needs
from millpond.project import project_of
from millpond.run.decisions import BLOCKING, RunResult, StageDecisions
from millpond.run.execute import StageJob, kernel_env, run_with_retries, stage_declarations
from millpond.run.lease_watch import LeaseWatch
from millpond.run.lock import RunLock
from millpond.run.monitoring import run_stage_monitors
from millpond.run.progress import PlainReporter
from millpond.run.publish_together import finish_publishing
from millpond.secrets import remember_declared
from millpond.stage_api.checks import ChecksOutcome, run_stage_checks, stage_as_yaml
from millpond.store.metadata import FINISHED_OK, MetadataStore, new_run_id
from millpond.warehouse.compact import compact_after_run
from millpond.workspace import Workspace


@dataclass
class RunOptions:
    """What ``millpond run`` was asked to do."""

    params: dict[str, str] = field(default_factory=dict)
    stages: list[str] = field(default_factory=list)
    from_stages: list[str] = field(default_factory=list)
    jobs: int = 1
    force: bool = False
    dry_run: bool = False
    resume: str | None = None
    wait: bool = False
    full_refresh: list[str] = field(default_factory=list)
    """Incremental tables to rebuild whole (``--full-refresh``); their stages run."""
    profile: bool = False
    """Show each materialization's query plan in the executed notebooks (``--profile``)."""


def _wait_for_html() -> None:
    """Wait for the stages' background work: HTML renderings, and kernels still exiting
    (a run must not return while a kernel may hold the warehouse file)."""
    execute = sys.modules.get("millpond.run.execute")  # not imported: no stage ran, nothing to wait for
    if execute is not None:
        execute.wait_for_html()
    fork_kernel = sys.modules.get("millpond.kernels.fork_kernel")
    if fork_kernel is not None:
        fork_kernel.REAPER.wait()


def open_store(workspace: Workspace) -> MetadataStore:
    """The workspace's metadata store, as its project hands it out."""
    return project_of(workspace).store()


class Runner(StageDecisions):
    """One run of one pipeline."""

    def __init__(self, workspace: Workspace, pipeline: str, options: RunOptions, reporter=None):
        self.workspace = workspace
        self.options = options
        self.reporter = reporter or PlainReporter()
        self.store = open_store(workspace)
        self.resumed_from = None
        if options.resume:
            previous = self.store.run(options.resume)
            if previous is None:
                raise MillpondError(f"--resume {options.resume}: no such run (see `millpond runs`)")
            pipeline = previous["pipeline"]
            self.resumed_from = options.resume
        self.pipeline: Pipeline = project_of(workspace).pipeline(pipeline)
        needs = self.pipeline.needs
        for name in [*options.stages, *options.from_stages]:
            if name not in needs:
                raise SpecError(f"--stage/--from {name}: pipeline {self.pipeline.name!r} has no stage {name!r} (stages: {', '.join(needs)})")
        if options.resume:
            self.params = previous["params"]
            done = {s["stage"] for s in self.store.stage_runs(options.resume) if s["status"] in FINISHED_OK}
            done -= self.store.unpublished_stages(options.resume)  # their builds were never published
            self.selected = [s for s in previous["selected"] if s not in done]
        else:
            self.params = self.pipeline.resolve_params(options.params)
            self.selected = select(needs, options.stages, options.from_stages)
        self.status: dict[str, str] = {s: "pending" for s in self.selected}
        self.redactor = remember_declared(workspace.secret_env())  # masked in all a run writes, the store too
        self._warmed, self._warm_lock = False, threading.Lock()

        workspace.use_code()  # before the forkserver starts: it preloads the workspace's modules
        configure(workspace.spec.execution.keep_warm, workspace.spec.execution.preload)
        self._check_full_refresh()
        self._existing: set[str] | None = None

    def _check_full_refresh(self) -> None:
        producers = {t: s for s in self.selected for t in self.pipeline.stage(s).produces}
        for table in self.options.full_refresh:
            if table not in producers:
                raise SpecError(f"--full-refresh {table}: no selected stage of {self.pipeline.name!r} produces it")

    # -- running -----------------------------------------------------------------
    def run(self) -> RunResult:
        if self.options.dry_run:
            return self.plan()
        run_id = new_run_id()
        lock = RunLock(self.workspace.meta_dir, f"run {run_id} of {self.pipeline.name}")
        lock.acquire(wait=self.options.wait,
                     on_wait=lambda holder: self.reporter.waiting(f"waiting for another run to finish ({holder}) ..."))
        started = time.perf_counter()
        try:
            self.store.close_abandoned_runs()
            self.store.start_run(
                run_id, self.pipeline.name, self.params, self.selected, resumed_from=self.resumed_from,
                forced=self.options.force, warehouse=self.workspace.warehouse_url(),
                resources=self.resources(),
            )
            self.reporter.run_started(run_id, self.pipeline.name, self.selected, self.params)
            try:
                self._prepare_engine()
                self._schedule(run_id)
            except BaseException:
                _wait_for_html()
                for name, st in self.status.items():
                    if st in ("pending", "running"):
                        self.status[name] = "failed"
                        self.store.set_stage(run_id, name, status="failed", error="interrupted")
                self.store.finish_run(run_id, "interrupted")
                raise
            _wait_for_html()  # the stages' HTML renderings, done in the background
            ok = all(s in FINISHED_OK for s in self.status.values())
            ok = finish_publishing(self, run_id, ok)  # the publish_together group: all of it, or none
            status = "success" if ok else "failed"
            self.store.finish_run(run_id, status)
            self._alert(run_id)
            counts: dict[str, int] = {}
            for s in self.status.values():
                counts[s] = counts.get(s, 0) + 1
            self.reporter.run_finished(run_id, status, counts, time.perf_counter() - started)
            if any(s in ("success", "failed", "timeout") for s in self.status.values()):
                self._compact_if_wasteful()  # a run that executed nothing wrote nothing
            return RunResult(run_id, status, dict(self.status))
        finally:
            self.reporter.close()
            lock.release()

    def resources(self) -> dict[str, Any]:
        """What this run may use: the ``resources:`` settings (the engine's defaults where unset),
        the machine's cores and the engine that executes the stages."""
        spec = self.workspace.spec.resources
        unset = engine_class(self.workspace.warehouse_url()).resource_defaults
        return {
            "cores": os.cpu_count(),
            "threads": spec.threads if spec.threads is not None else unset.get("threads", "engine default"),
            "memory_limit": spec.memory_limit or unset.get("memory_limit", "engine default"),
            "temp_directory": spec.temp_directory or unset.get("temp_directory", "engine default"),
            "engine": self._engine(),
            "jobs": self.options.jobs,
        }

    def _warm_up(self) -> None:
        """Once the first stage is to run: while it is prepared (Papermill imported, the notebook
        read), fork kernels for ``jobs`` stages (warm engine) and import what the runner's own
        checks need, on a background thread. A run that skips every stage starts nothing."""
        with self._warm_lock:
            if self._warmed:
                return
            self._warmed = True
        engine = self._engine()
        checks = engine != "warm" and any(self.pipeline.stage(name).checks for name in self.selected)

        def warm() -> None:
            try:
                if engine == "warm":
                    kernel_pool(max(1, self.options.jobs)).fill()
                if checks:
                    import millpond.quality.declared  # noqa: F401 - pulls in Ibis and pandas
            except Exception:  # noqa: S110 - a warm-up: the stage does the same and reports errors
                pass

        threading.Thread(target=warm, name="millpond-warm-up", daemon=True).start()

    def _prepare_engine(self) -> None:
        """Start what the stages' kernels connect to, once, before the stages (a Spark
        Connect server on ``pyspark://``; nothing for most engines)."""
        engine_class(self.workspace.warehouse_url()).prepare_run(self.workspace, getattr(self.reporter, "_say", print))

    def _compact_if_wasteful(self) -> None:
        """Compact the warehouse file when its waste passes ``compaction:`` (every stage's kernel
        has ended, so the lease is free); one line in the run output when it did."""
        line = compact_after_run(self.workspace)
        if line:
            getattr(self.reporter, "_say", print)(line)

    def _alert(self, run_id: str) -> None:
        """One alert for the run's incident (failed stages, failed checks, anomalies), if it has one."""
        spec = self.workspace.spec.alerts
        if not spec.channels:
            return
        from millpond.alerts import incident_for_run, send

        incident = incident_for_run(
            self.workspace.spec.name, self.pipeline.name, run_id,
            self.store.stage_runs(run_id), self.store.check_results(run_id), self.store.anomalies(run_id=run_id),
        )
        if incident is not None:
            send(incident, spec, meta_dir=self.workspace.meta_dir, secret_env=self.workspace.secret_env(),
                 root=self.workspace.root)

    def _ready(self, name: str) -> bool | None:
        """True when it can start, None when it never will (an upstream failed)."""
        stage = self.pipeline.stage(name)
        ups = [u for u in stage.needs if u in self.status]
        if stage.trigger == "all_done":  # e.g. a report: runs once its upstream finished, however it went
            return all(self.status[u] not in ("pending", "running") for u in ups)
        if any(self.status[u] in BLOCKING for u in ups):
            return None
        return all(self.status[u] in FINISHED_OK for u in ups)

    def _schedule(self, run_id: str) -> None:
        pending = list(self.selected)
        running: dict[Future, str] = {}
        database = self.workspace.warehouse_file()
        lease = None
        if database is not None:
            lease = LeaseWatch(database)
        with ThreadPoolExecutor(max_workers=max(1, self.options.jobs)) as pool:
            while pending or running:
                for name in list(pending):
                    if len(running) >= max(1, self.options.jobs):
                        break
                    ready = self._ready(name)
                    if ready is None:
                        pending.remove(name)
                        failed = [u for u in self.pipeline.stage(name).needs if self.status.get(u) in BLOCKING]
                        self._finish(run_id, name, "upstream_failed", None, None, f"upstream {', '.join(failed)} did not succeed")
                    elif ready:
                        pending.remove(name)
                        self.status[name] = "running"
                        running[pool.submit(self._run_stage, run_id, name)] = name
                if not running:
                    continue
                done, _ = wait(list(running), timeout=None if lease is None else 0.5, return_when=FIRST_COMPLETED)
                news = lease.news() if lease is not None else None
                if news:
                    self.reporter.waiting(news)
                for future in done:
                    running.pop(future)
                    future.result()

    def _finish(self, run_id: str, name: str, status: str, duration: float | None, rows: int | None, detail: str | None, **fields) -> None:
        self.status[name] = status
        detail = None if detail is None else self.redactor.text(detail)
        self.store.set_stage(run_id, name, status=status, finished_at=time.time(), rows_written=rows, error=detail if status not in FINISHED_OK else None, **fields)
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
            env=kernel_env(self.workspace.root, run_id, self.pipeline.name, name, fingerprint, list(params),
                           self.options.full_refresh, profile=self.options.profile,
                           not_needed=tables_outside_needs(self.pipeline, name),
                           publish_together=self.pipeline.spec.publish_together,
                           declarations=stage_declarations(stage)),
            cwd=self.workspace.root,
            timeout=timeout,
            retries=retries,
            retry_backoff=backoff,
            engine=self._engine(),
            redactor=self.redactor,
        )
        files = {"notebook": self.workspace.relative(job.output), "html": self.workspace.relative(job.output.with_suffix(".html"))}
        try:
            outcome = run_with_retries(job, on_retry=lambda a, e, w: self.reporter.stage_retry(name, a, e, w))
        except StageFailed as exc:
            status = "timeout" if str(exc).startswith("timed out") else "failed"
            self._finish(run_id, name, status, time.time() - t0, self._rows(run_id, name), str(exc),
                         attempts=getattr(exc, "attempts", 1), **files)
            return
        built = {m["table_name"] for m in self.store.materializations(run_id, name)}
        missing = [t for t in stage.produces if t not in built]
        if missing:
            self._finish(run_id, name, "failed", outcome.duration, self._rows(run_id, name),
                         f"declared produces {', '.join(missing)} but did not materialize it (call ctx.materialize)",
                         attempts=outcome.attempts, **files)
            return
        detail = None
        if stage.checks:
            try:
                checked = self._checks(stage, run_id)
            except MillpondError as exc:
                self._finish(run_id, name, "failed", outcome.duration, self._rows(run_id, name),
                             f"checks could not run: {exc}", attempts=outcome.attempts, **files)
                return
            detail = checked.summary()
            if not checked.ok:
                self._finish(run_id, name, "failed", outcome.duration, self._rows(run_id, name), detail,
                             attempts=outcome.attempts, **files)
                return
        if self.workspace.spec.quality.monitors.enabled and stage.produces:
            watched = run_stage_monitors(self.workspace, stage, run_id, self.store).summary()
            detail = "; ".join(part for part in (detail, watched) if part) or None
        warned = [f"warning: {w}" for w in self.store.stage_warnings(run_id).get(name, [])]  # ctx.warn
        detail = "; ".join(part for part in (detail, *warned) if part) or None
        self._finish(run_id, name, "success", outcome.duration, self._rows(run_id, name), detail,
                     attempts=outcome.attempts, **files)

    def _checks(self, stage, run_id: str):
        """Run ``stage``'s declared checks: on the warm engine in a child of the fork server (which
        has Ibis and DuckDB loaded), so the runner never imports them; else here."""
        if self._engine() == "warm":
            try:
                found = call_forked("millpond.stage_api.checks:stage_checks_in_child", {
                    "root": str(self.workspace.root), "stage": stage_as_yaml(stage), "run_id": run_id})
            except RuntimeError as exc:  # the child died or the server is gone: this stage fails, not the run
                raise MillpondError(str(exc)) from None
            return ChecksOutcome(**found)
        return run_stage_checks(self.workspace, stage, run_id, self.store)

    def _engine(self) -> str:
        return os.environ.get("MILLPOND_ENGINE") or self.workspace.spec.execution.engine

    def _rows(self, run_id: str, name: str) -> int | None:
        rows = [m["rows"] for m in self.store.materializations(run_id, name) if m["rows"] is not None]
        return sum(rows) if rows else None


def run_pipeline(workspace: Workspace, pipeline: str, options: RunOptions | None = None, reporter=None) -> RunResult:
    """Run ``pipeline`` of ``workspace``; the Python face of ``millpond run``.

    Examples
    --------
    From Python, in a built workspace::

        result = run_pipeline(Workspace.find(), "shop", RunOptions(jobs=2))
        result.status, result.exit_code   # ('success', 0)
    """
    return Runner(workspace, pipeline, options or RunOptions(), reporter).run()
