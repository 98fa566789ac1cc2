"""The quality report's sections: summary, what needs attention, the tables and one section per
table (rows and null rates over the recent runs, checks, anomalies), quarantine and stages.

:func:`quality_blocks` turns the gathered :class:`~millpond.report.quality_data.QualityData`
into the blocks :mod:`millpond.report.quality` renders.
"""

from __future__ import annotations

import re

import pandas as pd

from millpond.report.quality_charts import null_rate_chart, quarantine_bars, quarantine_chart, row_count_chart
from millpond.report.quality_data import LAYERS, QualityData
from millpond.report.quality_streams import stream_blocks
from millpond.report.quality_text import change, count, duration, metric_value, percent
from millpond.report.render import (
    Block,
    Callout,
    Chart,
    Checks,
    Columns,
    Heading,
    Markdown,
    Metrics,
    Paragraph,
    Table,
    bar_chart,
)

MAX_PROFILED_COLUMNS = 14
_STATUS_TEXT = {"fail": "fail", "warn": "warn", "pass": "pass", "none": "no checks"}


def quality_blocks(data: QualityData) -> list[Block]:
    """The report's blocks: summary, attention, tables, one section per layer, quarantine, stages."""
    blocks: list[Block] = [_summary(data), *_attention(data), *_overview(data)]
    tables = data.tables[data.tables.layer != "quarantine"]
    for layer in dict.fromkeys(tables.layer):
        blocks.append(Heading(layer.capitalize() if layer in LAYERS else layer))
        for record in tables[tables.layer == layer].to_dict("records"):
            blocks += _table_section(data, record)
    blocks += _quarantine(data)
    blocks += stream_blocks(data.streams)
    blocks += _stages(data)
    return blocks


# -- sections -----------------------------------------------------------------------


def _summary(data: QualityData) -> Metrics:
    s = data.summary
    bronze = int(data.quarantine.bronze_rows.fillna(0).sum()) if len(data.quarantine) else 0
    share = f"{s['rows_quarantined'] / bronze:.1%} of the rows loaded" if bronze else None
    items = {
        "checks passed": s["checks_passed"],
        "checks warned": s["checks_warned"],
        "checks failed": s["checks_failed"],
        "anomalies": s["anomalies"],
        "tables built": s["tables_built"],
        "rows written": s["rows_written"],
        "rows quarantined": s["rows_quarantined"],
        "run duration": duration(s["seconds"]),
    }
    tones = {
        "checks passed": "pass" if s["checks_passed"] else "muted",
        "checks warned": "warn" if s["checks_warned"] else "muted",
        "checks failed": "fail" if s["checks_failed"] else "muted",
        "anomalies": "warn" if s["anomalies"] else "muted",
    }
    stages = f"{s['stages_ok']} of {s['stages']} stages succeeded or skipped"
    notes = {
        "checks passed": f"of {s['checks']} check{'s' if s['checks'] != 1 else ''}",
        "checks warned": _failing(data.checks, "warn"),
        "checks failed": _failing(data.checks, "fail"),
        "anomalies": "metrics outside their usual range",
        "tables built": stages,
        "rows quarantined": share or "",
        "run duration": {"running": "so far: the run is still going", "success": "the run succeeded"}.get(
            data.run["status"], f"the run {data.run['status']}"
        ),
    }
    return Metrics(items, tones=tones, notes={k: v for k, v in notes.items() if v}, per_row=4)


def _attention(data: QualityData) -> list[Block]:
    blocks: list[Block] = [Heading("Needs attention")]
    bad = data.checks[data.checks.status != "pass"]
    bad = bad.assign(_rank=bad.status.map({"fail": 0, "warn": 1})).sort_values(["_rank", "table", "check"])
    broken = data.stages[data.stages.status.isin(["failed", "timeout", "upstream_failed", "interrupted"])]
    if len(bad):
        blocks.append(
            Checks(
                bad,
                caption="Checks that did not pass, with a sample of the failing rows",
                summarize=False,
                open_samples=True,
            )
        )
    if len(data.anomalies):
        blocks.append(
            Table(
                _anomaly_frame(data.anomalies),
                caption="Metrics outside their usual range",
                max_rows=200,
                align_right=["value", "expected"],
            )
        )
    if len(broken):
        frame = broken.assign(status=broken.status, error=broken.error.fillna(""))[["stage", "status", "error"]]
        blocks.append(Table(frame, caption="Stages that did not succeed", badges=["status"]))
    if len(blocks) == 1:
        checks = f"all {len(data.checks)} checks passed" if len(data.checks) else "no checks ran"
        blocks.append(
            Callout(
                f"Nothing needs attention: {checks}, no metric left its usual range "
                "and every stage succeeded or was unchanged.",
                "pass",
            )
        )
    return blocks


