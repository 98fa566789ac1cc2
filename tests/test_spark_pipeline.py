"""The reference pipeline, unchanged, on PySpark: every table it builds equals DuckDB's.

The workspace is the reference one with one line changed (``warehouse:
pyspark://local[2]``); the stages' kernels talk to one local Spark Connect server. The
expected tables come from a second engine: the DuckDB reference workspace
(``shop_reference``), built from the same generated files. Gold tables are compared
whole, types and rows; silver, quarantine and check results likewise, apart from the
columns that record when and in which run a row was loaded.
"""

from __future__ import annotations

import os
import re

import ibis
import pytest

from millpond.pipeline.load import load_pipeline
from millpond.run.progress import PlainReporter
from millpond.run.runner import RunOptions, open_store, run_pipeline
from millpond.warehouse.compare import table_differences
from millpond.warehouse.connect import connect
from millpond.workspace import Workspace
from shop.generate import generate
from support.reference import SCALE, SEED, build_reference_workspace
from support.spark import SPARK_URL, spark_server

pytestmark = [pytest.mark.slow, pytest.mark.spark]

RUN_TIME_COLUMNS = {"_loaded_at", "_run_id", "_quarantined_at", "run_id", "checked_at", "duration_s"}


def _on_spark(root) -> Workspace:
    spec = root / "millpond.yml"
    spec.write_text(re.sub(r"(?m)^warehouse: .*$", f"warehouse: {SPARK_URL}", spec.read_text()))
    return Workspace(root)


def test_the_shop_pipeline_builds_the_same_tables_on_spark_as_on_duckdb(tmp_path, shop_reference):
    ws = _on_spark(build_reference_workspace(tmp_path / "workspace", run=False).root)
    with spark_server(ws):
        with open(os.devnull, "w") as quiet:
            result = run_pipeline(ws, "shop", RunOptions(jobs=2), reporter=PlainReporter(quiet))
        errors = {s["stage"]: s["error"] for s in open_store(ws).stage_runs(result.run_id) if s["error"]}
        assert result.exit_code == 0, errors  # the stages' own errors when it fails
        built = sorted({t for s in load_pipeline(ws, "shop").spec.stages for t in s.produces})
        assert [t for t in built if t.startswith("gold.")] == [
            "gold.dim_customer",
            "gold.dim_date",
            "gold.dim_product",
            "gold.fct_order_lines",
            "gold.fct_orders",
            "gold.mart_daily_revenue",
            "gold.mart_revenue_by_country",
        ]
        spark = connect(ws)
        duck = ibis.duckdb.connect(str(shop_reference.warehouse_file()), read_only=True)
        try:
            differences = {}
            for name in built:
                layer, table = name.split(".")
                expected, got = duck.table(table, database=layer), spark.table(table, database=layer)
                kept = [c for c in expected.columns if c not in RUN_TIME_COLUMNS or layer == "gold"]
                found = table_differences(expected.select(kept), got.select(kept))
                if found:
                    differences[name] = found
            assert differences == {}
            revenue = spark.table("mart_daily_revenue", database="gold").revenue.sum().execute()
            assert revenue == duck.table("mart_daily_revenue", database="gold").revenue.sum().execute()
        finally:
            duck.disconnect()
            spark.disconnect()
        _next_day_on_spark(ws)


def _next_day_on_spark(ws: Workspace) -> None:
    """The day after, on Spark: the incremental facts let a deleted customer's orders go and take
    a very late order in; the type 2 dimension versions the real changes (the manifest's truth)."""
    manifest = generate(ws.path("data/raw"), seed=SEED, scale=SCALE, day=1)
    options = RunOptions(jobs=2, params={"run_date": manifest.end.isoformat()})
    with open(os.devnull, "w") as quiet:
        result = run_pipeline(ws, "shop", options, reporter=PlainReporter(quiet))
    errors = {s["stage"]: s["error"] for s in open_store(ws).stage_runs(result.run_id) if s["error"]}
    assert result.exit_code == 0, errors
    (change,) = manifest.history
    spark = connect(ws)
    try:
        facts = spark.table("fct_orders", database="gold").to_pyarrow()
        ids = set(facts["order_id"].to_pylist())
        assert len(ids) == facts.num_rows == manifest.valid_rows["orders"]
        revenue = sum(a for a, r in zip(facts["net_amount"].to_pylist(), facts["is_revenue"].to_pylist()) if r)
        assert revenue == manifest.revenue_total
        assert set(change.late_orders + change.very_late_orders) <= ids
        (gone,) = change.deleted
        held = spark.table("orders", database="quarantine")
        theirs = {int(o) for o in held.filter(held.customer_id == str(gone)).order_id.to_pyarrow().to_pylist()}
        assert theirs and not theirs & ids  # held in quarantine, gone from the facts
        dim = spark.table("dim_customer", database="gold").to_pyarrow().to_pylist()
        real = len(change.new_customers) + len(change.changed) + len(change.silent)
        first_day = manifest.valid_rows["customers"] - len(change.new_customers) + len(change.deleted)
        assert len(dim) == first_day + real
        assert [r["is_current"] for r in dim if r["customer_id"] == gone] == [False]
    finally:
        spark.disconnect()
