"""The catalog of a small workspace (tests/lib/catalog/conftest.py), every value worked out by hand."""

from __future__ import annotations

import datetime as dt

import pytest

from millpond.catalog import build_catalog
from millpond.catalog.entry import ColumnEntry, QualityStatus
from millpond.errors import MillpondError
from millpond.warehouse.lease import Lease
from millpond.workspace import Workspace
from support.stores import store_file

UTC = dt.timezone.utc


def test_one_entry_per_raw_file_table_built_or_declared(workspace):
    catalog = build_catalog(Workspace(workspace), now=5000.0)
    assert [(e.name, e.layer, e.kind) for e in catalog.entries] == [
        ("data/raw/orders.csv", "raw", "file"),
        ("bronze.orders", "bronze", "table"),
        ("gold.orders", "gold", "incremental"),  # the latest of its two builds
        ("gold.unbuilt", "gold", None),  # declared, never built
        ("lab.scratch", "lab", "view"),  # built outside any pipeline
    ]
    assert catalog.made_at == dt.datetime.fromtimestamp(5000, UTC)


def test_a_declared_and_built_table(workspace):
    entry = build_catalog(Workspace(workspace), now=5000.0, sizes=False).entry("gold.orders")
    assert (entry.description, entry.owner, entry.tags, entry.primary_key) == (
        "One row per order.",
        "sales",
        ["finance"],
        ["order_id"],
    )
    assert entry.columns == [
        ColumnEntry(name="order_id", type="int64", in_primary_key=True),
        ColumnEntry(name="amount", type="decimal(18, 2)", description="net amount in EUR", tags=["finance"]),
        ColumnEntry(name="email", type="string", description="where receipts go", tags=["pii"]),
    ]
    assert (entry.rows, entry.run_id, entry.built_at, entry.age_seconds) == (
        3,
        "r2",
        dt.datetime.fromtimestamp(2000, UTC),
        3000.0,
    )
    assert (entry.pipeline, entry.stage, entry.notebook) == ("shop", "build", "notebooks/build.ipynb")
    # run r2 checked it last: its 2 passes and 1 warning; r1's failures (and its check "gone") no longer count
    assert entry.quality == QualityStatus(
        run_id="r2", checked_at=entry.quality.checked_at, passed=2, warned=1, failed=0
    )
    assert entry.quality.status == "warn"
    assert entry.size_bytes is None  # sizes=False


def test_declared_columns_show_before_the_first_build_and_the_contract_key_is_the_key(workspace):
    entry = build_catalog(Workspace(workspace), now=5000.0).entry("gold.unbuilt")
    assert entry.columns == [ColumnEntry(name="k", type=None, description="the key", in_primary_key=True)]
    assert entry.primary_key == ["k"]
    assert (entry.rows, entry.built_at, entry.age_seconds, entry.quality) == (None, None, None, None)


def test_raw_files_and_tables_outside_any_pipeline(workspace):
    catalog = build_catalog(Workspace(workspace), now=5000.0)
    raw = catalog.entry("data/raw/orders.csv")
    # read by two pipelines; 15 bytes; modified at 4000
    assert (raw.read_by, raw.size_bytes, raw.age_seconds) == (["shop.ingest", "zz_other.report"], 15, 1000.0)
    scratch = catalog.entry("lab.scratch")
    assert (scratch.pipeline, scratch.stage, scratch.notebook, scratch.rows) == (None, None, None, None)
    assert scratch.columns == [ColumnEntry(name="x", type="int64")]


def test_sizes_come_from_the_warehouse_when_it_is_free(workspace, warehouse):
    ws = Workspace(workspace)
    sizes = {e.name: e.size_bytes for e in build_catalog(ws, now=5000.0).entries if e.layer != "raw"}
    # three rows share a 256 KiB DuckDB block: their bytes, not the block's (issue 21.4);
    # the other tables are not in the warehouse
    assert 0 < sizes.pop("gold.orders") < 4096
    assert sizes == {"bronze.orders": None, "gold.unbuilt": None, "lab.scratch": None}
    busy = Lease(warehouse, "a running stage")
    assert busy.try_acquire()
    try:  # never waits for a run: the sizes are left out
        assert build_catalog(ws, now=5000.0).entry("gold.orders").size_bytes is None
    finally:
        busy.release()


def test_a_workspace_never_run_has_entries_from_its_specs_only(tmp_path):
    (tmp_path / "millpond.yml").write_text("name: w\n")
    (tmp_path / "pipelines").mkdir()
    (tmp_path / "pipelines" / "p.yml").write_text(
        "stages:\n- {name: s, notebook: n.ipynb, produces: [gold.a], tables: {gold.a: {tags: [pii]}}}\n"
    )
    catalog = build_catalog(Workspace(tmp_path))
    assert [(e.name, e.tags, e.rows) for e in catalog.entries] == [("gold.a", ["pii"], None)]
    assert not store_file(tmp_path).exists()  # the catalog creates no store


