"""Tests for millpond.report.quality and quality_data: the numbers, the HTML, the page offline.

A seeded metadata store holds four runs of a small shop: row counts that move, a
failing and two warning checks with masked samples, column profiles and two anomalies
in the last run. The numbers the report shows are checked against sums worked out by
hand here, and the page is opened in headless Chromium with the network off; a
screenshot goes to ``tests/artifacts/quality_report.png`` for a human to look at.
The last test runs ``millpond report`` on the built reference workspace.
"""

from __future__ import annotations

import datetime as dt
import re
import sqlite3
from pathlib import Path

import pytest

from millpond.cli import main
from millpond.errors import MillpondError
from millpond.report import mask_volatile
from millpond.report.quality import render_quality_report, write_quality_report
from millpond.report.quality_data import gather_quality
from millpond.store.metadata import Materialization, MetadataStore
from millpond.workspace import Workspace
from support.chromium import render_page, require_chromium
from support.stores import store_of

ARTIFACTS = Path(__file__).resolve().parents[2] / "artifacts"
CHARTS_DRAWN = "document.querySelectorAll('.mp-chart:not([data-rendered])').length === 0"
# For each chart: its id, whether vega-embed finished, and how many marks its SVG holds.
CHART_MARKS = """[...document.querySelectorAll('.mp-chart')].map(d => [d.id, d.dataset.rendered,
  d.querySelectorAll('svg g.role-mark > path, svg g.role-mark > text, svg g.role-mark > g').length])"""
# Every check row of the per-table sections: table, check, status, failing rows.
CHECK_ROWS = """[...document.querySelectorAll('table.mp-checks:not([data-summarized="no"]) > tbody > tr')].map(tr =>
  [tr.dataset.table, tr.children[1].firstChild.textContent.trim(), tr.children[0].textContent.trim(),
   tr.lastElementChild.textContent.trim()])"""
CARDS = """Object.fromEntries([...document.querySelectorAll('.mp-metric')].map(c =>
  [c.querySelector('.mp-metric-label').textContent, c.querySelector('.mp-metric-value').textContent]))"""
GENERATED_AT = dt.datetime(2024, 1, 31, 7, 0, tzinfo=dt.timezone.utc)

RUNS = ["20240128T060000-aa01", "20240129T060000-aa02", "20240130T060000-aa03", "20240131T060000-aa04"]
LAST = RUNS[-1]
# Rows per table in each run (None: not built in that run).
ROWS = {
    "bronze.orders": [5100, 5160, 5230, 5300],
    "silver.orders": [5000, 5050, 5110, 3900],
    "quarantine.orders": [100, 110, 120, 1400],
    "bronze.customers": [1050, 1060, 1065, None],
    "silver.customers": [1000, 1008, 1012, 1020],
    "quarantine.customers": [50, 52, 53, 45],
    "gold.fct_orders": [5000, 5050, 5110, 3900],
}
STAGE_OF = {
    "bronze.orders": "ingest_orders",
    "silver.orders": "clean_orders",
    "quarantine.orders": "clean_orders",
    "bronze.customers": "ingest_customers",
    "silver.customers": "clean_customers",
    "quarantine.customers": "clean_customers",
    "gold.fct_orders": "build_fct_orders",
}
STAGES = ["ingest_orders", "ingest_customers", "clean_customers", "clean_orders", "build_fct_orders", "quality_report"]
LAST_CHECKS = [
    {
        "table": "silver.orders",
        "check": "order_id is unique",
        "severity": "error",
        "status": "fail",
        "failing_rows": 2,
        "sample": [{"order_id": 41, "email": "***"}, {"order_id": 41, "email": "***"}],
    },
    {
        "table": "silver.orders",
        "check": "status is one of placed, shipped",
        "severity": "warn",
        "status": "warn",
        "failing_rows": 17,
        "sample": [{"order_id": 7, "status": "lost"}],
    },
    {
        "table": "silver.orders",
        "check": "customer_id references silver.customers.customer_id",
        "severity": "error",
        "status": "pass",
        "failing_rows": 0,
        "sample": [],
    },
    {
        "table": "silver.customers",
        "check": "email matches the email pattern",
        "severity": "warn",
        "status": "warn",
        "failing_rows": 3,
        "sample": [{"customer_id": 12, "email": "***"}],
    },
    {
        "table": "silver.customers",
        "check": "customer_id is unique",
        "severity": "error",
        "status": "pass",
        "failing_rows": 0,
        "sample": [],
    },
    {
        "table": "gold.fct_orders",
        "check": "net_amount >= 0",
        "severity": "error",
        "status": "pass",
        "failing_rows": 0,
        "sample": [],
    },
]
NULL_RATES = {  # per run
    "silver.orders": {
        "order_id": [0, 0, 0, 0],
        "customer_id": [0.01, 0.012, 0.011, 0.24],
        "amount": [0, 0, 0.002, 0],
        "status": [0, 0, 0, 0],
        "ordered_at": [0, 0, 0, 0],
    },
    "silver.customers": {
        "customer_id": [0, 0, 0, 0],
        "email": [0.05, 0.048, 0.051, 0.05],
        "city": [0.2, 0.21, 0.2, 0.19],
    },
}
ANOMALIES = [
    {
        "table": "silver.orders",
        "column": "",
        "metric": "row_count",
        "value": 3900,
        "lower": 4900,
        "upper": 5260,
        "baseline": 3,
        "rule": "outside mean ± 3 sd of the last 3 runs",
    },
    {
        "table": "silver.orders",
        "column": "customer_id",
        "metric": "null_rate",
        "value": 0.24,
        "lower": 0.0,
        "upper": 0.02,
        "baseline": 3,
        "rule": "outside mean ± 3 sd of the last 3 runs",
    },
]