def _overview(data: QualityData) -> list[Block]:
    tables = data.tables[data.tables.layer != "quarantine"]
    frame = pd.DataFrame(
        {
            "status": [_STATUS_TEXT[s] for s in tables.status],
            "table": tables.table,
            "rows": tables.rows,
            "vs previous": [change(r, p) for r, p in zip(tables.rows, tables.previous_rows)],
            "checks": [_checks_text(r) for r in tables.to_dict("records")],
            "anomalies": ["" if not n else f"{n:,}" for n in tables.anomalies],
            "quarantined": ["" if pd.isna(q) else f"{q:,}" for q in tables.quarantined],
        }
    )
    window = len(data.runs)
    note = (
        f"Each table's section below charts its rows and its columns' null rates over the last {window} "
        f"run{'s' if window != 1 else ''} of {data.run['pipeline']}; the orange point is this run."
    )
    if window == 1:
        note += " This is the first run in the store: the charts grow a history from the next run on."
    if data.null_rates.empty:
        note += " No column profiles were recorded in these runs, so there are no null-rate charts yet."
    return [
        Heading("Tables"),
        Paragraph(note),
        Table(
            frame.reset_index(drop=True),
            caption=f"{len(frame)} tables",
            max_rows=len(frame) or 1,
            badges=["status"],
            align_right=["vs previous", "anomalies", "quarantined"],
            links={"table": {t: f"#{_anchor(t)}" for t in tables.table}},
        ),
    ]


def _table_section(data: QualityData, record: dict) -> list[Block]:
    name, runs, current = record["table"], list(data.runs.run), data.runs.run.iloc[-1]
    blocks: list[Block] = [
        Heading(name, level=3, status=record["status"], badge=_STATUS_TEXT[record["status"]], anchor=_anchor(name))
    ]
    facts = []
    if record["built"] and not pd.isna(record["rows"]):
        facts.append(
            f"{record['rows']:,} rows ({change(record['rows'], record['previous_rows']) or 'first build'}"
            f"{'' if pd.isna(record['previous_rows']) else ' on the previous build'})"
        )
    elif not record["built"]:
        facts.append("not rebuilt in this run")
    if record["stage"]:
        facts.append(f"built by {record['stage']}")
    if record["checks"]:
        facts.append(_checks_text(record))
    if not pd.isna(record["quarantined"]):
        facts.append(f"{record['quarantined']:,} rows held in quarantine.{name.split('.', 1)[1]}")
    blocks.append(Paragraph(" · ".join(facts)))

    counts = data.row_counts[data.row_counts.table == name]
    anomalies = data.anomalies[data.anomalies.table == name]
    band = anomalies[(anomalies.metric == "row_count") & (anomalies.column == "")]
    own = data.checks[data.checks.table == name]
    checks = Checks(own, caption="Checks", show_table=False) if len(own) else None
    charts: list = []
    if len(counts) and len(runs) == 1:  # one dot is no chart: say so
        rows = counts.rows.iloc[-1]
        charts.append(
            Callout(
                f"First run: {'' if pd.isna(rows) else f'{int(rows):,} rows; '}rows and null rates are charted "
                "over runs from the next run on.",
                "muted",
            )
        )
    elif len(counts):
        limits = (float(band.lower.iloc[-1]), float(band.upper.iloc[-1])) if len(band) else None
        caption = f"Rows over the last {len(runs)} runs"
        charts.append(Chart(row_count_chart(counts[["run", "rows"]], runs, current, limits), caption=caption))
    nulls = data.null_rates[data.null_rates.table == name]
    by_design = data.nulls_expected.get(name, set())
    if by_design:  # null by design (a type 2 dimension's valid_to): said, not drawn as a warning
        blocks.append(Paragraph(_by_design(nulls[nulls.column.isin(by_design)], by_design)))
        nulls = nulls[~nulls.column.isin(by_design)]
    # Beside the row counts: the null rates, else the checks, else a word on what watches the table.
    if len(nulls):
        charts.append(_null_rates(nulls, runs))
    elif checks is not None:
        charts.append(checks)
        checks = None
    else:
        charts.append(
            Callout(
                "No checks are declared on this table and no column profiles were recorded "
                "for it: only its row count is watched.",
                "muted",
            )
        )
    blocks.append(Columns(charts))
    if checks is not None:
        blocks.append(checks)
    if len(anomalies):
        blocks.append(
            Table(
                _anomaly_frame(anomalies).drop(columns=["table"]),
                caption="Anomalies",
                align_right=["value", "expected"],
            )
        )
    return blocks


