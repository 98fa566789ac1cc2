"""The reference workspace, built once per test session in a temporary copy.

A pytest plugin (``-p support.reference`` in pyproject): when the session collects
nbval notebook items, it builds the reference workspace (sample data with seed 42 at
scale 1, the clickstream's streams, then ``pipelines/flights.yml``, ``pipelines/clickstream.yml``
and ``pipelines/shop.yml``) before any notebook kernel starts and points
``MILLPOND_WORKSPACE`` at it while nbval items run, so the notebooks run against the sample warehouse and
never touch the repository's own ``data/``.

``build_reference_workspace(target)`` is the same build for tests that need their
own copy (the end-to-end tests).
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
COPIED = ("millpond.yml", "pipelines", "notebooks")
SEED, SCALE = 42, 1.0


def copy_workspace(target: Path) -> Path:
    """Copy the repository's workspace files (not its data) into ``target``."""
    target.mkdir(parents=True, exist_ok=True)
    for name in COPIED:
        source = REPO / name
        if source.is_dir():
            shutil.copytree(source, target / name, ignore=shutil.ignore_patterns(".ipynb_checkpoints"))
        else:
            shutil.copy2(source, target / name)
    return target


def build_reference_workspace(
    target: Path,
    *,
    run: bool = True,
    jobs: int = 2,
    pipelines: tuple[str, ...] = ("shop",),
    streams: tuple[str, ...] = (),
):
    """Copy the workspace to ``target``, generate the sample data, process ``streams`` until caught
    up and (optionally) run ``pipelines``, in order (the last one is the workspace's latest run)."""
    from millpond.run.progress import PlainReporter
    from millpond.run.runner import RunOptions, run_pipeline
    from millpond.workspace import Workspace
    from shop.generate import generate

    copy_workspace(target)
    ws = Workspace(target)
    generate(ws.path(ws.spec.folders.raw), seed=SEED, scale=SCALE)
    for stream in streams if run else ():
        from millpond.run.streaming import run_stream

        run_stream(ws, stream)
    for pipeline in pipelines if run else ():
        with open(os.devnull, "w") as quiet:
            result = run_pipeline(ws, pipeline, RunOptions(jobs=jobs), reporter=PlainReporter(quiet))
        if result.exit_code != 0:
            raise RuntimeError(f"the reference pipeline {pipeline} failed: {result.stages}")
    return ws


def _is_nbval(item: pytest.Item) -> bool:
    return type(item).__module__.startswith("nbval")


def pytest_collection_finish(session: pytest.Session) -> None:
    if not any(_is_nbval(item) for item in session.items) or session.config.option.collectonly:
        return
    root = Path(tempfile.mkdtemp(prefix="millpond-nbval-"))
    session.config._millpond_nbval_root = root
    build_reference_workspace(
        root / "workspace",
        pipelines=("flights", "clickstream", "shop"),
        streams=("clickstream_funnel", "clickstream_sessions"),
    )
    session.config._millpond_nbval_workspace = str(root / "workspace")


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    """Point nbval's kernels (started in their notebook's setup) at the reference build;
    keep every other test free of it."""
    workspace = getattr(item.config, "_millpond_nbval_workspace", None)
    if workspace and _is_nbval(item):
        os.environ["MILLPOND_WORKSPACE"] = workspace
    elif workspace and os.environ.get("MILLPOND_WORKSPACE") == workspace:
        del os.environ["MILLPOND_WORKSPACE"]


def pytest_unconfigure(config: pytest.Config) -> None:
    root = getattr(config, "_millpond_nbval_root", None)
    if root is not None:
        shutil.rmtree(root, ignore_errors=True)
