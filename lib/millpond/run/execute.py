"""Execute one stage notebook with Papermill, with retries, and render it to HTML."""

from __future__ import annotations

import json
import logging
import os
import sys
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from millpond.environment import active_env
from millpond.errors import StageFailed
from millpond.kernels.forkserver import call_forked
from millpond.kernels.notebook_html import notebook_to_html
from millpond.processes import identity
from millpond.secrets import Redactor

if TYPE_CHECKING:
    from millpond.settings.pipeline import StageSpec


@dataclass
class StageJob:
    """Everything needed to execute one stage once."""

    stage: str
    notebook: Path
    output: Path
    params: dict[str, Any]
    env: dict[str, str]
    cwd: Path
    timeout: float | None
    retries: int
    retry_backoff: float
    engine: str = "warm"
    """``warm`` (kernels forked from the warm server) or ``papermill`` (a new kernel process)."""
    redactor: Redactor = field(default_factory=Redactor)
    """The workspace's secret values, masked in the executed notebook, its HTML and the error."""


@dataclass
class StageOutcome:
    attempts: int
    duration: float
    html: Path | None


def kernel_env(
    workspace_root: Path,
    run_id: str,
    pipeline: str,
    stage: str,
    fingerprint: str,
    param_names: list[str],
    full_refresh: list[str] | None = None,
    profile: bool = False,
    not_needed: dict[str, str] | None = None,
    publish_together: list[str] = (),
    declarations: dict[str, Any] | None = None,
) -> dict[str, str]:
    """The environment a stage's kernel starts with (``MILLPOND_FULL_REFRESH``: the tables
    ``--full-refresh`` rebuilds whole, comma-separated; ``MILLPOND_PROFILE=1``: show each
    materialization's query plan; ``MILLPOND_NOT_NEEDED``: tables of the pipeline the stage
    must not read, to their producers, see :mod:`millpond.pipeline.reads`;
    ``MILLPOND_PUBLISH_TOGETHER``: the layers and tables it builds under staged names, see
    :mod:`millpond.warehouse.staging`; ``MILLPOND_ENV``: the run's environment; ``MILLPOND_DECLARATIONS``: the stage's ``tables:`` and
    ``checks:`` as the run validated them, see :func:`stage_declarations`)."""

    env = dict(os.environ)
    env.update(
        MILLPOND_WORKSPACE=str(workspace_root),
        MILLPOND_RUN_ID=run_id,
        MILLPOND_PIPELINE=pipeline,
        MILLPOND_STAGE=stage,
        MILLPOND_FINGERPRINT=fingerprint,
        MILLPOND_PARAM_NAMES=json.dumps(sorted(param_names)),
        MILLPOND_FULL_REFRESH=",".join(sorted(full_refresh or ())),
        MILLPOND_PROFILE="1" if profile else "",
        MILLPOND_NOT_NEEDED=json.dumps(not_needed or {}, sort_keys=True),
        MILLPOND_PUBLISH_TOGETHER=json.dumps(list(publish_together)),
        MILLPOND_DECLARATIONS=json.dumps(declarations or {}),
        MILLPOND_RUNNER=json.dumps(identity()),  # the run's process: a lease held for it dies with it
        MILLPOND_ENV=active_env(),  # the run's environment (millpond.environment)
        PYDEVD_DISABLE_FILE_VALIDATION="1",
    )
    return env


def stage_declarations(stage: StageSpec) -> dict[str, Any]:
    """What the kernel of ``stage`` is handed of its declarations, so that it builds and
    audits with what the run validated (and fingerprinted), not with a file read later:
    ``tables`` as JSON, ``checks`` as YAML text (dates in check arguments stay dates).

    >>> from millpond.settings.pipeline import StageSpec
    >>> s = StageSpec(name="s", notebook="s.ipynb", produces=["gold.t"],
    ...               tables={"gold.t": {"retain": 2}}, checks={"gold.t": [{"unique": "id"}]})
    >>> passed = stage_declarations(s)
    >>> passed["tables"], passed["checks"].splitlines()
    ({'gold.t': {'retain': 2}}, ['gold.t:', '- unique: id'])
    """
    import yaml

    tables = {name: spec.model_dump(mode="json", exclude_unset=True) for name, spec in stage.tables.items()}
    return {"tables": tables, "checks": yaml.safe_dump(stage.checks, sort_keys=False)}


def _import_papermill():
    """``papermill``, imported without its optional HDFS support: that import pulls in pyarrow
    and numpy (0.09 s of the first stage) for notebook paths millpond never gives it."""
    blocked = "pyarrow.fs" not in sys.modules and "papermill" not in sys.modules
    if blocked:
        sys.modules["pyarrow.fs"] = None  # papermill.iorw catches the ImportError
    try:
        import papermill
    finally:
        if blocked and sys.modules.get("pyarrow.fs", 0) is None:
            del sys.modules["pyarrow.fs"]  # a later `import pyarrow.fs` works as usual
    return papermill


