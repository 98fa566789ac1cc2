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

import datetime as dt
import time
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from millpond.errors import MillpondError
from millpond.quality.quarantine import QUARANTINE_LAYER, quarantine_name
from millpond.store.metadata import MetadataStore

__all__ = ["LAYERS", "QualityData", "gather_quality", "run_label"]

LAYERS = ("bronze", "silver", "gold", "quality")
"""Layers in the order the report shows them; other layers follow alphabetically."""

TABLE_STATUSES = ("fail", "warn", "pass", "none")
"""A table's status, worst first: a failed check; a warning or an anomaly; checks all
passed; nothing checked it."""

CHECK_COLUMNS = ["table", "check", "severity", "status", "failing_rows", "sample", "stage"]
ANOMALY_COLUMNS = ["table", "column", "metric", "value", "lower", "upper", "baseline", "rule"]


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
            ("checks passed", s["checks_passed"]), ("checks warned", s["checks_warned"]),
            ("checks failed", s["checks_failed"]), ("failing rows", s["failing_rows"]),
            ("tables built", s["tables_built"]), ("rows written", s["rows_written"]),
            ("anomalies", s["anomalies"]), ("rows quarantined", s["rows_quarantined"]),
            ("stages succeeded or skipped", f"{s['stages_ok']} of {s['stages']}"),
        ]
        return pd.DataFrame({"measure": [m for m, _ in rows],
                             "value": [v if isinstance(v, str) else f"{v:,}" for _, v in rows]})


def gather_quality(store: MetadataStore, run_id: str | None = None, *, runs: int = 10) -> QualityData:
    """Read run ``run_id`` (default: the latest run) and its window from ``store``.

    Parameters
    ----------
    store
        The workspace's metadata store.
    run_id
        The run to report on; ``None`` or ``""`` for the most recent run.
    runs
        How many runs of the same pipeline the history charts cover, this one included.

    Raises
    ------
    MillpondError
        When the store has no such run, or no run at all.
    """
    if runs < 1:
        raise MillpondError(f"--runs {runs}: the report needs at least 1 run")
    run = _find_run(store, run_id)
    window = _window(store, run, runs)
    labels = dict(zip(window.run_id, window.run))
    history = _materialized(store, window.run_id)
    profiles = pd.DataFrame([p for rid in window.run_id for p in store.profiles(rid)],
                            columns=["run_id", "table_name", "column_name", "metric", "value", "id"])
    checks = _checks(store, run["run_id"])
    anomalies = _anomalies(store, run["run_id"])

    row_counts = _row_counts(history, profiles, labels)
    null_rates = profiles[profiles.metric == "null_rate"].rename(
        columns={"table_name": "table", "column_name": "column", "value": "null_rate"})
    null_rates = null_rates.sort_values("id").drop_duplicates(["run_id", "table", "column"], keep="last")
    null_rates = null_rates.assign(run=null_rates.run_id.map(labels))[["run_id", "run", "table", "column", "null_rate"]]

    built = history[history.run_id == run["run_id"]]
    tables = _tables(run["run_id"], built, row_counts, checks, anomalies, profiles)
    return QualityData(
        run=run,
        runs=window,
        stages=_stages(store, run["run_id"]),
        tables=tables,
        checks=checks,
        row_counts=row_counts,
        null_rates=null_rates.reset_index(drop=True),
        anomalies=anomalies,
        quarantine=_quarantine(run["run_id"], row_counts),
    )


def run_label(started_at: float) -> str:
    """A short label for a run in charts: its start, UTC, to the minute.

    >>> run_label(1706680800.0)
    'Jan 31 06:00'
    """
    return dt.datetime.fromtimestamp(started_at, dt.timezone.utc).strftime("%b %d %H:%M")


# -- the pieces ----------------------------------------------------------------------