def _by_design(nulls: pd.DataFrame, columns: set[str]) -> str:
    """A sentence on the columns whose nulls are by design, with their null rate now."""
    latest = nulls[nulls.run == nulls.run.iloc[-1]].set_index("column").null_rate if len(nulls) else pd.Series()
    parts = [f"{c} ({latest[c]:.0%} null)" if c in latest.index else c for c in sorted(columns)]
    return f"Null by design, as declared (nulls_expected): {', '.join(parts)}; not watched as a warning."


def _null_rates(nulls: pd.DataFrame, runs: list[str]) -> Chart | Callout | Table:
    """The heat map of the columns that had nulls in the window (worst now first), or a word
    that none had any; on a first run, the columns with nulls as a table."""
    columns = nulls.column.nunique()
    window = f"the last {len(runs)} runs" if len(runs) > 1 else "this run"
    ever = nulls.groupby("column").null_rate.max()
    ever = ever[ever > 0]
    if ever.empty:
        return Callout(f"No nulls in any of its {columns} profiled columns in {window}.", "pass")
    latest = nulls[nulls.run == nulls.run.iloc[-1]].set_index("column").null_rate
    if len(runs) == 1:
        shown = latest[latest > 0].sort_values(ascending=False)
        return Table(
            pd.DataFrame({"column": shown.index, "null rate": [f"{r:.1%}" for r in shown]}),
            caption=f"Columns with nulls ({columns - len(shown)} of {columns} profiled never null)",
            align_right=["null rate"],
        )
    order = sorted(ever.index, key=lambda c: (-latest.get(c, 0.0), -ever[c], c))[:MAX_PROFILED_COLUMNS]
    shown = nulls[nulls.column.isin(order)].assign(_order=lambda f: f.column.map(order.index)).sort_values("_order")
    others = columns - len(order)
    caption = "Null rates"
    if others:
        caption += (
            f" ({others} other column{'s' if others != 1 else ''} never null)"
            if len(order) == len(ever)
            else f" of the {len(order)} worst columns ({others} not shown)"
        )
    return Chart(null_rate_chart(shown[["run", "column", "null_rate"]], runs), caption=caption)


def _quarantine(data: QualityData) -> list[Block]:
    held = data.quarantine
    if held.empty:
        return []
    frame = pd.DataFrame(
        {
            "source": held.source,
            "loaded (bronze)": [count(n) for n in held.bronze_rows],
            "kept (silver)": [count(n) for n in held.silver_rows],
            "quarantined": held.held,
            "share": [percent(s) for s in held.share],
            "previous run": [count(n) for n in held.previous],
        }
    )
    blocks: list[Block] = [
        Heading("Quarantine"),
        Markdown(
            "Silver stages keep every row they reject, with its reason, in `quarantine.<source>`: "
            "rows loaded = rows kept + rows quarantined. `millpond quarantine SOURCE` shows them "
            "by reason. A dash: that table was not rebuilt in this run."
        ),
        Table(
            frame,
            caption="Rows quarantined by this run, per source",
            align_right=["loaded (bronze)", "kept (silver)", "share", "previous run"],
        ),
    ]
    history = data.row_counts[data.row_counts.table.isin(held.table)]
    charts = [Chart(quarantine_bars(held), caption="Rows held, this run")]
    if history.run_id.nunique() > 1:
        history = history.assign(source=history.table.str.split(".").str[1])
        charts.append(
            Chart(
                quarantine_chart(history[["run", "source", "rows"]], list(data.runs.run)),
                caption=f"Rows held over the last {len(data.runs)} runs",
            )
        )
    blocks.append(Columns(charts))
    return blocks


