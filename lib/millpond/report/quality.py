"""The data quality report of one run: ``millpond report`` and the pipeline's last stage.

:func:`write_quality_report` gathers a run's records from the metadata store
(:func:`~millpond.report.quality_data.gather_quality`) and writes one self-contained
HTML file with :func:`~millpond.report.render.write_report`:

- a summary: checks passed, warned and failed, tables built, rows written, the run's
  duration, anomalies and rows quarantined;
- what needs attention: checks that did not pass (with their masked samples of
  failing rows), anomalies, stages that did not succeed;
- every table: a status badge, its rows against the previous build, its checks, and
  Altair charts of its row count and its columns' null rates over the recent runs;
- the quarantine tables and the stages of the run.

The workspace's secret values are masked in the page (a stage's error may hold one).

Examples
--------
>>> import tempfile
>>> from pathlib import Path
>>> from millpond.project import project_of
>>> from millpond.store.metadata import Materialization
>>> from millpond.workspace import Workspace
>>> root = Path(tempfile.mkdtemp())
>>> _ = (root / "millpond.yml").write_text("name: demo\\n")
>>> ws = Workspace(root)
>>> store = project_of(ws).store()
>>> store.start_run("20240131T060000-ab12", "shop", {}, ["clean"])
>>> _ = store.record_materialization(Materialization("silver.t", "table", 10, {}, 0.1, "f", "20240131T060000-ab12", "clean", 0.0))
>>> report = write_quality_report(ws)
>>> [p.name for p in report.paths]
['quality-20240131T060000-ab12.html', 'shop-quality.html']
>>> report.summary.set_index("measure").loc["rows written", "value"]
'10'
"""

from __future__ import annotations

import datetime as dt
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd

from millpond.environment import PROD, active_env, env_dir, env_output
from millpond.report.quality_data import QualityData, gather_quality
from millpond.report.quality_sections import quality_blocks
from millpond.report.render import (
    render_report_html,
)
from millpond.secrets import Redactor
from millpond.store.stream_marks import read_marks

if TYPE_CHECKING:
    from millpond.workspace import Workspace

__all__ = ["QualityReport", "quality_blocks", "render_quality_report", "write_quality_report"]


@dataclass
class QualityReport:
    """A written quality report: its data and the files it went to."""

    data: QualityData
    paths: list[Path]

    @property
    def summary(self) -> pd.DataFrame:
        """The headline numbers as a ``measure``/``value`` frame (see ``QualityData.summary_frame``)."""
        return self.data.summary_frame()


def write_quality_report(
    workspace: Workspace,
    run_id: str | None = None,
    *,
    output: str | Path | None = None,
    runs: int = 10,
    generated_at: dt.datetime | None = None,
) -> QualityReport:
    """Write the quality report of ``run_id`` (default: the latest run) of ``workspace``.

    Parameters
    ----------
    workspace
        Whose metadata store to read (this process's environment's; production's when the
        environment ran nothing yet); relative paths resolve from its root.
    run_id
        The run; ``None`` or ``""`` for the latest.
    output
        Where to write. By default ``<reports folder>/quality-<run_id>.html`` and, when
        the run is the latest of its pipeline, the same file again as
        ``<pipeline>-quality.html`` (one latest report per pipeline).
    runs
        How many runs (this one included) the history charts cover.
    generated_at
        Passed to the renderer (tests fix it).

    Raises
    ------
    MillpondError
        For an unknown run id, or a workspace without runs.
    """
    from millpond.project import project_of

    store = project_of(workspace).store()
    if not run_id and not store.runs(1) and active_env() != PROD:  # an environment that ran nothing is production
        store = project_of(workspace).store(PROD)
    running = os.environ.get("MILLPOND_RUN_ID")  # a stage of a run writing the run's report
    reporting = os.environ.get("MILLPOND_STAGE") if running and (run_id or running) == running else None
    data = gather_quality(store, run_id or None, runs=runs, reporting_stage=reporting)
    data.streams = read_marks(env_dir(workspace, active_env()))
    data.nulls_expected = {
        table: declared.nulls_expected
        for pipeline in project_of(workspace).pipeline_specs().values()
        for stage in pipeline.spec.stages
        for table, declared in stage.tables.items()
        if declared.nulls_expected
    }
    html = Redactor.from_environment(workspace.secret_env()).text(
        render_quality_report(data, generated_at=generated_at)
    )
    if output is not None:
        targets = [workspace.path(output)]
    else:
        folder = env_output(workspace, workspace.path(workspace.spec.folders.reports), active_env())
        targets = [folder / f"quality-{data.run_id}.html"]
        pipeline = data.run["pipeline"]
        if store.runs(1, pipeline=pipeline)[0]["run_id"] == data.run_id:  # one latest report per pipeline
            targets.append(folder / f"{pipeline}-quality.html")
    for target in targets:
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(html, encoding="utf-8")
    return QualityReport(data, targets)


def render_quality_report(data: QualityData, *, generated_at: dt.datetime | None = None) -> str:
    """The report of ``data`` as one self-contained HTML string."""
    run = data.run
    params = " ".join(f"{k}={v}" for k, v in sorted(run["params"].items()))
    state = {
        "success": "succeeded",
        "failed": "failed",
        "interrupted": "was interrupted",
        "running": "still running",
    }.get(run["status"], run["status"])
    subtitle = f"{run['pipeline']} · run {data.run_id} · {state}" + (f" · {params}" if params else "")
    return render_report_html(
        title="Data quality", subtitle=subtitle, blocks=quality_blocks(data), generated_at=generated_at
    )
