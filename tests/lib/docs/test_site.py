"""``millpond docs``: what the site holds, where it goes, and serving it.

The workspace is small and known by hand: a raw CSV read by ``bronze.orders``, which
``silver.orders`` doubles the amount of, which ``gold.revenue`` sums. The metadata store is
filled the way the runner fills it (builds, checks, compiled SQL), so every expected
value below follows from these few lines, not from running the site code.
"""

from __future__ import annotations

import json
import os
import re
import stat
import threading
import urllib.request
from pathlib import Path

import nbformat
import pytest
import yaml

from millpond.cli import main
from millpond.docs import write_site
from millpond.docs.serve import site_server
from millpond.docs.site_data import gather_site
from millpond.errors import MillpondError
from millpond.store.metadata import Materialization
from millpond.store.table_sql import TableSql
from millpond.workspace import Workspace
from support.stores import store_of
from support.workspaces import make_workspace

PIPELINE = """\
name: shop
stages:
  - {name: ingest, notebook: notebooks/ingest.ipynb, reads: [data/raw/orders.csv], produces: [bronze.orders]}
  - name: build
    notebook: notebooks/build.ipynb
    needs: [ingest]
    produces: [silver.orders, gold.revenue]
    tables:
      gold.revenue:
        description: "Revenue <script>alert(1)</script> in total."
        owner: sales
        tags: [finance]
        columns:
          revenue: {description: sum of doubled amounts, tags: [finance]}
"""
BRONZE = {"id": "int64", "amount": "int64", "email": "string"}


@pytest.fixture
def workspace(tmp_path) -> Workspace:
    root = make_workspace(tmp_path / "ws", {"shop": yaml.safe_load(PIPELINE)}, {"name": "docs-test"})
    raw = root / "data" / "raw" / "orders.csv"
    raw.parent.mkdir(parents=True)
    raw.write_text("id,amount,email\n1,10,a@x\n2,20,b@x\n")
    notebook = nbformat.v4.new_notebook(
        cells=[
            nbformat.v4.new_markdown_cell("# Build the revenue"),
            nbformat.v4.new_code_cell("ctx.materialize(revenue, 'gold.revenue')"),
        ]
    )
    (root / "notebooks").mkdir()
    nbformat.write(notebook, root / "notebooks" / "build.ipynb")
    (root / "notebooks" / "ingest.ipynb").write_text("{ not json")  # unreadable on purpose
    store = store_of(root)
    for run, rows, at in (("r1", 5, 1000.0), ("r2", 7, 2000.0)):
        store.record_materialization(
            Materialization("bronze.orders", "table", rows, BRONZE, 0.1, "f", run, "ingest", at)
        )
    store.record_materialization(
        Materialization(
            "silver.orders", "table", 7, {"id": "int64", "amount2": "int64"}, 0.1, "f", "r2", "build", 2001.0
        )
    )
    store.record_materialization(
        Materialization("gold.revenue", "table", 1, {"revenue": "int64"}, 0.1, "f", "r2", "build", 2002.0)
    )
    store.record_checks(
        "r1",
        "build",
        [{"table": "gold.revenue", "check": "has rows", "severity": "error", "status": "fail", "failing_rows": 1}],
    )
    store.record_checks(
        "r2",
        "build",
        [{"table": "gold.revenue", "check": "has rows", "severity": "error", "status": "pass", "failing_rows": 0}],
    )
    store.record_table_sql(
        TableSql("bronze.orders", "duckdb", 'SELECT "id", "amount", "email" FROM read_csv(\'data/raw/orders.csv\')', {})
    )
    store.record_table_sql(
        TableSql(
            "silver.orders",
            "duckdb",
            'SELECT "id", "amount" * 2 AS "amount2" FROM "bronze"."orders"',
            {"bronze.orders": BRONZE},
        )
    )
    store.record_table_sql(
        TableSql(
            "gold.revenue",
            "duckdb",
            'SELECT SUM("amount2") AS "revenue" FROM "silver"."orders" WHERE "id" > 0',
            {"silver.orders": {"id": "int64", "amount2": "int64"}},
        )
    )
    return Workspace(root)