def seed(store: MetadataStore) -> None:
    """Four runs of a small shop; see the module docstring."""
    for i, run_id in enumerate(RUNS):
        store.start_run(run_id, "shop", {"run_date": f"2024-01-{28 + i}"}, STAGES)
        for table, rows in ROWS.items():
            if rows[i] is not None:
                store.record_materialization(
                    Materialization(table, "table", rows[i], {}, 0.2, f"f{i}", run_id, STAGE_OF[table], 0.0)
                )
        profile = [
            {"table": t, "column": "", "metric": "row_count", "value": rows[i]}
            for t, rows in ROWS.items()
            if rows[i] is not None
        ]
        profile += [
            {"table": t, "column": c, "metric": "null_rate", "value": rates[i]}
            for t, columns in NULL_RATES.items()
            for c, rates in columns.items()
        ]
        store.record_profile(run_id, "clean_orders", profile)
        if run_id != LAST:
            store.record_checks(
                run_id, "clean_orders", [c | {"status": "pass", "failing_rows": 0, "sample": []} for c in LAST_CHECKS]
            )
        for k, stage in enumerate(STAGES):
            skipped = run_id == LAST and stage == "ingest_customers"
            store.set_stage(
                run_id,
                stage,
                status="skipped" if skipped else "success",
                started_at=10.0 * k,
                finished_at=10.0 * k + (0.0 if skipped else 3.5),
                rows_written=None if skipped else 100,
            )
        store.finish_run(run_id, "success")
    store.record_checks(LAST, "clean_orders", LAST_CHECKS)
    store.record_anomalies(LAST, "clean_orders", ANOMALIES)
    # Fixed times, so labels and durations are known: one run a day at 06:00 UTC, 95 s each.
    with sqlite3.connect(store.path) as db:
        for i, run_id in enumerate(RUNS):
            start = dt.datetime(2024, 1, 28 + i, 6, 0, tzinfo=dt.timezone.utc).timestamp()
            db.execute("UPDATE runs SET started_at = ?, finished_at = ? WHERE run_id = ?", (start, start + 95, run_id))


@pytest.fixture
def workspace(tmp_path) -> Workspace:
    (tmp_path / "millpond.yml").write_text("name: demo\n")
    ws = Workspace(tmp_path)
    seed(store_of(ws))
    return ws


