"""What the quality report shows, gathered from the metadata store into plain frames.

:func:`gather_quality` reads one run and the runs of the same pipeline before it
(the *window*) from the :class:`~millpond.store.metadata.MetadataStore`: stage runs,
materializations (rows per table per run), check results with their failing samples
(already PII-masked when they were stored), column profiles and anomalies. Nothing
here touches the warehouse, so a report never waits for the warehouse lease.
:mod:`millpond.report.quality` lays the frames out as HTML.

Examples
--------
>>> import tempfile
>>> from pathlib import Path
>>> from millpond.store.metadata import Materialization, MetadataStore
>>> store = MetadataStore(Path(tempfile.mkdtemp()) / "meta.sqlite")
>>> store.start_run("r1", "shop", {}, ["clean"])
>>> _ = store.record_materialization(Materialization("silver.t", "table", 10, {}, 0.1, "f", "r1", "clean", 0.0))
>>> store.record_checks("r1", "clean", [{"table": "silver.t", "check": "id is unique",
...     "severity": "error", "status": "fail", "failing_rows": 2, "sample": [{"id": 7}]}])
>>> data = gather_quality(store)
>>> data.run_id, data.summary["checks_failed"], data.summary["rows_written"]
('r1', 1, 10)
>>> data.tables[["table", "rows", "failed", "status"]].to_dict("records")
[{'table': 'silver.t', 'rows': 10, 'failed': 1, 'status': 'fail'}]
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from millpond.errors import MillpondError
from millpond.report.quality_store import (
    LAYERS,
    quarantine_records,
    read_anomalies,
    read_builds,
    read_checks,
    read_row_counts,
    read_run,
    read_stages,
    read_window,
    run_label,
    table_records,
)
from millpond.store.metadata import MetadataStore

__all__ = ["LAYERS", "QualityData", "gather_quality", "run_label"]


@dataclass
class QualityData:
    """One run's quality records and the recent history around it.

    Attributes
    ----------
    run
        The run's row in the store (``run_id``, ``pipeline``, ``status``, ``params``, times).
    runs
        The window, oldest first, this run last: ``run_id``, ``run`` (a short label),
        ``started_at`` (UTC), ``status``.
    stages
        This run's stages: ``stage``, ``status``, ``seconds``, ``rows_written``, ``error``.
    tables
        One row per table the run built, checked or profiled: ``table``, ``layer``,
        ``stage``, ``rows``, ``previous_rows`` (the latest earlier build in the window),
        ``checks``, ``passed``, ``warned``, ``failed``, ``anomalies``, ``quarantined``
        (rows of its source's quarantine table in this run) and ``status`` (one of
        :data:`TABLE_STATUSES`).
    checks
        This run's check results as stored, samples included (:data:`CHECK_COLUMNS`).
    row_counts
        Rows per table per run of the window: ``run_id``, ``run``, ``table``, ``rows``.
    null_rates
        Null rate per column per run of the window, from the profiles: ``run_id``,
        ``run``, ``table``, ``column``, ``null_rate``.
    anomalies
        This run's anomalies (:data:`ANOMALY_COLUMNS`).
    quarantine
        One row per quarantine table built by this run: ``source``, ``table``,
        ``bronze_rows``, ``silver_rows``, ``held``, ``share`` (held / bronze rows) and
        ``previous`` (held in the latest earlier run of the window).
    gathered_at
        When the records were read (epoch seconds): a run still going (the report as its
        own last stage) is timed up to here.
    """

    run: dict[str, Any]
    runs: pd.DataFrame
    stages: pd.DataFrame
    tables: pd.DataFrame
    checks: pd.DataFrame
    row_counts: pd.DataFrame
    null_rates: pd.DataFrame
    anomalies: pd.DataFrame
    quarantine: pd.DataFrame
    gathered_at: float = field(default_factory=time.time)
    streams: dict[str, dict[str, Any]] = field(default_factory=dict)
    """Each stream's mark (:mod:`millpond.store.stream_marks`): the report's section on streams."""
    nulls_expected: dict[str, set[str]] = field(default_factory=dict)
    """By table, the columns declared ``nulls_expected`` (null by design): not drawn as a warning."""

    @property
    def run_id(self) -> str:
        return self.run["run_id"]

    @property
    def seconds(self) -> float:
        """How long the run took (so far, when it is still running)."""
        end = self.run["finished_at"] or self.gathered_at
        return max(0.0, end - self.run["started_at"])

    @property
    def summary(self) -> dict[str, Any]:
        """The headline numbers: check counts, tables built, rows written, anomalies, rows
        quarantined, stage counts and the run's duration."""
        statuses = self.checks.status.value_counts()
        stages = self.stages.status.value_counts()
        built = self.tables[self.tables.built]
        return {
            "checks": len(self.checks),
            "checks_passed": int(statuses.get("pass", 0)),
            "checks_warned": int(statuses.get("warn", 0)),
            "checks_failed": int(statuses.get("fail", 0)),
            "failing_rows": int(self.checks.failing_rows.sum()) if len(self.checks) else 0,
            "tables_built": len(built),
            "rows_written": int(built.rows.fillna(0).sum()),
            "anomalies": len(self.anomalies),
            "rows_quarantined": int(self.quarantine.held.sum()) if len(self.quarantine) else 0,
            "stages": len(self.stages),
            "stages_ok": int(stages.get("success", 0) + stages.get("skipped", 0)),
            "stages_failed": int(sum(stages.get(s, 0) for s in ("failed", "timeout", "upstream_failed"))),
            "seconds": self.seconds,
        }

    def summary_frame(self) -> pd.DataFrame:
        """The headline numbers that do not change between builds of the same data, as a
        ``measure``/``value`` frame (what a notebook shows; the duration is left out)."""
        s = self.summary
        rows = [
            ("checks passed", s["checks_passed"]),
            ("checks warned", s["checks_warned"]),
            ("checks failed", s["checks_failed"]),
            ("failing rows", s["failing_rows"]),
            ("tables built", s["tables_built"]),
            ("rows written", s["rows_written"]),
            ("anomalies", s["anomalies"]),
            ("rows quarantined", s["rows_quarantined"]),
            ("stages succeeded or skipped", f"{s['stages_ok']} of {s['stages']}"),
        ]
        return pd.DataFrame(
            {"measure": [m for m, _ in rows], "value": [v if isinstance(v, str) else f"{v:,}" for _, v in rows]}
        )


