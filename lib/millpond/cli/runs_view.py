"""``millpond runs``: run history from the metadata store."""

from __future__ import annotations

import datetime as dt
import json

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from millpond.errors import MillpondError
from millpond.project import project_of
from millpond.run.runner import open_store
from millpond.secrets import Redactor
from millpond.workspace import Workspace


def _when(ts: float | None) -> str:
    return "" if ts is None else dt.datetime.fromtimestamp(ts).strftime("%Y-%m-%d %H:%M:%S")


def _duration(start: float | None, end: float | None) -> str:
    return "" if start is None or end is None else f"{end - start:.1f} s"


def show_runs(workspace: Workspace, limit: int, *, as_json: bool = False) -> None:
    runs = open_store(workspace).runs(limit)
    if as_json:
        print(json.dumps(runs, indent=2, default=str))
        return
    table = Table(title="runs", title_justify="left")
    for col in ("run id", "pipeline", "parameters", "status", "started", "duration", "run", "skipped", "failed"):
        table.add_column(col)
    for r in runs:
        c = r["counts"]
        failed = c.get("failed", 0) + c.get("timeout", 0) + c.get("upstream_failed", 0)
        table.add_row(
            r["run_id"],
            r["pipeline"],
            " ".join(f"{k}={v}" for k, v in sorted(r["params"].items())),
            r["status"],
            _when(r["started_at"]),
            _duration(r["started_at"], r["finished_at"]),
            str(c.get("success", 0)),
            str(c.get("skipped", 0)),
            str(failed),
        )
    Console(width=200).print(table)


def show_run(workspace: Workspace, run_id: str, *, as_json: bool = False) -> None:
    store = open_store(workspace)
    run = store.run(run_id)
    if run is None:
        raise MillpondError(f"no run {run_id!r} (see `millpond runs`)")
    stages = store.stage_runs(run_id)
    warnings = store.stage_warnings(run_id)  # ctx.warn: shown with the stage, also when it succeeded
    stages = [s | {"warnings": warnings.get(s["stage"], [])} for s in stages]
    redactor = Redactor.from_environment(workspace.secret_env())  # a store written before secrets were masked
    run, stages = redactor.data(run), redactor.data(stages)
    if as_json:
        print(json.dumps({"run": run, "stages": stages}, indent=2, default=str))
        return
    console = Console(width=200)
    console.print(
        f"run {run_id}: {run['pipeline']} {run['status']}, started {_when(run['started_at'])}, "
        f"{_duration(run['started_at'], run['finished_at'])}"
        + (f", resumed from {run['resumed_from']}" if run["resumed_from"] else "")
    )
    if run.get("resources"):
        console.print("resources: " + ", ".join(f"{k}={v}" for k, v in sorted(run["resources"].items())))
    table = Table()
    for col in ("stage", "status", "duration", "attempts", "rows written", "rows/s", "error or warning", "notebook"):
        table.add_column(col, justify="right" if col in ("rows written", "rows/s") else "left")
    for s in stages:
        table.add_row(
            s["stage"],
            s["status"],
            _duration(s["started_at"], s["finished_at"]),
            str(s["attempts"] or ""),
            "" if s["rows_written"] is None else f"{s['rows_written']:,}",
            rows_per_second(s),
            escape(
                "; ".join(p for p in [s["error"], *(f"warning: {w}" for w in s["warnings"])] if p)
            ),  # text, not markup
            s["html"] or "",
        )
    console.print(table)


def rows_per_second(stage: dict) -> str:
    """Rows written per second of the stage's wall time, or ``""`` when unknown.

    >>> rows_per_second({"rows_written": 12000, "started_at": 10.0, "finished_at": 12.5})
    '4,800'
    >>> rows_per_second({"rows_written": None, "started_at": 10.0, "finished_at": 12.5})
    ''
    """
    rows, start, end = stage.get("rows_written"), stage.get("started_at"), stage.get("finished_at")
    if rows is None or start is None or end is None or end <= start:
        return ""
    return f"{rows / (end - start):,.0f}"


TREND_MARK = {"pass": "[green]✓[/]", "warn": "[yellow]![/]", "fail": "[bold red]✗[/]"}


def show_checks(workspace: Workspace, *, table: str | None, failing: bool, as_json: bool = False) -> None:
    """``millpond checks``: latest state of each check and its recent trend (oldest first)."""
    history = open_store(workspace).check_history(table)
    if failing:
        history = [h for h in history if h["status"] != "pass"]
    if as_json:
        print(json.dumps(history, indent=2, default=str))
        return
    if not history:
        print("no check results" + (f" for {table}" if table else "") + (" failing" if failing else ""))
        return
    out = Table(title="checks", title_justify="left")
    for col in ("table", "check", "severity", "status", "failing rows", "trend", "run"):
        out.add_column(col)
    for h in history:
        out.add_row(
            h["table_name"],
            h["check_name"],
            h["severity"],
            h["status"],
            f"{h['failing_rows']:,}",
            "".join(TREND_MARK.get(s, "?") for s in h["trend"]),
            h["run_id"] or "",
        )
    Console(width=200).print(out)


def show_quarantine(workspace: Workspace, table: str, *, limit: int = 10) -> None:
    """``millpond quarantine TABLE``: what is held, why, from which run, and a few rows."""
    from millpond.quality.quarantine import quarantine_name

    name = quarantine_name(table)
    warehouse = project_of(workspace).warehouse("millpond quarantine")
    try:
        con = warehouse.hold()
        if name.split(".")[1] not in con.list_tables(database="quarantine"):
            raise MillpondError(f"no quarantine table {name} in the warehouse")
        held = con.table(name.split(".")[1], database="quarantine")
        reasons = (
            held.group_by(["reason", "_run_id"]).agg(rows=held.count()).order_by("reason").to_pyarrow().to_pylist()
        )
        sample = held.order_by("reason").limit(limit).to_pyarrow().to_pylist()
    except MillpondError:
        raise
    except Exception as exc:  # e.g. no quarantine schema at all
        raise MillpondError(f"cannot read {name}: {str(exc).splitlines()[0]}") from None
    finally:
        warehouse.close()
    console = Console(width=200)
    total = sum(r["rows"] for r in reasons)
    console.print(f"{name}: {total:,} rows held")
    by_reason = Table(title="by reason", title_justify="left")
    for col in ("reason", "run", "rows"):
        by_reason.add_column(col)
    for r in reasons:
        by_reason.add_row(r["reason"], r["_run_id"] or "(interactive)", f"{r['rows']:,}")
    console.print(by_reason)
    if sample:
        rows = Table(title=f"first {len(sample)} rows", title_justify="left")
        columns = [c for c in sample[0] if c not in {"_run_id", "_quarantined_at"}]
        for col in columns:
            rows.add_column(col)
        for r in sample:
            rows.add_row(*("" if r[c] is None else str(r[c]) for c in columns))
        console.print(rows)