@pytest.fixture
def store(workspace) -> MetadataStore:
    return store_of(workspace)


# -- the data -----------------------------------------------------------------------


def test_summary_equals_the_hand_computed_sums(store):
    data = gather_quality(store)
    assert data.run_id == LAST
    built = [rows[-1] for rows in ROWS.values() if rows[-1] is not None]
    assert data.summary == {
        "checks": 6,
        "checks_passed": 3,
        "checks_warned": 2,
        "checks_failed": 1,
        "failing_rows": 2 + 17 + 3,
        "tables_built": 6,
        "rows_written": sum(built),
        "anomalies": 2,
        "rows_quarantined": 1400 + 45,
        "stages": 6,
        "stages_ok": 6,
        "stages_failed": 0,
        "seconds": 95.0,
    }
    assert sum(built) == 5300 + 3900 + 1400 + 1020 + 45 + 3900


def test_tables_carry_rows_previous_build_checks_and_status(store):
    tables = gather_quality(store).tables.set_index("table")
    orders = tables.loc["silver.orders"]
    assert (orders.rows, orders.previous_rows, orders.quarantined) == (3900, 5110, 1400)
    assert (orders.passed, orders.warned, orders.failed, orders.anomalies, orders.status) == (1, 1, 1, 2, "fail")
    assert tables.loc["silver.customers", "status"] == "warn"
    assert tables.loc["gold.fct_orders", "status"] == "pass"
    assert tables.loc["bronze.orders", "status"] == "none"
    # Skipped in the last run: neither built nor checked nor profiled, so not in the report.
    assert "bronze.customers" not in tables.index
    assert list(tables.index) == [
        "bronze.orders",
        "silver.customers",
        "silver.orders",
        "gold.fct_orders",
        "quarantine.customers",
        "quarantine.orders",
    ]


def test_history_covers_the_window_oldest_first(store):
    data = gather_quality(store, RUNS[2], runs=2)
    assert list(data.runs.run_id) == RUNS[1:3]
    assert list(data.runs.run) == ["Jan 29 06:00", "Jan 30 06:00"]
    orders = data.row_counts[data.row_counts.table == "silver.orders"]
    assert list(orders.rows) == [5050, 5110]
    nulls = data.null_rates[(data.null_rates.table == "silver.orders") & (data.null_rates.column == "customer_id")]
    assert list(nulls.null_rate) == [0.012, 0.011]
    assert data.summary["checks_passed"] == 6 and data.anomalies.empty


def test_quarantine_counts_per_source(store):
    held = gather_quality(store).quarantine.set_index("source")
    assert held.loc["orders"].to_dict() == {
        "table": "quarantine.orders",
        "bronze_rows": 5300,
        "silver_rows": 3900,
        "held": 1400,
        "share": 1400 / 5300,
        "previous": 120,
    }
    # bronze.customers was not rebuilt in the last run: no share to compute.
    assert held.loc["customers", "held"] == 45 and held.loc["customers", "previous"] == 53
    assert held.loc["customers", "share"] != held.loc["customers", "share"]  # NaN


def test_unknown_run_and_empty_store_are_errors(store, tmp_path):
    with pytest.raises(MillpondError, match="no run 'nope' in the metadata store"):
        gather_quality(store, "nope")
    with pytest.raises(MillpondError, match="no runs yet"):
        gather_quality(MetadataStore(tmp_path / "empty.sqlite"))


# -- the HTML -----------------------------------------------------------------------


def test_report_is_written_per_run_and_as_latest(workspace):
    report = write_quality_report(workspace)
    reports = workspace.path("data/reports")
    assert report.paths == [reports / f"quality-{LAST}.html", reports / "shop-quality.html"]
    assert report.paths[0].read_text() == report.paths[1].read_text()
    older = write_quality_report(workspace, RUNS[0])
    assert older.paths == [reports / f"quality-{RUNS[0]}.html"]