def _browser_data(site: Path) -> dict:
    text = (site / "assets" / "data.js").read_text()
    return json.loads(text.removeprefix("window.MILLPOND_DOCS = ").rstrip().removesuffix(";"))


def test_every_table_and_raw_file_gets_a_page_and_the_index_links_them(workspace):
    site = write_site(workspace)
    assert site == workspace.root / "data" / "reports" / "docs"
    pages = sorted(p.relative_to(site).as_posix() for p in site.rglob("*.html"))
    assert pages == [
        "bronze/bronze.orders.html",
        "gold/gold.revenue.html",
        "index.html",
        "raw/data_raw_orders.csv.html",
        "silver/silver.orders.html",
    ]
    index = (site / "index.html").read_text()
    links = re.findall(r'class="table-link" href="([^"]+)"', index)
    assert sorted(links) == sorted(p for p in pages if p != "index.html")
    for asset in ("cytoscape.min.js", "cytoscape-dagre.min.js", "lineage.js", "site.js", "site.css", "data.js"):
        assert (site / "assets" / asset).stat().st_size > 0


def test_lineage_upstream_and_downstream_follow_the_sql(workspace):
    site = gather_site(workspace)
    assert site.page("gold.revenue").upstream == ["bronze.orders", "data/raw/orders.csv", "silver.orders"]
    assert site.page("gold.revenue").downstream == []
    assert site.page("bronze.orders").upstream == ["data/raw/orders.csv"]
    assert site.page("bronze.orders").downstream == ["gold.revenue", "silver.orders"]
    edges = {tuple(e) for e in site.graph["edges"]}
    assert ("silver.orders", "amount2", "gold.revenue", "revenue") in edges
    assert ("bronze.orders", "amount", "silver.orders", "amount2") in edges
    assert ("bronze.orders", "id", "silver.orders", "id") in edges
    assert not any(e[0] == "bronze.orders" and e[1] == "email" for e in edges)  # nothing reads the email
    nodes = {n["id"]: n for n in site.graph["nodes"]}
    assert nodes["silver.orders"]["reads"] == ["bronze.orders"]
    assert nodes["bronze.orders"]["reads"] == ["data/raw/orders.csv"]
    assert nodes["gold.revenue"]["page"] == "gold/gold.revenue.html"
    assert site.page("gold.revenue").row_sources == ["silver.orders.id"]  # its WHERE
    assert site.page("silver.orders").row_sources == []


def test_a_table_page_shows_entry_columns_quality_history_and_notebook(workspace):
    site = write_site(workspace)
    html = (site / "gold" / "gold.revenue.html").read_text()
    assert "<script>alert(1)</script>" not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert 'id="column-revenue"' in html and "sum of doubled amounts" in html
    assert re.search(
        r'data-check="has rows">.*?<span class="trend"><i class="fail"[^>]*></i><i class="pass"', html, re.S
    )
    assert "notebooks/build.ipynb" in html and "# Build the revenue" in html
    assert "ctx.materialize(revenue, &#39;gold.revenue&#39;)" in html
    bronze = (site / "bronze" / "bronze.orders.html").read_text()
    assert "The notebook could not be read" in bronze
    # two builds of bronze.orders: a rows chart, drawn by the Vega bundle the page loads first
    spec = json.loads(re.search(r'<script type="application/json" id="spec-rows">(.*?)</script>', bronze, re.S)[1])
    assert spec["data"]["values"] == [
        {"built": "1970-01-01 00:16", "rows": 5},
        {"built": "1970-01-01 00:33", "rows": 7},
    ]
    assert bronze.index("assets/vega.js") < bronze.index("assets/site.js")
    assert "spec-rows" not in html  # one build: no chart