def _find_run(store: MetadataStore, run_id: str | None) -> dict[str, Any]:
    if run_id:
        run = store.run(run_id)
        if run is None:
            raise MillpondError(f"no run {run_id!r} in the metadata store (see `millpond runs`)")
        return run
    latest = store.runs(1)
    if not latest:
        raise MillpondError("no runs yet: run a pipeline first (e.g. `millpond run shop`)")
    return store.run(latest[0]["run_id"])


def _window(store: MetadataStore, run: dict[str, Any], size: int) -> pd.DataFrame:
    """The run and the ``size - 1`` runs of its pipeline that started before it, oldest first."""
    earlier = [r for r in store.runs(limit=10_000, pipeline=run["pipeline"])
               if (r["started_at"], r["run_id"]) < (run["started_at"], run["run_id"])]
    chosen = [*reversed(earlier[: size - 1]), run]
    labels = [run_label(r["started_at"]) for r in chosen]
    counts = pd.Series(labels).value_counts()
    labels = [f"{label} ({r['run_id'][-4:]})" if counts[label] > 1 else label for label, r in zip(labels, chosen)]
    return pd.DataFrame({
        "run_id": [r["run_id"] for r in chosen],
        "run": labels,
        "started_at": [dt.datetime.fromtimestamp(r["started_at"], dt.timezone.utc) for r in chosen],
        "status": [r["status"] for r in chosen],
    })


def _materialized(store: MetadataStore, run_ids) -> pd.DataFrame:
    """The last build of each table in each run: ``run_id``, ``table``, ``stage``, ``rows``, ``seconds``."""
    records = [m for rid in run_ids for m in store.materializations(rid)]
    frame = pd.DataFrame(records, columns=["id", "run_id", "stage", "table_name", "rows", "duration"])
    frame = frame.sort_values("id").drop_duplicates(["run_id", "table_name"], keep="last")
    return frame.rename(columns={"table_name": "table", "duration": "seconds"})[
        ["run_id", "table", "stage", "rows", "seconds"]].reset_index(drop=True)


def _row_counts(history: pd.DataFrame, profiles: pd.DataFrame, labels: dict[str, str]) -> pd.DataFrame:
    """Rows per table per run: the materialization's count, else the ``row_count`` profile."""
    built = history.dropna(subset=["rows"])[["run_id", "table", "rows"]]
    profiled = profiles[(profiles.metric == "row_count") & (profiles.column_name == "")]
    profiled = profiled.sort_values("id").drop_duplicates(["run_id", "table_name"], keep="last")
    profiled = profiled.rename(columns={"table_name": "table", "value": "rows"})[["run_id", "table", "rows"]]
    known = set(zip(built.run_id, built.table))
    extra = profiled.loc[pd.Series([(r, t) not in known for r, t in zip(profiled.run_id, profiled.table)],
                                   index=profiled.index, dtype=bool)]
    frame = pd.concat([built, extra.dropna(subset=["rows"])], ignore_index=True)
    order = {rid: i for i, rid in enumerate(labels)}
    frame = frame.assign(rows=frame.rows.astype("int64"), run=frame.run_id.map(labels),
                         _order=frame.run_id.map(order))
    return frame.sort_values(["table", "_order"])[["run_id", "run", "table", "rows"]].reset_index(drop=True)


def _checks(store: MetadataStore, run_id: str) -> pd.DataFrame:
    records = [{"table": r["table_name"], "check": r["check_name"], "severity": r["severity"],
                "status": r["status"], "failing_rows": int(r["failing_rows"]), "sample": r["sample"],
                "stage": r["stage"]} for r in store.check_results(run_id)]
    return pd.DataFrame(records, columns=CHECK_COLUMNS)


def _anomalies(store: MetadataStore, run_id: str) -> pd.DataFrame:
    records = [{"table": a["table_name"], "column": a["column_name"], "metric": a["metric"],
                "value": a["value"], "lower": a["lower"], "upper": a["upper"], "baseline": a["baseline"],
                "rule": a["rule"]} for a in store.anomalies(run_id=run_id)]
    return pd.DataFrame(records, columns=ANOMALY_COLUMNS)