def test_each_pipeline_keeps_its_own_latest_report(workspace, store):
    """Issue 21.4: a flights run after shop's no longer overwrites shop's latest report."""
    shop = write_quality_report(workspace)
    store.start_run("20240201T060000-f001", "flights", {}, ["ingest"])
    store.set_stage("20240201T060000-f001", "ingest", status="success", started_at=0.0, finished_at=1.0)
    store.finish_run("20240201T060000-f001", "success")
    flights = write_quality_report(workspace)  # the latest run of all: flights'
    reports = workspace.path("data/reports")
    assert flights.paths == [reports / "quality-20240201T060000-f001.html", reports / "flights-quality.html"]
    assert (reports / "shop-quality.html").read_text() == shop.paths[0].read_text()  # shop's stays shop's
    assert "20240201T060000-f001" not in (reports / "shop-quality.html").read_text()


@pytest.mark.parametrize("other, state", [("success", "succeeded"), ("failed", "failed")])
def test_a_report_written_as_the_runs_last_stage_states_the_final_state(workspace, store, monkeypatch, other, state):
    """Issue 21.5: written by its own run's last stage, the report said "still running, 21 of
    22 stages, so far"."""
    run_id = "20240201T060000-aaaa"
    store.start_run(run_id, "shop", {}, ["clean", "check", "quality_report"])
    store.set_stage(run_id, "clean", status="success", started_at=1.0, finished_at=2.0)
    store.set_stage(run_id, "check", status=other, started_at=2.0, finished_at=3.0)
    store.set_stage(run_id, "quality_report", status="running", started_at=3.0)
    monkeypatch.setenv("MILLPOND_RUN_ID", run_id)
    monkeypatch.setenv("MILLPOND_STAGE", "quality_report")
    report = write_quality_report(workspace, run_id)
    html = report.paths[0].read_text()
    assert f"shop · run {run_id} · {state}" in html
    assert "still running" not in html and "so far" not in html
    ok = 3 if other == "success" else 2
    assert f"{ok} of 3 stages succeeded or skipped" in html
    monkeypatch.delenv("MILLPOND_STAGE")  # anyone else reading it meanwhile: still running
    assert "still running" in write_quality_report(workspace, run_id, output="elsewhere.html").paths[0].read_text()


def test_the_summary_gives_failing_rows_per_check_never_their_sum(workspace):
    """Issue 21.5: "15 warned, 139,350 failing rows" added up checks that overlap."""
    html = write_quality_report(workspace).paths[0].read_text()
    assert "failing rows per check: 17, 3" in html  # the two warned checks (LAST_CHECKS)
    assert "20 failing rows" not in html


def test_a_column_null_by_design_is_said_not_drawn_as_a_warning(workspace):
    """Issue 21.5: a type 2 dimension's valid_to, 100 % null on current rows, was a red warning."""
    pipelines = workspace.root / "pipelines"
    pipelines.mkdir()
    (pipelines / "shop.yml").write_text(
        "stages:\n- name: clean_orders\n  notebook: n.ipynb\n  produces: [silver.orders]\n"
        "  tables: {silver.orders: {columns: {customer_id: {nulls_expected: true}}}}\n"
    )
    html = write_quality_report(workspace).paths[0].read_text()
    assert "Null by design, as declared (nulls_expected): customer_id (24% null)" in html  # NULL_RATES, last run
    charts = re.findall(r'<script type="application/json"[^>]*>(.*?)</script>', html, re.S)
    heat_maps = [c for c in charts if "null_rate" in c]
    assert heat_maps and not any('"customer_id"' in c for c in heat_maps)  # drawn, without it


def test_a_first_run_says_so_instead_of_drawing_one_dot(workspace):
    """Issue 21.5: on a first run every history chart was a single dot."""
    first = write_quality_report(workspace, RUNS[0]).paths[0].read_text()
    later = write_quality_report(workspace, LAST).paths[0].read_text()
    # a section per table but the quarantine tables (charted together in their own section)
    built_first = sum(rows[0] is not None for table, rows in ROWS.items() if not table.startswith("quarantine."))
    assert first.count("First run: ") == built_first
    assert "First run: " not in later
    assert first.count('id="mp-chart-') < later.count('id="mp-chart-')


