"""The docs site of the reference workspace, in headless Chromium with the network off.

What the pages must show comes from sources independent of the site code:

* every table: the warehouse's own ``information_schema`` plus what the pipeline files
  declare (raw files read, tables produced: flights' too, though only shop ran);
* a table's columns: DuckDB's ``DESCRIBE``;
* the upstream of ``gold.mart_daily_revenue``, read off lib/shop/*.py and the
  notebooks: the mart reads ``fct_orders`` and ``dim_date`` (a date spine the engine
  generates: it reads no table); ``fct_orders`` reads silver orders, order lines, payments and
  ``dim_customer``; silver orders read bronze orders and silver customers, order lines
  read bronze order lines, silver orders and products, payments read bronze payments
  and silver orders; ``dim_customer`` reads silver customers; each silver table reads
  its bronze table, and each bronze table its raw file;
* the column edge ``fct_orders.net_amount -> mart_daily_revenue.revenue`` (the mart
  sums ``net_amount``, gold.py), and what ``revenue`` derives from: ``net_amount`` is
  quantity, unit price and discount of the silver order lines, parsed from the bronze
  order lines, read from ``order_lines.parquet`` (see tests/lib/lineage/test_reference_lineage.py);
* the columns that decide the mart's rows (``MART_ROW_SOURCES``, from its filters, groupings and joins).

Screenshots land in tests/artifacts/ (docs_index.png, docs_table.png,
docs_lineage_columns.png, docs_search.png).
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from millpond.docs import write_site
from support.chromium import render_page, require_chromium
from support.reference import REPO
from support.workspaces import query

pytestmark = [pytest.mark.slow, pytest.mark.chromium]

ARTIFACTS = Path(__file__).parent / "artifacts"
GRAPH_READY = "document.getElementById('lineage') && document.getElementById('lineage').dataset.rendered === 'ok'"
MART_UPSTREAM = sorted(
    [
        "gold.fct_orders",
        "gold.dim_date",
        "gold.dim_customer",
        "silver.orders",
        "silver.order_lines",
        "silver.payments",
        "silver.customers",
        "silver.products",
        "bronze.orders",
        "bronze.order_lines",
        "bronze.payments",
        "bronze.customers",
        "bronze.products",
        "data/raw/orders.csv",
        "data/raw/order_lines.parquet",
        "data/raw/payments.csv",
        "data/raw/customers.csv",
        "data/raw/products.parquet",
    ]
)

# gold.py's mart_daily_revenue: orders up to run_date (order_date), revenue ones (is_revenue) and
# the others, grouped by date_key, left-joined to the date spine (dates up to run_date) on date_key
MART_ROW_SOURCES = [
    "gold.dim_date.date",
    "gold.dim_date.date_key",
    "gold.fct_orders.date_key",
    "gold.fct_orders.is_revenue",
    "gold.fct_orders.order_date",
]


@pytest.fixture(scope="module")
def site(shop_reference, tmp_path_factory) -> Path:
    require_chromium()
    return write_site(shop_reference, tmp_path_factory.mktemp("docs") / "site")


def _assert_clean(result) -> None:
    assert result.ready, "the page never finished drawing"
    assert result.console_errors == [] and result.failed_requests == []


def test_the_index_lists_every_table_and_a_click_opens_its_page(site, shop_reference):
    tables = {
        f"{schema}.{name}"
        for schema, name in query(
            shop_reference,
            (
                "SELECT table_schema, table_name FROM information_schema.tables"
                " WHERE table_schema NOT LIKE '\\_%' ESCAPE '\\' AND table_name NOT LIKE '\\_%' ESCAPE '\\'"
            ),
        )
    }
    stages = [
        stage
        for path in sorted((REPO / "pipelines").glob("*.yml"))
        for stage in yaml.safe_load(path.read_text())["stages"]
    ]
    declared = {name for stage in stages for name in [*stage.get("reads", []), *stage.get("produces", [])]}
    result = render_page(
        site / "index.html",
        screenshot=ARTIFACTS / "docs_index.png",
        wait_for=GRAPH_READY,
        wait_ms=20000,
        evaluate={"listed": "[...document.querySelectorAll('tr[data-table]')].map(r => r.dataset.table)"},
    )
    _assert_clean(result)
    assert sorted(result.values["listed"]) == sorted(tables | declared)
    result = render_page(
        site / "index.html",
        wait_for=GRAPH_READY,
        wait_ms=20000,
        steps=[
            (
                "document.querySelector('tr[data-table=\"gold.fct_orders\"] a.table-link').click()",
                "document.getElementById('table-name') && document.getElementById('lineage').dataset.rendered === 'ok'",
            )
        ],
    )
    _assert_clean(result)
    assert '<h1 id="table-name">gold.fct_orders</h1>' in result.dom
    described = [name for name, *_ in query(shop_reference, "DESCRIBE gold.fct_orders")]
    assert [c.split('"')[0] for c in result.dom.split('data-column="')[1:]] == described


def test_the_index_graph_shows_layers_first_and_opens_one_on_a_click(site, shop_reference):
    """Issue 21.5: the whole workspace at first zoom was a hairball; now one node per layer,
    collapsed, and a layer's tables on demand."""
    gold = {
        f"gold.{name}"
        for (name,) in query(
            shop_reference,
            "SELECT table_name FROM information_schema.tables WHERE table_schema = 'gold' AND table_name NOT LIKE '\\_%' ESCAPE '\\'",
        )
    }
    for path in (shop_reference.root / "pipelines").glob("*.yml"):  # declared but not built here: listed too
        stages = yaml.safe_load(path.read_text()).get("stages", [])
        gold |= {table for stage in stages for table in stage.get("produces", []) if table.startswith("gold.")}
    result = render_page(
        site / "index.html",
        wait_for=GRAPH_READY,
        wait_ms=20000,
        evaluate={"groups": "MILLPOND_LINEAGE.groups()", "tables": "MILLPOND_LINEAGE.tables()"},
    )
    _assert_clean(result)
    assert result.values["tables"] == []  # every layer closed
    assert f"gold \u00b7 {len(gold)} tables" in result.values["groups"]
    assert {"bronze", "silver", "raw files"} <= {g.split(" \u00b7 ")[0] for g in result.values["groups"]}
    opened = render_page(
        site / "index.html",
        wait_for=GRAPH_READY,
        wait_ms=20000,
        screenshot=ARTIFACTS / "docs_index_gold_open.png",
        steps=[("MILLPOND_LINEAGE.toggle('group:gold')", None)],
        evaluate={"groups": "MILLPOND_LINEAGE.groups()", "tables": "MILLPOND_LINEAGE.tables()"},
    )
    _assert_clean(opened)
    assert opened.values["tables"] == sorted(gold)
    assert "gold" in opened.values["groups"]  # the open layer is a frame named by its layer