def test_search_and_tags(workspace):
    catalog = build_catalog(Workspace(workspace), now=5000.0, sizes=False)
    assert [e.name for e in catalog.tagged("pii")] == ["gold.orders"]  # a column's tag
    assert [e.name for e in catalog.tagged("FINANCE")] == ["gold.orders"]
    assert catalog.entry("gold.orders").matches("receipts") == ["column email description"]
    assert [e.name for e in catalog.search("orders")] == ["data/raw/orders.csv", "bronze.orders", "gold.orders"]
    assert [e.name for e in catalog.search("key")] == ["gold.unbuilt"]  # column k's description
    assert catalog.search("sales") == [catalog.entry("gold.orders")]  # the owner


def test_an_invalid_pipeline_file_is_reported_with_its_line(workspace):
    (workspace / "pipelines" / "shop.yml").write_text(
        "stages:\n- name: s\n  notebook: n.ipynb\n  produces: [gold.a]\n  tables: {gold.a: {ownr: x}}\n"
    )
    with pytest.raises(MillpondError, match=r"^pipelines/shop.yml:5: stages\[0\].tables.gold.a.ownr: unknown key"):
        build_catalog(Workspace(workspace))


@pytest.mark.timeout(20)  # the catalog read specs with yaml.load, then validated the expanded bomb
def test_an_alias_bomb_in_a_pipeline_file_is_one_line(workspace):
    bomb = "a0: &a0 [x, x, x, x, x, x, x, x, x]\n" + "".join(
        f"a{i + 1}: &a{i + 1} [{', '.join([f'*a{i}'] * 9)}]\n" for i in range(8)
    )
    (workspace / "pipelines" / "shop.yml").write_text(bomb + "stages: *a8\n")
    with pytest.raises(MillpondError, match=r"^pipelines/shop.yml:\d+: a\d\[\d\]: YAML alias \*a\d makes the document"):
        build_catalog(Workspace(workspace))


def test_warehouse_sizes_on_each_engine_leave_views_out(con):
    import ibis

    from millpond.engines import engine_for
    from millpond.engines.duckdb_file import table_sizes as duckdb_sizes
    from millpond.warehouse.materialize import materialize

    materialize(con, ibis.memtable({"id": list(range(1000))}), "gold.t")
    materialize(con, con.table("t", database="gold"), "gold.v", kind="view")
    if con.name == "postgres":
        sizes = engine_for(con).table_sizes(["gold.t", "gold.v"])
        # 1000 int64 rows need more than one 8 kB heap page; the size is whole pages
        assert list(sizes) == ["gold.t"] and sizes["gold.t"] >= 2 * 8192 and sizes["gold.t"] % 8192 == 0
    else:  # an in-memory database writes no blocks
        assert duckdb_sizes(con.con, ["gold.t", "gold.v"]) == {"gold.t": 0}


def test_a_duckdb_files_tables_are_sized_by_their_own_bytes(tmp_path):
    import duckdb

    from millpond.engines.duckdb_file import file_table_sizes

    path = tmp_path / "w.duckdb"
    with duckdb.connect(str(path)) as con:
        con.execute("CREATE SCHEMA g")
        con.execute("CREATE TABLE g.one AS SELECT 1 AS a")
        con.execute("CREATE TABLE g.few AS SELECT range AS a, range * 2 AS b FROM range(30)")
        con.execute("CREATE TABLE g.big AS SELECT range AS a, md5(range::VARCHAR) AS b FROM range(200000)")
    sizes = file_table_sizes(path, ["g.one", "g.few", "g.big"])
    assert sizes["g.one"] < sizes["g.few"] < 4096  # a few bytes each (a constant column: none), not a block each
    # 200,000 md5 digests hold 16 random bytes each however they are compressed: at least 3.2 MB
    assert sizes["g.big"] > 200_000 * 16
    assert sum(sizes.values()) <= path.stat().st_size


def test_the_reference_pipelines_tag_pii_and_finance_columns():
    from pathlib import Path

    catalog = build_catalog(Workspace(Path(__file__).parents[3]), sizes=False)
    assert [e.name for e in catalog.tagged("pii")] == ["gold.dim_customer", "silver.customers"]
    assert catalog.entry("silver.customers").tagged_columns("pii") == ["first_name", "last_name", "email", "phone"]
    orders = catalog.entry("gold.fct_orders")
    assert orders.primary_key == ["order_id"] and orders.owner == "sales-analytics"  # the contract's key
    assert {"gross_amount", "discount_amount", "net_amount", "paid_amount"} <= set(orders.tagged_columns("finance"))
    assert catalog.entry("flights_gold.fct_flights").primary_key == ["flight_key"]