def test_html_is_small_inlines_vega_once_and_shows_masked_samples(store):
    html = render_quality_report(gather_quality(store), generated_at=GENERATED_AT)
    assert html.count("window.vegaEmbed=") == 1
    assert len(html) < 1_500_000
    assert not re.search(r"<(?:script|link|img)\b[^>]*\b(?:src|href)\s*=\s*[\"']?(?:https?:)?//", html)
    # rows of 4 tables, null rates of the 2 profiled ones, the quarantine bars and lines, stage times
    assert html.count('class="mp-chart"') == 4 + 2 + 2 + 1
    assert "***" in html and "lost" in html
    assert mask_volatile(html) == mask_volatile(render_quality_report(gather_quality(store)))


# -- in the browser, offline ----------------------------------------------------------


@pytest.mark.chromium
def test_report_draws_every_chart_offline_with_the_stored_numbers(workspace, store):
    require_chromium()
    path = write_quality_report(workspace, generated_at=GENERATED_AT).paths[0]
    page = render_page(
        path,
        screenshot=ARTIFACTS / "quality_report.png",
        wait_for=CHARTS_DRAWN,
        wait_ms=20_000,
        evaluate={"charts": CHART_MARKS, "checks": CHECK_ROWS, "cards": CARDS},
    )
    assert page.ready, f"charts not drawn in time; console errors: {page.console_errors}"
    assert page.console_errors == [] and page.failed_requests == []
    charts = page.values["charts"]
    assert len(charts) == 9
    assert [c for c in charts if c[1] != "ok" or c[2] == 0] == [], "every chart drew marks"

    stored = store.check_results(LAST)
    expected = sorted([r["table_name"], r["check_name"], r["status"], f"{r['failing_rows']:,}"] for r in stored)
    assert sorted(page.values["checks"]) == expected
    cards = page.values["cards"]
    for status, label in (("pass", "checks passed"), ("warn", "checks warned"), ("fail", "checks failed")):
        assert cards[label] == str(sum(r["status"] == status for r in stored)), label
    summary = " ".join(re.sub(r"<[^>]+>", " ", page.dom[page.dom.index('class="mp-summary"') :]).split())
    assert "6 checks: 3 passed, 2 warned, 1 failed" in summary
    assert (ARTIFACTS / "quality_report.png").stat().st_size > 50_000


# -- the command, on the reference workspace -----------------------------------------------


def test_report_command_errors_speak_to_the_user(workspace, capsys):
    assert main(["report", "nope", "-C", str(workspace.root)]) == 2
    assert capsys.readouterr().err == "error: no run 'nope' in the metadata store (see `millpond runs`)\n"


def test_report_command_writes_the_file_and_the_latest_copy(workspace, capsys):
    assert main(["report", RUNS[1], "-C", str(workspace.root), "--runs", "2", "--output", "out/q.html"]) == 0
    assert "out/q.html" in capsys.readouterr().out
    assert (workspace.root / "out/q.html").is_file()
    assert main(["report", "-C", str(workspace.root)]) == 0
    assert (workspace.root / "data/reports/shop-quality.html").is_file()


@pytest.mark.slow
def test_report_command_on_the_reference_workspace_is_small_enough_to_email(tmp_path_factory, capsys):
    from support.reference import build_reference_workspace

    ws = build_reference_workspace(tmp_path_factory.mktemp("quality") / "workspace")
    assert main(["report", "-C", str(ws.root)]) == 0
    out = capsys.readouterr().out
    run_id = store_of(ws).runs(1)[0]["run_id"]
    path = ws.path(f"data/reports/quality-{run_id}.html")
    assert f"data/reports/quality-{run_id}.html" in out
    assert 500_000 < path.stat().st_size < 5_000_000
    html = path.read_text()
    # shop.yml declares 10 checks; check_gold runs 24 more through ctx.check (see tests/test_shop_pipeline.py)
    assert "34 checks: 34 passed, 0 warned, 0 failed" in " ".join(re.sub(r"<[^>]+>", " ", html).split())
