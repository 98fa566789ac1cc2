"""Data products: validation of domains and products, and the catalog's SLA and readiness judgement."""

from __future__ import annotations

import pytest

from millpond.catalog import build_catalog
from millpond.catalog.entry import QualityStatus
from millpond.catalog.products import product_status
from millpond.errors import SpecError
from millpond.pipeline.load import load_pipeline
from millpond.settings.tables import ProductSpec, parse_duration
from millpond.store.metadata import Materialization
from millpond.workspace import Workspace
from support.stores import store_of
from support.workspaces import make_workspace, write_notebook

PRODUCT = """\
        description: One row per order.
        owner: sales-analytics
        contract: {not_null: [order_id], primary_key: [order_id]}
        product: {sla: 24h}
"""


def spec(orders_tables: str = PRODUCT, mart_domain: str = "marketing", needs: str = "[orders]") -> str:
    """sales builds gold.orders (a product when ``orders_tables`` says so) and gold.refunds;
    a stage of ``mart_domain`` builds gold.mart from what ``needs`` names."""
    tables = f"    tables:\n      gold.orders:\n{orders_tables}" if orders_tables else ""
    return f"""\
domain: sales
stages:
  - name: orders
    notebook: notebooks/a.ipynb
    produces: [gold.orders]
{tables}  - name: refunds
    notebook: notebooks/a.ipynb
    produces: [gold.refunds]
  - name: mart
    notebook: notebooks/a.ipynb
    domain: {mart_domain}
    needs: {needs}
    produces: [gold.mart]
"""


@pytest.fixture
def ws(tmp_path):
    write_notebook(tmp_path / "notebooks/a.ipynb", "x = 1", "print(x)")
    make_workspace(tmp_path, {})
    return Workspace(tmp_path)


def load(ws: Workspace, text: str):
    (ws.root / "pipelines" / "p.yml").write_text(text)
    return load_pipeline(ws, "p")


def rejection(ws: Workspace, text: str) -> str:
    with pytest.raises(SpecError) as info:
        load(ws, text)
    assert "\n" not in str(info.value)
    return str(info.value)


def test_another_domain_may_read_a_published_product(ws):
    pipeline = load(ws, spec())
    assert pipeline.stage("mart").domain == "marketing" and pipeline.spec.domain == "sales"
    assert pipeline.stage("orders").tables["gold.orders"].product.sla_seconds == 24 * 3600


def test_the_same_domain_reads_unpublished_tables(ws):
    load(ws, spec(mart_domain="sales", needs="[orders, refunds]"))


def test_reading_another_domains_unpublished_table_fails_naming_stage_domain_and_table(ws):
    # stage 'mart' is stages[2]; its `needs:` is line 18 of the file
    message = rejection(ws, spec(needs="[orders, refunds]"))
    assert message == (
        "pipelines/p.yml:18: stages[2].needs: stage 'mart' (domain marketing) reads sales table gold.refunds "
        "(through stage 'refunds'), which is not a published data product; publish it "
        "(tables: gold.refunds: product: ...) or drop 'refunds' from needs"
    )


def test_a_table_with_catalog_fields_but_no_product_is_not_published(ws):
    documented = "        description: One row per order.\n        owner: sales-analytics\n"
    assert "reads sales table gold.orders" in rejection(ws, spec(orders_tables=documented))


def test_a_product_without_owner_or_contract_names_what_is_missing(ws):
    message = rejection(ws, spec(orders_tables="        description: One row per order.\n        product: {}\n"))
    # gold.orders' `product:` is line 9
    assert message == (
        "pipelines/p.yml:9: stages[0].tables.gold.orders.product: data product gold.orders has no owner, contract; "
        "a product must declare description, owner, contract (add owner:, contract: under `tables: gold.orders:`)"
    )


def test_an_sla_that_is_not_a_duration_is_rejected_where_it_stands(ws):
    message = rejection(ws, spec(orders_tables=PRODUCT.replace("24h", "a day")))
    assert message.startswith("pipelines/p.yml:") and "product.sla" in message and "'a day'" in message


def test_stages_without_a_domain_are_not_checked(ws):
    load(ws, spec(needs="[orders, refunds]").replace("domain: sales\n", "", 1))