def test_the_lineage_graph_shows_the_upstream_tables_and_expands_to_columns(site, shop_reference):
    mart = site / "gold" / "gold.mart_daily_revenue.html"
    result = render_page(
        mart,
        screenshot=ARTIFACTS / "docs_table.png",
        wait_for=GRAPH_READY,
        wait_ms=20000,
        evaluate={
            "upstream": "MILLPOND_LINEAGE.upstream()",
            "tables": "MILLPOND_LINEAGE.tables()",
            "rows": "[...document.querySelectorAll('#row-sources code')].map(c => c.textContent)",
        },
    )
    _assert_clean(result)
    assert result.values["rows"] == MART_ROW_SOURCES
    assert result.values["upstream"] == MART_UPSTREAM
    assert result.values["tables"] == sorted([*MART_UPSTREAM, "gold.mart_daily_revenue"])  # nothing reads the mart
    expanded = render_page(
        mart,
        screenshot=ARTIFACTS / "docs_lineage_columns.png",
        wait_for=GRAPH_READY,
        wait_ms=20000,
        steps=[
            (
                "MILLPOND_LINEAGE.toggle('gold.mart_daily_revenue'); MILLPOND_LINEAGE.toggle('gold.fct_orders');"
                " MILLPOND_LINEAGE.toggle('gold.mart_daily_revenue::revenue')",
                None,
            )
        ],
        evaluate={
            "columns": "MILLPOND_LINEAGE.columns('gold.mart_daily_revenue')",
            "edges": "MILLPOND_LINEAGE.edges()",
            "lit": "MILLPOND_LINEAGE.lit()",
        },
    )
    _assert_clean(expanded)
    described = [name for name, *_ in query(shop_reference, "DESCRIBE gold.mart_daily_revenue")]
    assert expanded.values["columns"] == described
    assert ["gold.fct_orders::net_amount", "gold.mart_daily_revenue::revenue"] in expanded.values["edges"]
    # clicking revenue lights exactly its sources: net_amount, then (collapsed) the order lines it sums
    assert expanded.values["lit"] == sorted(
        [
            "gold.mart_daily_revenue::revenue",
            "gold.fct_orders::net_amount",
            "silver.order_lines",
            "bronze.order_lines",
            "data/raw/order_lines.parquet",
        ]
    )


def test_search_finds_a_column_and_its_hit_opens_the_page(site):
    result = render_page(
        site / "index.html",
        screenshot=ARTIFACTS / "docs_search.png",
        wait_for=GRAPH_READY,
        wait_ms=20000,
        steps=[
            (
                "const box = document.getElementById('search'); box.value = 'valid_from';"
                " box.dispatchEvent(new Event('input'))",
                None,
            )
        ],
        evaluate={
            "hits": "[...document.querySelectorAll('#search-results li a')].map(a => a.textContent)",
            "kinds": "[...document.querySelectorAll('#search-results li')].map(li => li.dataset.kind)",
        },
    )
    _assert_clean(result)
    assert result.values["hits"] == ["gold.dim_customer.valid_from"]  # the SCD 2 column, and only it
    assert result.values["kinds"] == ["column"]
    opened = render_page(
        site / "index.html",
        wait_ms=20000,
        wait_for=GRAPH_READY,
        steps=[
            (
                "const box = document.getElementById('search'); box.value = 'email'; box.dispatchEvent(new Event('input'));"
                " document.querySelector('#search-results a[href$=\"gold.dim_customer.html#column-email\"]').click()",
                "location.hash === '#column-email' && document.getElementById('table-name')",
            )
        ],
        evaluate={"title": "document.getElementById('table-name').textContent", "hash": "location.hash"},
    )
    _assert_clean(opened)
    assert opened.values == {"title": "gold.dim_customer", "hash": "#column-email"}
