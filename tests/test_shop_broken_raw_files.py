"""End to end: broken raw files on a reference workspace made by the generator (issue 19, point 4).

One workspace is built once (generate, then `millpond run shop`); each test copies it,
breaks a raw file and runs the pipeline again. Expected values come from the
generator's manifest and from the lines each test writes, never from the pipeline.
"""

from __future__ import annotations

import json
import shutil

import pytest

from millpond.run.progress import PlainReporter
from millpond.run.runner import RunOptions, open_store, run_pipeline
from millpond.workspace import Workspace
from shop.manifest import read_manifest
from support.reference import build_reference_workspace
from support.workspaces import query

pytestmark = pytest.mark.slow

GOLD = (
    "gold.dim_customer",
    "gold.dim_product",
    "gold.dim_date",
    "gold.fct_orders",
    "gold.fct_order_lines",
    "gold.mart_daily_revenue",
    "gold.mart_revenue_by_country",
)


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    return build_reference_workspace(tmp_path_factory.mktemp("broken") / "workspace").root


@pytest.fixture
def shop(built, tmp_path):
    """A copy of the built workspace (warehouse and metadata store included), for one test to break."""
    return Workspace(shutil.copytree(built, tmp_path / "workspace", symlinks=True))


def rerun(ws: Workspace, capsys):
    capsys.readouterr()
    result = run_pipeline(ws, "shop", RunOptions(jobs=2), reporter=PlainReporter())
    return result, capsys.readouterr().out


def count(ws, table: str) -> int:
    return query(ws, f"SELECT count(*) FROM {table}")[0][0]


def gold_versions(ws) -> dict[str, tuple[int, str]]:
    store = open_store(ws)
    return {name: (v[-1].version, v[-1].content_hash) for name in GOLD if (v := store.table_versions(name))}


def test_a_header_only_orders_file_fails_before_gold_is_touched(shop, capsys):
    manifest = read_manifest(shop.path("data/raw"))
    before = gold_versions(shop)
    raw = shop.path("data/raw/orders.csv")
    raw.write_text(raw.read_text().splitlines()[0] + "\n")  # the header, no order

    result, out = rerun(shop, capsys)

    assert result.exit_code == 1
    stages = {s["stage"]: s for s in open_store(shop).stage_runs(result.run_id)}
    assert stages["ingest_orders"]["status"] == "failed"
    reason = (
        f"bronze.orders: the new build failed its audit, the previous version stays: "
        f"volume: 0 rows, fewer than min_rows 1 (would replace {manifest.raw_rows['orders']:,})"
    )
    assert reason in stages["ingest_orders"]["error"] and reason in out
    for stage in ("clean_orders", "build_fct_orders", "build_fct_order_lines", "check_gold"):
        assert stages[stage]["status"] == "upstream_failed", stage
    # bronze, silver and gold still hold the previous run's rows: the generator's truth
    assert count(shop, "bronze.orders") == manifest.raw_rows["orders"]
    assert count(shop, "silver.orders") == manifest.valid_rows["orders"]
    assert count(shop, "gold.fct_orders") == manifest.valid_rows["orders"]
    assert count(shop, "gold.fct_order_lines") == manifest.valid_rows["order_lines"]
    # ... consistent with each other: every line's order is an order, every order's lines are there
    assert query(shop, "SELECT count(*) FROM gold.fct_order_lines l ANTI JOIN gold.fct_orders o USING (order_id)") == [
        (0,)
    ]
    assert query(shop, "SELECT sum(line_count) FROM gold.fct_orders") == [(manifest.valid_rows["order_lines"],)]
    # ... and no gold table has a new version (a rebuild of the same content keeps its hash)
    after = gold_versions(shop)
    assert {n: h for n, (_, h) in after.items()} == {n: h for n, (_, h) in before.items()}
    assert {n: v for n, (v, _) in after.items() if n in ("gold.fct_orders", "gold.fct_order_lines")} == {
        n: v for n, (v, _) in before.items() if n in ("gold.fct_orders", "gold.fct_order_lines")
    }


def test_an_empty_payments_file_keeps_the_bronze_table(shop, capsys):
    manifest = read_manifest(shop.path("data/raw"))
    columns = [
        c
        for (c,) in query(
            shop,
            "SELECT column_name FROM information_schema.columns "
            "WHERE table_schema = 'bronze' AND table_name = 'payments' ORDER BY ordinal_position",
        )
    ]
    shop.path("data/raw/payments.csv").write_bytes(b"")

    result, out = rerun(shop, capsys)

    assert result.exit_code == 1
    stages = {s["stage"]: s for s in open_store(shop).stage_runs(result.run_id)}
    assert stages["ingest_payments"]["status"] == "failed"
    assert "bronze.payments: the new build failed its audit, the previous version stays: volume: 0 rows" in out
    assert count(shop, "bronze.payments") == manifest.raw_rows["payments"]
    assert [
        c
        for (c,) in query(
            shop,
            "SELECT column_name FROM information_schema.columns WHERE table_schema = 'bronze' "
            "AND table_name = 'payments' ORDER BY ordinal_position",
        )
    ] == columns
    assert count(shop, "gold.fct_orders") == manifest.valid_rows["orders"]