def test_durations():
    assert parse_duration("90s") == 90 and parse_duration("2d") == 172_800 and parse_duration(" 1.5h ") == 5400
    for bad in ("24", "h", "-1h", "0s", "1w", True):
        with pytest.raises(ValueError):
            parse_duration(bad)


@pytest.mark.parametrize(
    ("age", "quality", "within", "reasons"),
    [
        (86_400.0, QualityStatus(run_id="r1", passed=3), True, []),  # exactly 24h old: still within
        (86_401.0, QualityStatus(run_id="r1", passed=3), False, ["built 24.0h ago, over its 24h SLA"]),
        (3_600.0, QualityStatus(run_id="r2", passed=1, warned=2), True, []),  # warnings do not block
        (3_600.0, QualityStatus(run_id="r2", passed=1, failed=2), True, ["2 checks failed in run r2"]),
        (3_600.0, None, True, []),  # never checked: nothing failed
        (None, None, False, ["never built"]),
    ],
)
def test_readiness(age, quality, within, reasons):
    status = product_status(ProductSpec(sla="24h"), "sales", age, quality)
    assert (status.within_sla, status.reasons, status.ready, status.sla) == (within, reasons, not reasons, "24h")


def test_checks_need_not_pass_when_the_product_says_so():
    status = product_status(ProductSpec(checks_must_pass=False), "sales", 10.0, QualityStatus(failed=1))
    assert (status.ready, status.within_sla, status.sla) == (True, None, None)


def test_the_catalog_shows_domain_and_product_status(ws):
    load(ws, spec(needs="[orders]"))
    store = store_of(ws)
    # gold.orders built at t=1000, gold.mart at t=50_000; the catalog is made at t=100_000
    store.record_materialization(
        Materialization("gold.orders", "table", 3, {"order_id": "int64"}, 0.1, "f1", "r1", "orders", 1000.0)
    )
    store.record_materialization(
        Materialization("gold.mart", "table", 2, {"n": "int64"}, 0.1, "f2", "r1", "mart", 50_000.0)
    )
    catalog = build_catalog(ws, now=100_000.0, sizes=False)
    orders, mart = catalog.entry("gold.orders"), catalog.entry("gold.mart")
    assert (orders.domain, mart.domain, mart.product) == ("sales", "marketing", None)
    # 99_000 s = 27.5 h old against a 24 h SLA: stale, so not ready
    assert orders.product.model_dump() == {
        "domain": "sales",
        "sla": "24h",
        "within_sla": False,
        "ready": False,
        "reasons": ["built 27.5h ago, over its 24h SLA"],
    }
    assert build_catalog(ws, now=87_400.0, sizes=False).entry("gold.orders").product.ready  # 86_400 s: within


def test_the_reference_workspace_has_two_domains_and_marketing_reads_sales_products():
    from pathlib import Path

    shop = load_pipeline(Workspace(Path(__file__).resolve().parents[3]), "shop", check_notebooks=False)
    domains = {s.name: s.domain or shop.spec.domain for s in shop.spec.stages}
    assert domains.pop("build_mart_revenue_by_country") == "marketing" and set(domains.values()) == {"sales"}
    mart = shop.stage("build_mart_revenue_by_country")
    assert [table for up in mart.needs for table in shop.stage(up).produces] == ["gold.fct_orders", "gold.dim_customer"]
    assert all(shop.stage(up).tables[t].product for up in mart.needs for t in shop.stage(up).produces)


def test_a_failed_error_check_makes_a_fresh_product_not_ready_in_the_catalog(ws):
    load(ws, spec())
    store = store_of(ws)
    store.record_materialization(
        Materialization("gold.orders", "table", 3, {"order_id": "int64"}, 0.1, "f1", "r1", "orders", 1000.0)
    )
    row = {"table": "gold.orders", "severity": "error", "failing_rows": 0}
    store.record_checks(
        "r1", "orders", [row | {"check": "a", "status": "pass"}, row | {"check": "b", "status": "warn"}]
    )
    assert build_catalog(ws, now=2000.0, sizes=False).entry("gold.orders").product.ready  # a warning does not block
    store.record_checks("r2", "orders", [row | {"check": "a", "status": "fail", "failing_rows": 4}])
    status = build_catalog(ws, now=2000.0, sizes=False).entry("gold.orders").product
    assert (status.within_sla, status.ready, status.reasons) == (True, False, ["1 check failed in run r2"])
    assert status.summary == "sales data product: not ready (1 check failed in run r2)"
