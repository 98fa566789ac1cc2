"""``millpond monitors``: the latest profile values with their band and trend, or the anomalies."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

from rich.console import Console
from rich.table import Table

from millpond.quality.anomaly import format_value, judge, series, usable
from millpond.run.runner import open_store
from millpond.workspace import Workspace

SPARKS = "▁▂▃▄▅▆▇█"
STATUS_STYLE = {"ok": "green", "learning": "dim", "anomaly": "bold red"}


def sparkline(values: list[float | None]) -> str:
    """The values as a row of bars, lowest ``▁`` to highest ``█`` (a gap for a missing value).

    >>> sparkline([1, 2, 3, 4, 5, 6, 7, 8]), sparkline([5, 5, None, 5])
    ('▁▂▃▄▅▆▇█', '▄▄ ▄')
    """
    known = usable(values)
    low, high = (min(known), max(known)) if known else (0.0, 0.0)
    bars = []
    for v in values:
        if v is None or float(v) not in known:
            bars.append(" ")
        elif high == low:
            bars.append(SPARKS[3])
        else:
            bars.append(SPARKS[round((float(v) - low) / (high - low) * (len(SPARKS) - 1))])
    return "".join(bars)


def latest_monitors(workspace: Workspace, table: str | None = None) -> list[dict[str, Any]]:
    """For each profiled value of each table (or of ``table``), its latest value and verdict.

    Each dict has ``table``, ``column``, ``metric``, ``value``, ``run_id``, ``status``
    (``learning``, ``ok``, ``anomaly``), ``lower``, ``upper`` (``None`` while learning),
    ``baseline`` (earlier runs the band comes from) and ``trend`` (the values of the
    last ``window`` earlier runs then the latest, oldest first).
    """
    store = open_store(workspace)
    spec = workspace.spec.quality.monitors
    out = []
    for name in [table] if table else store.profiled_tables():
        history = store.profile_history(name, limit_runs=spec.window + 1)
        if not history:
            continue
        latest_run = history[-1]["run_id"]
        earlier = series(r for r in history if r["run_id"] != latest_run)
        for row in (r for r in history if r["run_id"] == latest_run):
            key = (row["column_name"], row["metric"])
            verdict = judge(row["value"], earlier.get(key, []), spec)
            out.append(
                {
                    "table": name,
                    "column": row["column_name"],
                    "metric": row["metric"],
                    "value": row["value"],
                    "run_id": latest_run,
                    "status": verdict.status,
                    "lower": verdict.band.lower if verdict.band else None,
                    "upper": verdict.band.upper if verdict.band else None,
                    "baseline": verdict.baseline,
                    "trend": [*earlier.get(key, [])[-spec.window :], row["value"]],
                }
            )
    return out


def _when(ts: float | None) -> str:
    return "" if ts is None else dt.datetime.fromtimestamp(ts).strftime("%Y-%m-%d %H:%M:%S")


def show_anomalies(workspace: Workspace, *, table: str | None = None, as_json: bool = False) -> None:
    """``millpond monitors --anomalies``: every recorded anomaly, newest last."""
    found = open_store(workspace).anomalies(table=table)
    if as_json:
        print(json.dumps(found, indent=2, default=str))
        return
    if not found:
        print("no anomalies recorded" + (f" for {table}" if table else ""))
        return
    out = Table(title="anomalies", title_justify="left")
    for col in ("run", "stage", "table", "column", "metric", "value", "band", "rule", "detected"):
        out.add_column(col)
    for a in found:
        out.add_row(
            a["run_id"] or "",
            a["stage"] or "",
            a["table_name"],
            a["column_name"],
            a["metric"],
            f"[bold red]{format_value(a['value'])}[/]",
            f"[{format_value(a['lower'])}, {format_value(a['upper'])}]",
            a["rule"],
            _when(a["detected_at"]),
        )
    Console(width=200).print(out)


def show_monitors(
    workspace: Workspace, *, table: str | None = None, anomalies: bool = False, as_json: bool = False
) -> None:
    """``millpond monitors``: latest value, band, trend and verdict of each monitored value.

    Without ``table`` the table shows each table's ``row_count`` and any value whose latest
    verdict is an anomaly; with ``table`` it shows every column of it; ``--json`` gives all.
    """
    if anomalies:
        show_anomalies(workspace, table=table, as_json=as_json)
        return
    rows = latest_monitors(workspace, table)
    if as_json:
        print(json.dumps(rows, indent=2, default=str))
        return
    if not rows:
        print("no profiles recorded" + (f" for {table}" if table else "") + " (they are recorded by `millpond run`)")
        return
    shown = rows if table else [r for r in rows if not r["column"] or r["status"] == "anomaly"]
    spec = workspace.spec.quality.monitors
    out = Table(title=f"monitors ({spec.method}, k={spec.k:g}, last {spec.window} runs)", title_justify="left")
    for col in ("table", "column", "metric", "value", "band", "trend", "status", "run"):
        out.add_column(col)
    for r in shown:
        band = (
            f"[{format_value(r['lower'])}, {format_value(r['upper'])}]"
            if r["lower"] is not None
            else f"{r['baseline']}/{spec.min_runs} runs"
        )
        out.add_row(
            r["table"],
            r["column"],
            r["metric"],
            format_value(r["value"]),
            band,
            sparkline(r["trend"]),
            f"[{STATUS_STYLE[r['status']]}]{r['status']}[/]",
            r["run_id"] or "",
        )
    console = Console(width=200)
    console.print(out)
    if not table:
        console.print(
            f"{len(rows):,} values in {len({r['table'] for r in rows})} tables; "
            "--table TABLE shows every column, --anomalies the recorded anomalies"
        )
