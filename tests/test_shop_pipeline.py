"""End to end: the reference workspace built by `millpond run shop` in a temporary copy.

Expected values come from the generator's manifest (its own truth, computed in plain
Python from the clean records), never from what the pipeline printed.
"""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal
from pathlib import Path

import nbformat
import pytest

from millpond.pipeline.dag import downstream_of
from millpond.pipeline.load import load_pipeline
from millpond.run.runner import RunOptions, open_store, run_pipeline
from shop.manifest import read_manifest
from support.chromium import render_page, require_chromium
from support.reference import REPO, build_reference_workspace
from support.workspaces import query

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def shop(tmp_path_factory):
    return build_reference_workspace(tmp_path_factory.mktemp("shop") / "workspace")


@pytest.fixture(scope="module")
def manifest(shop):
    return read_manifest(shop.path("data/raw"))


def count(ws, table: str) -> int:
    return query(ws, f"SELECT count(*) FROM {table}")[0][0]


SOURCES = ("customers", "products", "orders", "order_lines", "payments", "events")


def test_layers_hold_the_known_row_counts(shop, manifest):
    for source in SOURCES:
        assert count(shop, f"bronze.{source}") == manifest.raw_rows[source], source
        assert count(shop, f"silver.{source}") == manifest.valid_rows[source], source
    assert count(shop, "gold.dim_customer") == manifest.valid_rows["customers"]
    assert count(shop, "gold.dim_product") == manifest.valid_rows["products"]
    assert count(shop, "gold.fct_orders") == manifest.valid_rows["orders"]
    assert count(shop, "gold.fct_order_lines") == manifest.valid_rows["order_lines"]
    assert count(shop, "gold.dim_date") == manifest.days
    assert count(shop, "gold.mart_daily_revenue") == manifest.days


def test_nothing_is_lost_every_rejected_row_is_quarantined_with_its_reason(shop, manifest):
    for source in SOURCES:
        held = count(shop, f"quarantine.{source}")
        assert count(shop, f"bronze.{source}") == count(shop, f"silver.{source}") + held, source
        reasons = dict(query(shop, f"SELECT reason, count(*) FROM quarantine.{source} GROUP BY reason"))
        assert reasons == {k: v for k, v in manifest.dirt[source].items() if v}, source
    run_ids = query(shop, "SELECT DISTINCT _run_id FROM quarantine.orders")
    assert run_ids == [(open_store(shop).runs(1)[0]["run_id"],)]


def test_quarantine_command_lists_what_is_held(shop, manifest, capsys):
    from millpond.cli import main

    assert main(["quarantine", "orders", "-C", str(shop.root)]) == 0
    out = capsys.readouterr().out
    assert f"quarantine.orders: {manifest.rejected_rows('orders'):,} rows held" in out
    for reason in manifest.dirt["orders"]:
        assert reason in out
    assert main(["quarantine", "nothing", "-C", str(shop.root)]) == 2
    assert capsys.readouterr().err == "error: no quarantine table quarantine.nothing in the warehouse\n"


def test_gold_totals_equal_the_generators_truth(shop, manifest):
    by_day = dict(query(shop, "SELECT date, revenue FROM gold.mart_daily_revenue"))
    assert by_day == manifest.revenue_by_day
    assert sum(by_day.values(), Decimal("0")) == manifest.revenue_total
    orders_by_day = dict(query(shop, "SELECT date, orders FROM gold.mart_daily_revenue"))
    assert orders_by_day == manifest.orders_by_day
    by_status = dict(query(shop, "SELECT status, count(*) FROM gold.fct_orders GROUP BY status"))
    assert by_status == manifest.orders_by_status
    assert query(shop, "SELECT sum(paid_amount) FROM gold.fct_orders")[0][0] == manifest.payments_total


