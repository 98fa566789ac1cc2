"""The whole shop chain, bronze -> silver -> gold, held against the generator's manifest.

Runs on ``generate(tmp, seed=7, scale=0.2)`` and on the same shop three days later (``day=3``) into a fresh in-memory DuckDB (files read
by DuckDB, then by pyarrow) and into a fresh database of the session's throwaway
PostgreSQL server (files read by pyarrow). The expected numbers all come from
``_manifest.json``, which the generator computed from its clean records without Ibis.
"""

from __future__ import annotations

import uuid
from collections import Counter
from datetime import datetime
from pathlib import Path

import ibis
import pytest

from shop import bronze, gold, marketing, silver
from shop.generate import generate
from shop.manifest import Manifest, read_manifest
from shop.raw_files import SOURCES

LOADED = datetime(2024, 2, 1)


def _create(con, name: str, expression):
    return con.create_table(name, expression, overwrite=True)


def _build(con, root: Path, manifest: Manifest, reader: str) -> dict[str, dict]:
    """Materialize every layer the way stage notebooks would; return bronze/clean/rejected/gold tables."""
    raw = root / "data" / "raw"
    b = {
        s: _create(con, f"bronze_{s}", bronze.load_source(con, raw, s, root=root, loaded_at=LOADED, reader=reader))
        for s in SOURCES
    }
    split = {
        "customers": silver.classify_customers(b["customers"]),
        "products": silver.classify_products(b["products"]),
    }
    clean = {s: _create(con, f"silver_{s}", split[s].clean()) for s in ("customers", "products")}
    split["orders"] = silver.classify_orders(b["orders"], clean["customers"])
    clean["orders"] = _create(con, "silver_orders", split["orders"].clean())
    split["order_lines"] = silver.classify_order_lines(b["order_lines"], clean["orders"], clean["products"])
    split["payments"] = silver.classify_payments(b["payments"], clean["orders"])
    split["events"] = silver.classify_events(b["events"])
    for s in ("order_lines", "payments", "events"):
        clean[s] = _create(con, f"silver_{s}", split[s].clean())
    rejected = {s: _create(con, f"rejected_{s}", split[s].rejected()) for s in SOURCES}
    dim_customer = _create(con, "dim_customer", gold.dim_customer(clean["customers"]))
    dim_product = _create(con, "dim_product", gold.dim_product(clean["products"]))
    dim_date = _create(con, "dim_date", gold.dim_date(manifest.start, manifest.end))
    fct_orders = _create(
        con, "fct_orders", gold.fct_orders(clean["orders"], clean["order_lines"], clean["payments"], dim_customer)
    )
    gold_tables = {
        "dim_customer": dim_customer,
        "dim_product": dim_product,
        "dim_date": dim_date,
        "fct_orders": fct_orders,
        "fct_order_lines": _create(
            con, "fct_order_lines", gold.fct_order_lines(clean["order_lines"], clean["orders"], dim_product)
        ),
        "mart_daily_revenue": _create(
            con, "mart_daily_revenue", gold.mart_daily_revenue(fct_orders, dim_date, manifest.end)
        ),
    }
    return {"bronze": b, "clean": clean, "rejected": rejected, "gold": gold_tables}


def _value(con, scalar):
    """Execute a scalar expression through Arrow (``execute`` goes through pandas)."""
    return con.to_pyarrow(scalar).as_py()


@pytest.fixture(scope="module", params=[0, 3], ids=["window", "day3"])
def generated(request, tmp_path_factory) -> tuple[Path, Manifest]:
    """The window itself, and the shop three days later (late orders, changed, deleted and
    returned customers, a new column: :mod:`shop.days`), whose dirt must add up as exactly."""
    root = tmp_path_factory.mktemp("workspace")
    generate(root / "data" / "raw", seed=7, scale=0.2, day=request.param)
    return root, read_manifest(root / "data" / "raw")