def _stages(data: QualityData) -> list[Block]:
    stages = data.stages
    ran = [not pd.isna(s) and status != "skipped" for s, status in zip(stages.seconds, stages.status)]
    frame = pd.DataFrame(
        {
            "stage": stages.stage,
            "status": stages.status,
            "duration": [duration(s) if r else "" for s, r in zip(stages.seconds, ran)],
            "rows written": ["" if pd.isna(r) else f"{int(r):,}" for r in stages.rows_written],
            "rows/s": [
                f"{rows / s:,.0f}" if r and not pd.isna(rows) and s > 0 else ""
                for rows, s, r in zip(stages.rows_written, stages.seconds, ran)
            ],
            "note": stages.error.fillna(""),
        }
    )
    blocks: list[Block] = [Heading("Stages")]
    timed = stages[ran]
    if len(timed):  # the slow stages, at a glance
        blocks.append(
            Chart(
                bar_chart(timed.assign(seconds=timed.seconds.round(2))[["stage", "seconds"]], "stage", "seconds"),
                caption="Wall time of each stage that ran, in seconds",
            )
        )
    blocks.append(
        Table(
            frame,
            caption=f"The {len(frame)} stages of this run",
            max_rows=len(frame) or 1,
            badges=["status"],
            align_right=["duration", "rows written", "rows/s"],
        )
    )
    return blocks


# -- words and numbers -------------------------------------------------------------------


def _anomaly_frame(anomalies: pd.DataFrame) -> pd.DataFrame:
    """Anomalies in words: values as the metric reads (a null rate in percent), the expected range."""
    metric = list(anomalies.metric)
    return pd.DataFrame(
        {
            "table": anomalies.table,
            "column": anomalies.column.replace("", "(table)"),
            "metric": anomalies.metric.str.replace("_", " "),
            "value": [metric_value(m, v) for m, v in zip(metric, anomalies.value)],
            "expected": [
                f"{metric_value(m, lo)} to {metric_value(m, hi)}"
                for m, lo, hi in zip(metric, anomalies.lower, anomalies.upper)
            ],
            "rule": anomalies.rule,
        }
    ).reset_index(drop=True)


def _failing(checks: pd.DataFrame, status: str) -> str:
    """The failing rows of each check of ``status``, largest first: checks overlap (one row can
    fail several), so their rows are never added up.

    >>> checks = pd.DataFrame({"status": ["warn"] * 4 + ["pass"], "failing_rows": [5, 139_000, 0, 12, 0]})
    >>> _failing(checks, "warn")
    'failing rows per check: 139,000, 12, 5 and 1 more'
    """
    rows = sorted((int(r) for r in checks.failing_rows[checks.status == status]), reverse=True)
    if not any(rows):
        return ""
    shown, more = rows[:3], len(rows) - 3
    return "failing rows per check: " + ", ".join(f"{r:,}" for r in shown) + (f" and {more} more" if more > 0 else "")


def _anchor(table: str) -> str:
    """The id of a table's section: ``silver.orders`` -> ``table-silver-orders``."""
    return "table-" + re.sub(r"[^a-z0-9]+", "-", table.lower()).strip("-")


def _checks_text(record: dict) -> str:
    """``"1 failed · 2 passed"`` for a table's checks, ``""`` when it has none.

    >>> _checks_text({"failed": 1, "warned": 0, "passed": 2})
    '1 failed · 2 passed'
    """
    parts = [f"{record[k]} {k}" for k in ("failed", "warned", "passed") if record[k]]
    return " · ".join(parts)