def test_declared_tables_are_published_to_the_lake_and_versioned(shop, manifest, capsys):
    """``tables:`` in shop.yml publishes fct_orders (Hive partitions) and the mart (Delta),
    and every build is a recorded version."""
    import json

    import ibis
    import pyarrow.parquet as pq
    from deltalake import DeltaTable

    from millpond.cli import main
    from millpond.warehouse.lake import read_lake

    lake = shop.path("data/lake")
    orders_dir = lake / "gold" / "fct_orders"
    days = {p.name.removeprefix("order_date=") for p in orders_dir.iterdir() if p.name.startswith("order_date=")}
    warehouse_days = {str(d) for (d,) in query(shop, "SELECT DISTINCT order_date FROM gold.fct_orders")}
    assert days == warehouse_days and len(days) >= manifest.days
    one_day = sorted(days)[0]
    # the files of one partition hold that day's orders and nothing else
    in_partition = pq.read_table(orders_dir / f"order_date={one_day}").num_rows
    assert (
        in_partition == query(shop, f"SELECT count(*) FROM gold.fct_orders WHERE order_date = DATE '{one_day}'")[0][0]
    )

    con = ibis.duckdb.connect()
    orders = read_lake(con, "gold.fct_orders", lake)
    assert orders.count().execute() == manifest.valid_rows["orders"]
    assert orders.paid_amount.sum().execute() == manifest.payments_total
    pruned = read_lake(con, "gold.fct_orders", lake, filters={"order_date": [dt.date.fromisoformat(one_day)]})
    assert pruned.count().execute() == in_partition

    mart = read_lake(con, "gold.mart_daily_revenue", lake).select("date", "revenue").to_pyarrow().to_pylist()
    assert {row["date"]: row["revenue"] for row in mart} == manifest.revenue_by_day
    assert DeltaTable(str(lake / "gold" / "mart_daily_revenue")).version() == 0

    assert main(["versions", "gold.fct_orders", "--json", "-C", str(shop.root)]) == 0
    versions = json.loads(capsys.readouterr().out)
    assert [(v["version"], v["rows"]) for v in versions] == [(1, manifest.valid_rows["orders"])]

    # the catalog lists both lake copies with what they hold
    assert main(["catalog", "gold.fct_orders", "--json", "-C", str(shop.root)]) == 0
    copy = json.loads(capsys.readouterr().out)["lake"]
    assert (copy["path"], copy["format"], copy["rows"], copy["partition_by"]) == (
        "data/lake/gold/fct_orders",
        "parquet",
        manifest.valid_rows["orders"],
        ["order_date"],
    )
    assert copy["files"] == len(list(orders_dir.glob("order_date=*/*.parquet")))
    assert main(["catalog", "gold.mart_daily_revenue", "--json", "-C", str(shop.root)]) == 0
    copy = json.loads(capsys.readouterr().out)["lake"]
    assert (copy["format"], copy["version"], copy["rows"]) == ("delta", 0, len(manifest.revenue_by_day))


def test_run_history_and_executed_notebooks(shop):
    store = open_store(shop)
    run = store.runs(1)[0]
    assert (run["pipeline"], run["status"]) == ("shop", "success")
    stages = store.stage_runs(run["run_id"])
    assert len(stages) == 22 and {s["status"] for s in stages} == {"success"}
    for s in stages:
        assert (shop.root / s["notebook"]).is_file() and (shop.root / s["html"]).is_file()
    checks = store.check_history()
    # the 10 checks declared in shop.yml, and check_gold's ctx.check of the 6 gold tables
    # (key not null, key unique, has rows: 6 x 3) plus 5 relationship / not-null checks and
    # one current version per customer
    assert len(checks) == 10 + 6 * 3 + 5 + 1 and {c["status"] for c in checks} == {"pass"}
    assert {c["stage"] for c in checks if c["table_name"].startswith("gold.dim")} == {"check_gold"}
    html = (shop.root / next(s["html"] for s in stages if s["stage"] == "build_fct_orders")).read_text()
    assert "Materialized gold.fct_orders (incremental)" in html
    assert not re.search(r"<script[^>]+src=\"https?://", html)


def test_report_renders_offline_with_the_stored_numbers(shop, manifest):
    require_chromium()
    report = shop.path("data/reports/shop.html")
    artifacts = REPO / "tests/artifacts"
    artifacts.mkdir(exist_ok=True)
    page = render_page(report, screenshot=artifacts / "shop_report.png", wait_ms=1500)
    assert page.console_errors == [] and page.failed_requests == []
    assert page.dom.count("<svg") >= 2, "both charts rendered as SVG"
    text = re.sub(r"<[^>]+>", " ", page.dom)
    total = (
        f"Total revenue {manifest.revenue_total:,.2f} from {manifest.revenue_orders:,} orders over {manifest.days} days"
    )
    assert total in " ".join(text.split())
    assert report.stat().st_size < 5_000_000


def test_the_shop_report_and_the_quality_report_count_the_same_checks(shop):
    """Issue 21.5: shop.html said 24 checks (check_gold's table), quality.html and `millpond
    checks` 33 (every declared check of the run)."""
    store = open_store(shop)
    run_id = store.runs(1, pipeline="shop")[0]["run_id"]
    recorded = store.check_results(run_id)
    declared = sum(  # every check declared in the pipeline file, plus check_gold's own
        len(checks) for stage in load_pipeline(shop, "shop").spec.stages for checks in stage.checks.values()
    )
    assert len(recorded) > declared  # check_gold adds its own to the declared ones
    shop_html = " ".join(re.sub(r"<[^>]+>", " ", shop.path("data/reports/shop.html").read_text()).split())
    quality_html = " ".join(
        re.sub(r"<[^>]+>", " ", shop.path(f"data/reports/quality-{run_id}.html").read_text()).split()
    )
    passed = sum(r["status"] == "pass" for r in recorded)
    assert f"{len(recorded)} checks: {passed} passed" in shop_html
    assert f"{len(recorded)} checks: {passed} passed" in quality_html


