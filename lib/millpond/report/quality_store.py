"""What the quality report reads from the metadata store: the run, the runs before it, the
builds, checks, anomalies, stages, tables and quarantine of each, as data frames.

:func:`millpond.report.quality_data.gather_quality` puts them together.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import pandas as pd

from millpond.errors import MillpondError
from millpond.quality.quarantine import QUARANTINE_LAYER, quarantine_name
from millpond.store.metadata import MetadataStore

LAYERS = ("bronze", "silver", "gold", "quality")
"""Layers in the order the report shows them; other layers follow alphabetically."""

TABLE_STATUSES = ("fail", "warn", "pass", "none")
"""A table's status, worst first: a failed check; a warning or an anomaly; checks all
passed; nothing checked it."""

CHECK_COLUMNS = ["table", "check", "severity", "status", "failing_rows", "sample", "stage", "detail"]
ANOMALY_COLUMNS = ["table", "column", "metric", "value", "lower", "upper", "baseline", "rule"]


def run_label(started_at: float) -> str:
    """A short label for a run in charts: its start, UTC, to the minute.

    >>> run_label(1706680800.0)
    'Jan 31 06:00'
    """
    return dt.datetime.fromtimestamp(started_at, dt.timezone.utc).strftime("%b %d %H:%M")


# -- the pieces ----------------------------------------------------------------------


def read_run(store: MetadataStore, run_id: str | None) -> dict[str, Any]:
    if run_id:
        run = store.run(run_id)
        if run is None:
            raise MillpondError(f"no run {run_id!r} in the metadata store (see `millpond runs`)")
        return run
    latest = store.runs(1)
    if not latest:
        raise MillpondError("no runs yet: run a pipeline first (e.g. `millpond run shop`)")
    return store.run(latest[0]["run_id"])


def read_window(store: MetadataStore, run: dict[str, Any], size: int) -> pd.DataFrame:
    """The run and the ``size - 1`` runs of its pipeline that started before it, oldest first."""
    earlier = [
        r
        for r in store.runs(limit=10_000, pipeline=run["pipeline"])
        if (r["started_at"], r["run_id"]) < (run["started_at"], run["run_id"])
    ]
    chosen = [*reversed(earlier[: size - 1]), run]
    labels = [run_label(r["started_at"]) for r in chosen]
    counts = pd.Series(labels).value_counts()
    labels = [f"{label} ({r['run_id'][-4:]})" if counts[label] > 1 else label for label, r in zip(labels, chosen)]
    return pd.DataFrame(
        {
            "run_id": [r["run_id"] for r in chosen],
            "run": labels,
            "started_at": [dt.datetime.fromtimestamp(r["started_at"], dt.timezone.utc) for r in chosen],
            "status": [r["status"] for r in chosen],
        }
    )


def read_builds(store: MetadataStore, run_ids) -> pd.DataFrame:
    """The last build of each table in each run: ``run_id``, ``table``, ``stage``, ``rows``, ``seconds``."""
    records = [m for rid in run_ids for m in store.materializations(rid)]
    frame = pd.DataFrame(records, columns=["id", "run_id", "stage", "table_name", "rows", "duration"])
    frame = frame.sort_values("id").drop_duplicates(["run_id", "table_name"], keep="last")
    return frame.rename(columns={"table_name": "table", "duration": "seconds"})[
        ["run_id", "table", "stage", "rows", "seconds"]
    ].reset_index(drop=True)


def read_row_counts(history: pd.DataFrame, profiles: pd.DataFrame, labels: dict[str, str]) -> pd.DataFrame:
    """Rows per table per run: the materialization's count, else the ``row_count`` profile."""
    built = history.dropna(subset=["rows"])[["run_id", "table", "rows"]]
    profiled = profiles[(profiles.metric == "row_count") & (profiles.column_name == "")]
    profiled = profiled.sort_values("id").drop_duplicates(["run_id", "table_name"], keep="last")
    profiled = profiled.rename(columns={"table_name": "table", "value": "rows"})[["run_id", "table", "rows"]]
    known = set(zip(built.run_id, built.table))
    extra = profiled.loc[
        pd.Series(
            [(r, t) not in known for r, t in zip(profiled.run_id, profiled.table)], index=profiled.index, dtype=bool
        )
    ]
    frame = pd.concat([built, extra.dropna(subset=["rows"])], ignore_index=True)
    order = {rid: i for i, rid in enumerate(labels)}
    frame = frame.assign(rows=frame.rows.astype("int64"), run=frame.run_id.map(labels), _order=frame.run_id.map(order))
    return frame.sort_values(["table", "_order"])[["run_id", "run", "table", "rows"]].reset_index(drop=True)


def read_checks(store: MetadataStore, run_id: str) -> pd.DataFrame:
    records = [
        {
            "table": r["table_name"],
            "check": r["check_name"],
            "severity": r["severity"],
            "status": r["status"],
            "failing_rows": int(r["failing_rows"]),
            "sample": r["sample"],
            "stage": r["stage"],
            "detail": r.get("detail") or {},
        }
        for r in store.check_results(run_id)
    ]
    return pd.DataFrame(records, columns=CHECK_COLUMNS)


