"""Federation: a live PostgreSQL table joined with a warehouse table, filters and projections run
by PostgreSQL, only what was asked for moved. Expected rows come from the source database."""

from __future__ import annotations

import uuid

import ibis
import psycopg
import pytest
import yaml

import millpond as mp
from millpond.errors import MillpondError

pytestmark = pytest.mark.postgres

PASSWORD = "fed-s3cret-41"


@pytest.fixture
def workspace(tmp_path, postgres_server, monkeypatch):
    url = postgres_server.fresh_database(f"fed_{uuid.uuid4().hex[:12]}").replace("postgres://", "postgresql://")
    with psycopg.connect(url, autocommit=True) as db:
        db.execute("CREATE TABLE orders (id integer PRIMARY KEY, customer integer, note text, amount numeric(10, 2))")
        db.execute(
            "INSERT INTO orders SELECT g, g % 50, repeat('x', 200), (g % 997) / 10.0 FROM generate_series(1, 20000) g"
        )
    (tmp_path / "pipelines").mkdir()
    (tmp_path / "millpond.yml").write_text(
        yaml.safe_dump({"name": "f", "secrets": {"crm_password": {"env": "CRM_PASSWORD"}}})
    )
    source = {
        "kind": "postgres_table",
        "target": "bronze.orders",
        "options": {"url": url, "table": "public.orders", "primary_key": ["id"]},
        "secrets": {"password": "secret:crm_password"},
    }
    stage = {"name": "ingest", "notebook": "i.ipynb", "produces": ["bronze.orders"]}
    (tmp_path / "pipelines/f.yml").write_text(yaml.safe_dump({"sources": {"crm": source}, "stages": [stage]}))
    monkeypatch.setenv("MILLPOND_ENV", "prod")
    monkeypatch.setenv("CRM_PASSWORD", PASSWORD)
    return tmp_path, url


def test_a_live_table_joins_a_warehouse_table_moving_only_what_was_asked(workspace):
    root, url = workspace
    ctx = mp.stage(root)
    try:
        ctx.materialize(ibis.memtable({"customer": list(range(50)), "segment": ["a", "b"] * 25}), "gold.customers")
        orders = ctx.remote("crm")
        recent = orders.filter(orders.id > 19990).select("id", "customer", "amount")  # runs on PostgreSQL
        local = ctx.bring(recent)
        customers = ctx.table("gold.customers")
        joined = local.join(customers, "customer").select("id", "segment", "amount").order_by("id")
        got = [tuple(r.values()) for r in joined.to_pyarrow().to_pylist()]
    finally:
        ctx.close()
    with psycopg.connect(url) as db:
        want = db.execute(
            "SELECT id, CASE WHEN customer % 2 = 0 THEN 'a' ELSE 'b' END, amount FROM orders WHERE id > 19990 ORDER BY id"
        ).fetchall()
    assert got == [tuple(r) for r in want] and len(got) == 10
    moved = ctx.moved
    assert moved.rows == 10 and moved.bytes < 10 * 64  # ten narrow rows, not 20,000 rows of 200-byte notes
    assert "WHERE" in moved.sql and "note" not in moved.sql  # the filter and the projection went to PostgreSQL
    assert PASSWORD not in moved.sql


def test_a_failure_names_the_source_and_never_the_password(workspace):
    root, _ = workspace
    spec = root / "pipelines/f.yml"
    spec.write_text(spec.read_text().replace("public.orders", "public.nothing"))
    ctx = mp.stage(root)
    try:
        with pytest.raises(MillpondError, match="call ctx.remote"):
            ctx.bring(ibis.memtable({"a": [1]}))
        with pytest.raises(MillpondError) as caught:
            ctx.bring(ctx.remote("crm").limit(1))
        with pytest.raises(MillpondError, match="no remote source 'erp' open \\(open: crm\\)"):
            ctx.bring(ibis.memtable({"a": [1]}), "erp")
    finally:
        ctx.close()
    assert "source crm:" in str(caught.value) and PASSWORD not in str(caught.value)