def gather_quality(
    store: MetadataStore, run_id: str | None = None, *, runs: int = 10, reporting_stage: str | None = None
) -> QualityData:
    """Read run ``run_id`` (default: the latest run) and its window from ``store``.

    Parameters
    ----------
    store
        The workspace's metadata store.
    run_id
        The run to report on; ``None`` or ``""`` for the most recent run.
    runs
        How many runs of the same pipeline the history charts cover, this one included.
    reporting_stage
        The stage of the run that writes this report, as its last stage: the run's final
        state is then stated as the other stages leave it (:func:`final_state`), not
        "still running".

    Raises
    ------
    MillpondError
        When the store has no such run, or no run at all.
    """
    if runs < 1:
        raise MillpondError(f"--runs {runs}: the report needs at least 1 run")
    run = read_run(store, run_id)
    window = read_window(store, run, runs)
    labels = dict(zip(window.run_id, window.run))
    history = read_builds(store, window.run_id)
    profiles = pd.DataFrame(
        [p for rid in window.run_id for p in store.profiles(rid)],
        columns=["run_id", "table_name", "column_name", "metric", "value", "id"],
    )
    checks = read_checks(store, run["run_id"])
    anomalies = read_anomalies(store, run["run_id"])

    row_counts = read_row_counts(history, profiles, labels)
    null_rates = profiles[profiles.metric == "null_rate"].rename(
        columns={"table_name": "table", "column_name": "column", "value": "null_rate"}
    )
    null_rates = null_rates.sort_values("id").drop_duplicates(["run_id", "table", "column"], keep="last")
    null_rates = null_rates.assign(run=null_rates.run_id.map(labels))[["run_id", "run", "table", "column", "null_rate"]]

    built = history[history.run_id == run["run_id"]]
    tables = table_records(run["run_id"], built, row_counts, checks, anomalies, profiles)
    stages = read_stages(store, run["run_id"])
    if reporting_stage is not None:
        run, stages, window = final_state(run, stages, window, reporting_stage)
    return QualityData(
        run=run,
        runs=window,
        stages=stages,
        tables=tables,
        checks=checks,
        row_counts=row_counts,
        null_rates=null_rates.reset_index(drop=True),
        anomalies=anomalies,
        quarantine=quarantine_records(run["run_id"], row_counts),
    )


UNFINISHED = ("pending", "running")


def final_state(
    run: dict[str, Any], stages: pd.DataFrame, window: pd.DataFrame, reporting: str
) -> tuple[dict[str, Any], pd.DataFrame, pd.DataFrame]:
    """A running run as it ends when ``reporting``, the stage writing the report, is the only
    one left: that stage succeeds (writing the report is its work), and the run succeeds
    when every other stage succeeded or was skipped, else fails. Anything else unfinished:
    the run as it is.

    >>> stages = pd.DataFrame({"stage": ["a", "report"], "status": ["success", "running"]})
    >>> window = pd.DataFrame({"run_id": ["r1"], "status": ["running"]})
    >>> run, stages, window = final_state({"run_id": "r1", "status": "running", "finished_at": None}, stages, window, "report")
    >>> run["status"], list(stages.status), list(window.status)
    ('success', ['success', 'success'], ['success'])
    """
    others = stages[stages.stage != reporting]
    if run["status"] != "running" or others.status.isin(UNFINISHED).any() or reporting not in set(stages.stage):
        return run, stages, window
    status = "success" if others.status.isin(["success", "skipped"]).all() else "failed"
    stages = stages.assign(status=stages.status.where(stages.stage != reporting, "success"))
    window = window.assign(status=window.status.where(window.run_id != run["run_id"], status))
    return {**run, "status": status, "finished_at": time.time()}, stages, window