def _stages(store: MetadataStore, run_id: str) -> pd.DataFrame:
    records = [{"stage": s["stage"], "status": s["status"],
                "seconds": None if s["finished_at"] is None or s["started_at"] is None
                else s["finished_at"] - s["started_at"],
                "rows_written": s["rows_written"], "error": s["error"]} for s in store.stage_runs(run_id)]
    return pd.DataFrame(records, columns=["stage", "status", "seconds", "rows_written", "error"])


def _tables(run_id: str, built: pd.DataFrame, row_counts: pd.DataFrame, checks: pd.DataFrame,
            anomalies: pd.DataFrame, profiles: pd.DataFrame) -> pd.DataFrame:
    names = set(built.table) | set(checks.table) | set(anomalies.table)
    names |= set(profiles[profiles.run_id == run_id].table_name)
    stage_of = dict(zip(built.table, built.stage)) | {
        t: s for t, s in zip(checks.table, checks.stage) if t not in set(built.table)}
    rows = []
    for name in sorted(names, key=_table_order):
        counts = row_counts[row_counts.table == name]
        now = counts[counts.run_id == run_id]
        before = counts[counts.run_id != run_id]  # the window holds no later run
        own = checks[checks.table == name].status.value_counts()
        failed, warned, passed = (int(own.get(s, 0)) for s in ("fail", "warn", "pass"))
        n_anomalies = int((anomalies.table == name).sum())
        held = row_counts[(row_counts.table == quarantine_name(name)) & (row_counts.run_id == run_id)]
        is_source = name.split(".")[0] == "silver"
        status = ("fail" if failed else "warn" if warned or n_anomalies else "pass" if passed else "none")
        rows.append({
            "table": name, "layer": name.split(".")[0], "stage": stage_of.get(name),
            "built": name in set(built.table),
            "rows": int(now.rows.iloc[-1]) if len(now) else None,
            "previous_rows": int(before.rows.iloc[-1]) if len(before) else None,
            "checks": failed + warned + passed, "passed": passed, "warned": warned, "failed": failed,
            "anomalies": n_anomalies,
            "quarantined": int(held.rows.iloc[-1]) if is_source and len(held) else None,
            "status": status,
        })
    columns = ["table", "layer", "stage", "built", "rows", "previous_rows", "checks", "passed", "warned",
               "failed", "anomalies", "quarantined", "status"]
    frame = pd.DataFrame(rows, columns=columns)
    for column in ("rows", "previous_rows", "quarantined"):
        frame[column] = frame[column].astype("Int64")
    return frame.astype({"built": bool})


def _quarantine(run_id: str, row_counts: pd.DataFrame) -> pd.DataFrame:
    this = row_counts[row_counts.run_id == run_id]
    rows_of = dict(zip(this.table, this.rows))
    records = []
    for table in sorted(t for t in this.table if t.split(".")[0] == QUARANTINE_LAYER):
        source = table.split(".", 1)[1]
        earlier = row_counts[(row_counts.table == table) & (row_counts.run_id != run_id)]
        bronze = rows_of.get(f"bronze.{source}")
        held = int(rows_of[table])
        records.append({
            "source": source, "table": table, "bronze_rows": bronze, "silver_rows": rows_of.get(f"silver.{source}"),
            "held": held, "share": held / bronze if bronze else None,
            "previous": int(earlier.rows.iloc[-1]) if len(earlier) else None,
        })
    frame = pd.DataFrame(records, columns=["source", "table", "bronze_rows", "silver_rows", "held", "share", "previous"])
    for column in ("bronze_rows", "silver_rows", "previous"):
        frame[column] = frame[column].astype("Int64")
    return frame.astype({"held": "int64", "share": "float64"})


def _table_order(name: str) -> tuple[int, str, str]:
    layer, _, table = name.partition(".")
    rank = LAYERS.index(layer) if layer in LAYERS else len(LAYERS) + (layer == QUARANTINE_LAYER)
    return rank, layer, table