def read_anomalies(store: MetadataStore, run_id: str) -> pd.DataFrame:
    records = [
        {
            "table": a["table_name"],
            "column": a["column_name"],
            "metric": a["metric"],
            "value": a["value"],
            "lower": a["lower"],
            "upper": a["upper"],
            "baseline": a["baseline"],
            "rule": a["rule"],
        }
        for a in store.anomalies(run_id=run_id)
    ]
    return pd.DataFrame(records, columns=ANOMALY_COLUMNS)


def read_stages(store: MetadataStore, run_id: str) -> pd.DataFrame:
    records = [
        {
            "stage": s["stage"],
            "status": s["status"],
            "seconds": None
            if s["finished_at"] is None or s["started_at"] is None
            else s["finished_at"] - s["started_at"],
            "rows_written": s["rows_written"],
            "error": s["error"],
        }
        for s in store.stage_runs(run_id)
    ]
    return pd.DataFrame(records, columns=["stage", "status", "seconds", "rows_written", "error"])


def table_records(
    run_id: str,
    built: pd.DataFrame,
    row_counts: pd.DataFrame,
    checks: pd.DataFrame,
    anomalies: pd.DataFrame,
    profiles: pd.DataFrame,
) -> pd.DataFrame:
    names = set(built.table) | set(checks.table) | set(anomalies.table)
    names |= set(profiles[profiles.run_id == run_id].table_name)
    stage_of = dict(zip(built.table, built.stage)) | {
        t: s for t, s in zip(checks.table, checks.stage) if t not in set(built.table)
    }
    rows = []
    for name in sorted(names, key=table_order):
        counts = row_counts[row_counts.table == name]
        now = counts[counts.run_id == run_id]
        before = counts[counts.run_id != run_id]  # the window holds no later run
        own = checks[checks.table == name].status.value_counts()
        failed, warned, passed = (int(own.get(s, 0)) for s in ("fail", "warn", "pass"))
        n_anomalies = int((anomalies.table == name).sum())
        held = row_counts[(row_counts.table == quarantine_name(name)) & (row_counts.run_id == run_id)]
        is_source = name.split(".")[0] == "silver"
        status = "fail" if failed else "warn" if warned or n_anomalies else "pass" if passed else "none"
        rows.append(
            {
                "table": name,
                "layer": name.split(".")[0],
                "stage": stage_of.get(name),
                "built": name in set(built.table),
                "rows": int(now.rows.iloc[-1]) if len(now) else None,
                "previous_rows": int(before.rows.iloc[-1]) if len(before) else None,
                "checks": failed + warned + passed,
                "passed": passed,
                "warned": warned,
                "failed": failed,
                "anomalies": n_anomalies,
                "quarantined": int(held.rows.iloc[-1]) if is_source and len(held) else None,
                "status": status,
            }
        )
    columns = [
        "table",
        "layer",
        "stage",
        "built",
        "rows",
        "previous_rows",
        "checks",
        "passed",
        "warned",
        "failed",
        "anomalies",
        "quarantined",
        "status",
    ]
    frame = pd.DataFrame(rows, columns=columns)
    for column in ("rows", "previous_rows", "quarantined"):
        frame[column] = frame[column].astype("Int64")
    return frame.astype({"built": bool})


def quarantine_records(run_id: str, row_counts: pd.DataFrame) -> pd.DataFrame:
    this = row_counts[row_counts.run_id == run_id]
    rows_of = dict(zip(this.table, this.rows))
    records = []
    for table in sorted(t for t in this.table if t.split(".")[0] == QUARANTINE_LAYER):
        source = table.split(".", 1)[1]
        earlier = row_counts[(row_counts.table == table) & (row_counts.run_id != run_id)]
        bronze = rows_of.get(f"bronze.{source}")
        held = int(rows_of[table])
        records.append(
            {
                "source": source,
                "table": table,
                "bronze_rows": bronze,
                "silver_rows": rows_of.get(f"silver.{source}"),
                "held": held,
                "share": held / bronze if bronze else None,
                "previous": int(earlier.rows.iloc[-1]) if len(earlier) else None,
            }
        )
    frame = pd.DataFrame(
        records, columns=["source", "table", "bronze_rows", "silver_rows", "held", "share", "previous"]
    )
    for column in ("bronze_rows", "silver_rows", "previous"):
        frame[column] = frame[column].astype("Int64")
    return frame.astype({"held": "int64", "share": "float64"})


def table_order(name: str) -> tuple[int, str, str]:
    layer, _, table = name.partition(".")
    rank = LAYERS.index(layer) if layer in LAYERS else len(LAYERS) + (layer == QUARANTINE_LAYER)
    return rank, layer, table
