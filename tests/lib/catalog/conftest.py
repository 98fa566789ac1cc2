"""A small workspace whose catalog is known by hand: two pipelines' worth of declarations,
a raw file, a metadata store filled the way the runner fills it, and a DuckDB warehouse."""

from __future__ import annotations

import os
import textwrap
from pathlib import Path

import pytest

from millpond.store.metadata import Materialization
from support.stores import store_of

PIPELINE = """\
name: shop
stages:
  - name: ingest
    notebook: notebooks/ingest.ipynb
    reads: [data/raw/orders.csv]
    produces: [bronze.orders]
  - name: build
    notebook: notebooks/build.ipynb
    needs: [ingest]
    produces: [gold.orders, gold.unbuilt]
    tables:
      gold.orders:
        description: One row per order.
        owner: sales
        tags: [finance]
        primary_key: [order_id]
        columns:
          amount: {description: net amount in EUR, tags: [finance]}
          email: {description: where receipts go, tags: [pii]}
      gold.unbuilt:
        contract: {primary_key: [k]}
        columns:
          k: {description: the key}
"""
OTHER = """\
stages:
  - name: report
    notebook: notebooks/report.ipynb
    reads: [data/raw/orders.csv]
"""
RAW = "id,amount\n1,10\n"  # 15 bytes
ORDERS = {"order_id": "int64", "amount": "decimal(18, 2)", "email": "string"}


@pytest.fixture
def workspace(tmp_path) -> Path:
    root = tmp_path / "ws"
    (root / "pipelines").mkdir(parents=True)
    (root / "millpond.yml").write_text("name: w\nwarehouse: duckdb://data/warehouse.duckdb\n")
    (root / "pipelines" / "shop.yml").write_text(PIPELINE)
    (root / "pipelines" / "zz_other.yml").write_text(textwrap.dedent(OTHER))
    raw = root / "data" / "raw" / "orders.csv"
    raw.parent.mkdir(parents=True)
    raw.write_text(RAW)
    os.utime(raw, (4000, 4000))
    store = store_of(root)
    store.record_materialization(
        Materialization("bronze.orders", "table", 7, {"id": "string"}, 0.1, "f1", "r1", "ingest", 1000.0)
    )
    store.record_materialization(
        Materialization("gold.orders", "table", 9, {"order_id": "int64"}, 0.1, "f2", "r1", "build", 1000.0)
    )
    store.record_materialization(
        Materialization("gold.orders", "incremental", 3, ORDERS, 0.2, "f3", "r2", "build", 2000.0)
    )
    store.record_materialization(
        Materialization("lab.scratch", "view", None, {"x": "int64"}, 0.1, "f4", None, None, 3000.0)
    )
    fail = {"table": "gold.orders", "severity": "error", "status": "fail", "failing_rows": 2}
    store.record_checks("r1", "build", [fail | {"check": "a"}, fail | {"check": "gone"}])
    store.record_checks(
        "r2",
        "build",
        [
            {"table": "gold.orders", "check": "a", "severity": "error", "status": "pass", "failing_rows": 0},
            {"table": "gold.orders", "check": "b", "severity": "error", "status": "pass", "failing_rows": 0},
            {"table": "gold.orders", "check": "c", "severity": "warn", "status": "warn", "failing_rows": 1},
        ],
    )
    return root


@pytest.fixture
def warehouse(workspace) -> Path:
    """``gold.orders`` (3 rows) in the workspace's DuckDB file, closed again."""
    import duckdb

    path = workspace / "data" / "warehouse.duckdb"
    con = duckdb.connect(str(path))
    con.execute(
        "CREATE SCHEMA gold; CREATE TABLE gold.orders AS SELECT * FROM (VALUES (1, 1.5, 'a@x'), "
        "(2, 2.5, 'b@x'), (3, 3.5, 'c@x')) AS t(order_id, amount, email)"
    )
    con.close()
    return path
