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

from millpond.engines import engine_class, shown_url
from millpond.environment import activate
from millpond.errors import MillpondError, SpecError
from millpond.kernels.forkserver import configure
from millpond.kernels.pool import kernel_pool
from millpond.pipeline.dag import select
from millpond.pipeline.load import Pipeline
from millpond.project import project_of
from millpond.run.decisions import BLOCKING, RunResult, StageDecisions
from millpond.run.lease_watch import LeaseWatch
from millpond.run.lock import RunLock
from millpond.run.progress import PlainReporter
from millpond.run.publish_together import finish_publishing
from millpond.run.stage_execution import StageExecution
from millpond.secrets import remember_declared
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
    env: str | None = None
    """The environment to build in (``--env``; default ``$MILLPOND_ENV``, else production)."""


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


class Runner(StageDecisions, StageExecution):
    """One run of one pipeline."""

    def __init__(self, workspace: Workspace, pipeline: str, options: RunOptions, reporter=None):
        self.workspace = workspace
        self.options = options
        self.reporter = reporter or PlainReporter()
        if options.env:
            activate(options.env)
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
                raise SpecError(
                    f"--stage/--from {name}: pipeline {self.pipeline.name!r} has no stage {name!r} (stages: {', '.join(needs)})"
                )
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
        self._check_warehouse()
        if self.options.dry_run:
            return self.plan()
        run_id = new_run_id()
        lock = RunLock(self.workspace.meta_dir, f"run {run_id} of {self.pipeline.name}")
        lock.acquire(
            wait=self.options.wait,
            on_wait=lambda holder: self.reporter.waiting(f"waiting for another run to finish ({holder}) ..."),
        )
        started = time.perf_counter()
        try:
            self.store.close_abandoned_runs()
            self.store.start_run(
                run_id,
                self.pipeline.name,
                self.params,
                self.selected,
                resumed_from=self.resumed_from,
                forced=self.options.force,
                warehouse=shown_url(self.workspace.warehouse_url()),
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

    def _check_warehouse(self) -> None:
        """Before deciding anything: a warehouse server that does not answer fails the run
        here, in one line (a warehouse file is opened by the stages, under the lease)."""
        if engine_class(self.workspace.warehouse_url()).connect_before_run:
            project_of(self.workspace).connect().disconnect()

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
            self.workspace.spec.name,
            self.pipeline.name,
            run_id,
            self.store.stage_runs(run_id),
            self.store.check_results(run_id),
            self.store.anomalies(run_id=run_id),
        )
        if incident is not None:
            send(
                incident,
                spec,
                meta_dir=self.workspace.meta_dir,
                secret_env=self.workspace.secret_env(),
                root=self.workspace.root,
            )

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
                        self._finish(
                            run_id, name, "upstream_failed", None, None, f"upstream {', '.join(failed)} did not succeed"
                        )
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

    def _engine(self) -> str:
        return os.environ.get("MILLPOND_ENGINE") or self.workspace.spec.execution.engine


def run_pipeline(workspace: Workspace, pipeline: str, options: RunOptions | None = None, reporter=None) -> RunResult:
    """Run ``pipeline`` of ``workspace``; the Python face of ``millpond run``.

    Examples
    --------
    From Python, in a built workspace::

        result = run_pipeline(Workspace.find(), "shop", RunOptions(jobs=2))
        result.status, result.exit_code   # ('success', 0)
    """
    return Runner(workspace, pipeline, options or RunOptions(), reporter).run()