def _break(path, broken: dict) -> int:
    """Break the file's lines (number, 1 = header) as given; returns its data rows (lines after the header)."""
    lines = path.read_bytes().split(b"\n")
    for number, how in broken.items():
        lines[number - 1] = how(lines[number - 1])
    path.write_bytes(b"\n".join(lines))
    return sum(1 for line in lines[1:] if line)


def test_malformed_rows_are_quarantined_named_and_the_rest_loads(shop, capsys):
    from millpond.cli import main
    from shop.raw_files import CSV_COLUMNS

    raw_rows = {
        "orders": _break(
            shop.path("data/raw/orders.csv"), {10: lambda b: b + b",extra", 20: lambda b: b.rsplit(b",", 1)[0]}
        ),
        "customers": _break(shop.path("data/raw/customers.csv"), {6: lambda b: b.replace(b",", b",\xff", 1)}),
    }

    result, out = rerun(shop, capsys)

    assert result.exit_code == 0, out
    assert (
        "data/raw/orders.csv: 2 malformed rows, held in quarantine (reason malformed_row): "
        "line 10: expected 6 fields, found 7; line 20: expected 6 fields, found 5"
    ) in out
    assert (
        "data/raw/customers.csv: 1 malformed row, held in quarantine (reason malformed_row): line 6: invalid UTF-8"
        in out
    )
    assert main(["runs", result.run_id, "-C", str(shop.root), "--json"]) == 0
    stages = {s["stage"]: s for s in json.loads(capsys.readouterr().out)["stages"]}
    assert stages["ingest_orders"]["warnings"] == [
        (
            "data/raw/orders.csv: 2 malformed rows, held in quarantine (reason malformed_row): "
            "line 10: expected 6 fields, found 7; line 20: expected 6 fields, found 5"
        )
    ]
    assert stages["clean_orders"]["warnings"] == []

    columns = [
        c
        for (c,) in query(
            shop,
            "SELECT column_name FROM information_schema.columns WHERE table_schema = 'bronze' "
            "AND table_name = 'orders' ORDER BY ordinal_position",
        )
    ]
    assert columns == [*CSV_COLUMNS["orders"], "_source_line", "_load_error", "_raw_line", "_source_file", "_loaded_at"]
    for source, lines in (("orders", [10, 20]), ("customers", [6])):
        # every line of the file is a bronze row; bronze = silver + quarantine
        assert count(shop, f"bronze.{source}") == raw_rows[source]
        assert count(shop, f"bronze.{source}") == count(shop, f"silver.{source}") + count(shop, f"quarantine.{source}")
        held = query(
            shop,
            f"SELECT _source_file, _source_line FROM quarantine.{source} "
            "WHERE reason = 'malformed_row' ORDER BY _source_line",
        )
        assert held == [(f"data/raw/{source}.csv", line) for line in lines]


def test_a_run_failing_after_gold_was_built_publishes_no_gold_table(shop, capsys):
    import nbformat

    manifest = read_manifest(shop.path("data/raw"))
    before = gold_versions(shop)
    raw = shop.path("data/raw/orders.csv")
    lines = raw.read_bytes().split(b"\n")
    raw.write_bytes(b"\n".join(lines[:-1001] + [b""]))  # the last 1,000 orders are gone: within max_drop
    mart = shop.path("notebooks/gold/35_build_mart_daily_revenue.ipynb")  # a gold stage that fails after its build
    notebook = nbformat.read(mart, as_version=4)
    original = nbformat.writes(notebook)
    notebook.cells.append(nbformat.v4.new_code_cell("raise RuntimeError('broken after the build')"))
    nbformat.write(notebook, mart)

    result, out = rerun(shop, capsys)

    assert result.exit_code == 1
    stages = {s["stage"]: s["status"] for s in open_store(shop).stage_runs(result.run_id)}
    assert stages["build_fct_order_lines"] == "success" and stages["build_mart_daily_revenue"] == "failed"
    unpublished = [line for line in out.splitlines() if "not published: " in line]
    assert len(unpublished) == 1 and "gold.fct_order_lines" in unpublished[0] and "gold.fct_orders" in unpublished[0]
    # every gold table is as the previous, successful run left it, not one new version: the generator's truth
    assert gold_versions(shop) == before
    assert count(shop, "gold.fct_orders") == manifest.valid_rows["orders"]
    assert count(shop, "gold.fct_order_lines") == manifest.valid_rows["order_lines"]
    assert query(shop, "SELECT sum(line_count) FROM gold.fct_orders") == [(manifest.valid_rows["order_lines"],)]
    assert count(shop, "silver.orders") < manifest.valid_rows["orders"]  # silver is not in the group
    assert query(shop, "SELECT count(*) FROM information_schema.tables WHERE table_name LIKE '_mp_pending_%'") == [(0,)]

    mart.write_text(original)  # fixed: the gold stages run again and the whole group is published
    fixed, out = rerun(shop, capsys)
    assert fixed.exit_code == 0, out
    published = gold_versions(shop)
    assert published["gold.fct_order_lines"][0] > before["gold.fct_order_lines"][0]
    assert published["gold.mart_daily_revenue"][0] > before["gold.mart_daily_revenue"][0]
    assert count(shop, "gold.fct_order_lines") < manifest.valid_rows["order_lines"]  # the new, shorter input
    assert query(shop, "SELECT count(*) FROM gold.fct_order_lines l ANTI JOIN gold.fct_orders o USING (order_id)") == [
        (0,)
    ]