def test_second_run_skips_and_a_changed_parameter_reruns_exactly_what_it_affects(shop, manifest):
    again = run_pipeline(shop, "shop", RunOptions(jobs=2))
    statuses = {s["stage"]: s["status"] for s in open_store(shop).stage_runs(again.run_id)}
    assert set(statuses.values()) == {"skipped"} and len(statuses) == 22

    mid = dt.date(2024, 1, 15)
    changed = run_pipeline(shop, "shop", RunOptions(params={"run_date": mid.isoformat()}, jobs=2))
    statuses = {s["stage"]: s["status"] for s in open_store(shop).stage_runs(changed.run_id)}
    rerun = {name for name, status in statuses.items() if status == "success"}
    assert rerun == {"build_dim_date", "build_mart_daily_revenue", "check_gold", "render_report", "quality_report"}
    assert {statuses[n] for n in statuses.keys() - rerun} == {"skipped"}
    expected = sum((v for d, v in manifest.revenue_by_day.items() if d <= mid), Decimal("0"))
    assert query(shop, "SELECT sum(revenue), count(*) FROM gold.mart_daily_revenue")[0] == (expected, 15)

    # A rebuild of the facts, with nothing else changed, reruns everything that reads them (the marts first).
    refreshed = run_pipeline(
        shop, "shop", RunOptions(params={"run_date": mid.isoformat()}, jobs=2, full_refresh=["gold.fct_orders"])
    )
    statuses = {s["stage"]: s["status"] for s in open_store(shop).stage_runs(refreshed.run_id)}
    rerun = {name for name, status in statuses.items() if status == "success"}
    assert {"build_fct_orders", "build_mart_daily_revenue", "build_mart_revenue_by_country"} <= rerun
    assert rerun == {"build_fct_orders"} | downstream_of(load_pipeline(shop, "shop").needs, ["build_fct_orders"])


def _outputs(path: Path) -> str:
    nb = nbformat.read(REPO / path, as_version=4)
    return "\n".join(o.get("data", {}).get("text/plain", "") for c in nb.cells for o in c.get("outputs", []))


def test_committed_notebook_outputs_agree_with_the_generator():
    """nbval compares notebooks with their committed outputs; here those outputs meet the truth."""
    import tempfile

    from shop.generate import generate

    truth = generate(Path(tempfile.mkdtemp()) / "raw", seed=42, scale=1.0)
    mart = _outputs(Path("notebooks/gold/35_build_mart_daily_revenue.ipynb"))
    assert f"Materialized gold.mart_daily_revenue (table): {truth.days} rows" in mart
    assert re.search(rf"\b{truth.days}\s+{truth.revenue_orders}\s+{truth.revenue_total}\b", mart), mart
    orders = _outputs(Path("notebooks/silver/22_clean_orders.ipynb"))
    assert f"Materialized silver.orders (table): {truth.valid_rows['orders']:,} rows" in orders
    for reason, rows in truth.dirt["orders"].items():
        assert re.search(rf"\b{reason}\s+{rows}\b", orders), reason
    report = _outputs(Path("notebooks/reports/50_render_shop_report.ipynb"))
    assert f"revenue  {truth.revenue_total:,.2f}" in report


def test_stage_html_hides_inputs_and_opens_offline(shop):
    require_chromium()
    store = open_store(shop)
    first_run = store.runs(10)[-1]["run_id"]
    stage = next(s for s in store.stage_runs(first_run) if s["stage"] == "clean_orders")
    html = shop.root / stage["html"]
    text = html.read_text()
    assert "Materialized silver.orders (table): 5,000 rows" in text
    assert "ctx.materialize(" not in text, "input cells are hidden"
    page = render_page(html, wait_ms=500)
    assert page.console_errors == [] and page.failed_requests == []


def test_a_stage_notebook_runs_under_plain_papermill(shop, tmp_path):
    """Last in this module: it rebuilds the mart outside the runner."""
    import subprocess
    import sys

    from millpond.environment import personal_env
    from millpond.project import project_of

    out = tmp_path / "mart.ipynb"
    production = count(shop, "gold.mart_daily_revenue")
    papermill = Path(sys.executable).parent / "papermill"
    env = {k: v for k, v in __import__("os").environ.items() if not k.startswith("MILLPOND_")}
    subprocess.run(
        [
            str(papermill),
            str(shop.root / "notebooks/gold/35_build_mart_daily_revenue.ipynb"),
            str(out),
            "-p",
            "run_date",
            "2024-01-10",
            "--no-progress-bar",
        ],
        cwd=shop.root,
        env=env,
        check=True,
        capture_output=True,
    )
    executed = nbformat.read(out, as_version=4)
    assert any("injected-parameters" in c.metadata.get("tags", []) for c in executed.cells)
    # issue 21.1: outside `millpond run` it built in the person's own environment, from
    # production's gold.fct_orders, and production's mart and history did not change
    mine = personal_env()
    assert count(shop, f"gold__{mine}.mart_daily_revenue") == 10
    assert count(shop, "gold.mart_daily_revenue") == production
    assert open_store(shop).latest_materialization("gold.mart_daily_revenue").run_id is not None
    latest = project_of(shop).store(mine).latest_materialization("gold.mart_daily_revenue")
    assert (latest.run_id, latest.rows) == (None, 10)