def test_search_index_lists_tables_and_columns_with_their_docs(workspace):
    data = _browser_data(write_site(workspace))
    tables = {t["name"]: t for t in data["tables"]}
    assert set(tables) == {"data/raw/orders.csv", "bronze.orders", "silver.orders", "gold.revenue"}
    assert tables["gold.revenue"]["columns"] == [
        {"name": "revenue", "type": "int64", "description": "sum of doubled amounts", "tags": ["finance"]}
    ]
    assert [c["name"] for c in tables["bronze.orders"]["columns"]] == ["id", "amount", "email"]


def test_rewriting_replaces_the_old_site_and_leaves_nothing_behind(workspace, tmp_path):
    out = tmp_path / "site"
    write_site(workspace, out)
    (out / "gold" / "stale.html").write_text("old")
    write_site(workspace, out)
    assert not (out / "gold" / "stale.html").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["site", "ws"]  # no staging or old copies


def test_the_site_folder_is_readable_by_others_as_the_umask_allows(workspace, tmp_path):
    """Issue 21.4: the folder was created 0700 (a temporary folder renamed into place)."""
    previous = os.umask(0o022)
    try:
        out = write_site(workspace, tmp_path / "site")
    finally:
        os.umask(previous)
    assert stat.S_IMODE(out.stat().st_mode) == 0o755
    assert stat.S_IMODE((out / "index.html").stat().st_mode) == 0o644


def test_an_output_that_is_not_a_docs_site_is_refused_and_kept(workspace, tmp_path):
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "notes.txt").write_text("keep me")
    with pytest.raises(MillpondError, match="not empty and is not a docs site"):
        write_site(workspace, mine)
    assert (mine / "notes.txt").read_text() == "keep me" and len(list(mine.iterdir())) == 1
    a_file = tmp_path / "file.html"
    a_file.write_text("x")
    with pytest.raises(MillpondError, match="is a file"):
        write_site(workspace, a_file)


def test_the_command_writes_the_site_and_user_errors_are_one_line(workspace, tmp_path, capsys):
    out = tmp_path / "out"
    assert main(["docs", "-C", str(workspace.root), "--output", str(out)]) == 0
    assert capsys.readouterr().out.strip() == f"docs site: {out / 'index.html'}"
    (tmp_path / "busy").mkdir()
    (tmp_path / "busy" / "x").write_text("x")
    assert main(["docs", "-C", str(workspace.root), "--output", str(tmp_path / "busy")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("error: ") and "Traceback" not in err


def test_serve_answers_pages_and_refuses_a_folder_without_a_site(workspace, tmp_path):
    site = write_site(workspace)
    server = site_server(site, port=0)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        base = f"http://127.0.0.1:{server.server_address[1]}/"
        assert b"gold.revenue" in urllib.request.urlopen(base + "gold/gold.revenue.html").read()
        assert urllib.request.urlopen(base + "assets/data.js").read().startswith(b"window.MILLPOND_DOCS = ")
        with pytest.raises(MillpondError, match="choose another --port"):
            site_server(site, port=server.server_address[1])
    finally:
        server.shutdown()
        server.server_close()
    with pytest.raises(MillpondError, match="no docs site here"):
        site_server(tmp_path)


@pytest.mark.chromium
def test_the_rows_chart_and_the_graph_draw_offline(workspace):
    from support.chromium import render_page, require_chromium

    require_chromium()
    site = write_site(workspace)
    result = render_page(
        site / "bronze" / "bronze.orders.html",
        wait_ms=20000,
        wait_for="document.getElementById('chart-rows').dataset.rendered"
        " && document.getElementById('lineage').dataset.rendered",
        evaluate={
            "chart": "document.getElementById('chart-rows').dataset.rendered",
            "points": "document.querySelectorAll('#chart-rows svg path.mark-symbol,"
            " #chart-rows svg .mark-symbol path').length",
            "tables": "MILLPOND_LINEAGE.tables()",
        },
    )
    assert result.console_errors == [] and result.failed_requests == []
    assert result.values["chart"] == "ok" and result.values["points"] == 2  # the two builds
    assert result.values["tables"] == ["bronze.orders", "data/raw/orders.csv", "gold.revenue", "silver.orders"]