def run_once(job: StageJob) -> None:
    """One attempt; raises :class:`StageFailed` with a one-line reason."""
    pm = _import_papermill()
    from papermill.exceptions import PapermillExecutionError

    import millpond.kernels.papermill_engine  # noqa: F401  - registers the engine

    logging.getLogger("papermill").setLevel(logging.ERROR)
    timed_out = threading.Event()
    job.output.parent.mkdir(parents=True, exist_ok=True)
    extra: dict[str, Any] = {}
    if job.engine == "warm":
        from millpond.kernels.fork_kernel import ForkKernelManager

        extra["kernel_manager_class"] = ForkKernelManager
    try:
        pm.execute_notebook(
            str(job.notebook),
            str(job.output),
            parameters=job.params,
            engine_name="millpond",
            kernel_name="python3",
            progress_bar=False,
            request_save_on_cell_execute=True,
            kernel_env=job.env,
            kernel_cwd=job.cwd,
            stage_timeout=job.timeout,
            timed_out=timed_out,
            redactor=job.redactor,
            **extra,
        )
    except PapermillExecutionError as exc:
        if timed_out.is_set():
            raise StageFailed(f"timed out after {job.timeout:g} s") from None
        cell = f"cell {exc.exec_count}" if exc.exec_count else f"cell index {exc.cell_index}"
        evalue = job.redactor.text(exc.evalue or "").strip().splitlines()
        raise StageFailed(f"{cell}: {exc.ename}: {evalue[0] if evalue else ''}".rstrip(": ")) from None
    except Exception as exc:  # dead kernel, start failure...
        if timed_out.is_set():
            raise StageFailed(f"timed out after {job.timeout:g} s") from None
        text = job.redactor.text(str(exc)).strip().splitlines()
        raise StageFailed(f"{type(exc).__name__}: {text[0] if text else ''}") from None


def run_with_retries(job: StageJob, on_retry: Callable[[int, str, float], None] | None = None) -> StageOutcome:
    """Execute ``job``, retrying failures with exponential backoff, then render HTML."""
    from tenacity import RetryCallState, Retrying, retry_if_exception_type, stop_after_attempt, wait_exponential

    started = time.perf_counter()

    def before_sleep(state: RetryCallState) -> None:
        if on_retry is not None:
            exc = state.outcome.exception() if state.outcome else None
            on_retry(state.attempt_number, str(exc), state.next_action.sleep if state.next_action else 0.0)

    retrying = Retrying(
        stop=stop_after_attempt(job.retries + 1),
        wait=wait_exponential(multiplier=job.retry_backoff, min=job.retry_backoff, max=max(job.retry_backoff, 60)),
        retry=retry_if_exception_type(StageFailed),
        reraise=True,
        before_sleep=before_sleep,
    )
    attempts = 0
    try:
        for attempt in retrying:
            with attempt:
                attempts = attempt.retry_state.attempt_number
                run_once(job)
    except StageFailed as exc:
        exc.attempts = attempts
        raise
    finally:
        html = (
            render_html_later(job.output, forked=job.engine == "warm", redactor=job.redactor)
            if job.output.exists()
            else None
        )
    return StageOutcome(attempts=attempts, duration=time.perf_counter() - started, html=html)


_RENDERS: list = []
_RENDERS_LOCK = threading.Lock()


def render_html_later(notebook: Path, *, forked: bool = False, redactor: Redactor | None = None) -> Path:
    """Render ``notebook`` to HTML in the background (the next stage need not wait for it);
    :func:`wait_for_html` waits for every pending rendering. Returns the HTML's path.

    ``forked`` (the warm engine): render in a child of the fork server, which has nbconvert
    imported and its templates compiled, so the runner neither imports nbconvert nor spends
    its own time (and GIL) rendering; a background thread only waits for the child.
    ``redactor``: secret values masked in the HTML once written (the notebook it comes from
    is masked already; this covers what rendering adds)."""
    global _RENDERER
    render = render_html_forked if forked else render_html

    def render_masked(notebook: Path) -> Path | None:
        html = render(notebook)
        if html is not None and redactor:
            redactor.file(html)
        return html

    with _RENDERS_LOCK:
        if _RENDERER is None:
            _RENDERER = ThreadPoolExecutor(max_workers=2, thread_name_prefix="millpond-html")
        _RENDERS.append(_RENDERER.submit(render_masked, notebook))
    return notebook.with_suffix(".html")


_RENDERER = None


def wait_for_html() -> None:
    """Wait until every notebook handed to :func:`render_html_later` is rendered, then end the
    rendering threads (the next rendering starts new ones), so the process can exit at once."""
    global _RENDERER
    with _RENDERS_LOCK:
        pending, _RENDERS[:] = list(_RENDERS), []
    for future in pending:
        future.result()
    with _RENDERS_LOCK:
        renderer, _RENDERER = (_RENDERER, None) if not _RENDERS else (None, _RENDERER)
    if renderer is not None:
        renderer.shutdown(wait=True)


def render_html_forked(notebook: Path) -> Path | None:
    """:func:`render_html` in a child of the warm fork server."""
    try:
        done = call_forked("millpond.run.execute:render_html_in_child", {"notebook": str(notebook)}, timeout=600)
    except Exception:  # a rendering problem must not fail a stage
        logging.getLogger("millpond").exception("could not render %s to HTML", notebook)
        return None
    return Path(done) if done else None


def render_html_in_child(notebook: str) -> str | None:
    """:func:`render_html` as :func:`millpond.kernels.forkserver.call_forked` calls it (JSON in and out)."""
    done = render_html(Path(notebook))
    return str(done) if done else None


def render_html(notebook: Path) -> Path | None:
    """An HTML rendering of an executed notebook, input cells hidden, that opens offline."""
    try:
        return notebook_to_html(notebook)
    except Exception:  # a rendering problem must not fail a stage
        logging.getLogger("millpond").exception("could not render %s to HTML", notebook)
        return None