@pytest.fixture(scope="module", params=["duckdb", "arrow", pytest.param("postgres", marks=pytest.mark.postgres)])
def warehouse(request, generated):
    root, manifest = generated
    if request.param == "postgres":
        server = request.getfixturevalue("postgres_server")
        database = f"shop_{uuid.uuid4().hex[:12]}"
        server.fresh_database(database)
        con = ibis.postgres.connect(**server.connect_kwargs(database))
        try:
            yield con, _build(con, root, manifest, "arrow"), manifest
        finally:
            con.disconnect()
            server.drop_database(database)
    else:
        con = ibis.duckdb.connect()
        yield con, _build(con, root, manifest, "native" if request.param == "duckdb" else "arrow"), manifest


@pytest.mark.parametrize("source", SOURCES)
def test_rows_in_equal_clean_plus_rejected(warehouse, source):
    con, layers, manifest = warehouse
    rows_in = _value(con, layers["bronze"][source].count())
    clean = _value(con, layers["clean"][source].count())
    rejected = _value(con, layers["rejected"][source].count())
    assert (rows_in, clean, rejected) == (
        manifest.raw_rows[source],
        manifest.valid_rows[source],
        manifest.rejected_rows(source),
    )


@pytest.mark.parametrize("source", SOURCES)
def test_every_injected_fault_is_rejected_for_its_reason(warehouse, source):
    con, layers, manifest = warehouse
    reasons = con.to_pyarrow(layers["rejected"][source])["reason"].to_pylist()
    assert dict(Counter(reasons)) == manifest.dirt[source]


def test_daily_revenue_matches_the_truth_to_the_cent(warehouse):
    con, layers, manifest = warehouse
    mart = con.to_pyarrow(layers["gold"]["mart_daily_revenue"]).to_pylist()
    assert {row["date"]: row["revenue"] for row in mart} == manifest.revenue_by_day
    assert {row["date"]: row["orders"] for row in mart} == manifest.orders_by_day
    assert sum(row["revenue"] for row in mart) == manifest.revenue_total
    assert str(layers["gold"]["mart_daily_revenue"].schema()["revenue"]) == "decimal(18, 2)"


def test_order_facts_match_the_truth(warehouse):
    con, layers, manifest = warehouse
    facts = layers["gold"]["fct_orders"]
    by_status = con.to_pyarrow(facts.group_by("status").aggregate(n=facts.count())).to_pylist()
    assert {row["status"]: row["n"] for row in by_status} == {k: v for k, v in manifest.orders_by_status.items() if v}
    assert _value(con, facts.filter(facts.is_revenue).net_amount.sum()) == manifest.revenue_total
    assert _value(con, facts.paid_amount.sum()) == manifest.payments_total
    assert _value(con, facts.customer_key.isnull().sum()) == 0
    lines = layers["gold"]["fct_order_lines"]
    assert _value(con, lines.filter(lines.is_revenue).amount.sum()) == manifest.revenue_total
    by_country = con.to_pyarrow(marketing.revenue_by_country(facts, layers["gold"]["dim_customer"])).to_pylist()
    assert {row["country"]: row["revenue"] for row in by_country} == manifest.revenue_by_country


def test_dimensions_match_the_truth(warehouse):
    con, layers, manifest = warehouse
    customers = con.to_pyarrow(layers["gold"]["dim_customer"]).to_pylist()
    assert len(customers) == manifest.valid_rows["customers"]
    assert dict(Counter(row["country"] for row in customers)) == manifest.customers_by_country
    assert all(row["email"] == row["email"].strip().lower() for row in customers)
    phones = [row["phone"] for row in customers if row["phone"] is not None]
    assert phones and all(phone[0] == "+" and phone[1:].isdigit() for phone in phones)
    assert _value(con, layers["gold"]["dim_product"].count()) == manifest.valid_rows["products"]
    assert _value(con, layers["gold"]["dim_date"].count()) == manifest.days


def test_events_match_the_truth(warehouse):
    con, layers, manifest = warehouse
    events = con.to_pyarrow(layers["clean"]["events"]).to_pylist()
    assert sum(row["is_late"] for row in events) == manifest.late_events
    assert sum(row["customer_id"] is None for row in events) == manifest.anonymous_events
    assert dict(Counter(row["event_type"] for row in events)) == manifest.events_by_type
