"""Lineage through a workspace: ctx.materialize records each build's SQL (all kinds);
columns are followed through the intermediate tables; impact lists the checks.

The small warehouse (worked out by hand)::

    bronze.orders     <- memtable (order_id, customer_id, amount)            table
    bronze.customers  <- memtable (customer_id, email)                       table
    silver.orders     = SELECT * FROM bronze.orders                          view
    silver.customers  = bronze.customers + email_upper = upper(email)        incremental (merge)
    gold.revenue      = silver.orders JOIN silver.customers                  table
                        GROUP BY email_upper: revenue = sum(amount)
    gold.customer_ids = silver.customers.customer_id AS id                   materialized_view
    gold.export       written by a stage without ctx.materialize (declared: needs build_revenue)
"""

from __future__ import annotations

import json

import ibis
import pytest

from millpond.cli import main
from millpond.errors import MillpondError
from millpond.lineage.columns import IN_MEMORY, ColumnRef
from millpond.lineage.workspace import impact, workspace_lineage
from millpond.stage_api.context import StageContext
from millpond.workspace import Workspace
from support.workspaces import make_workspace, write_notebook

STAGES = [
    {"name": "ingest", "notebook": "notebooks/n.ipynb", "produces": ["bronze.orders", "bronze.customers"]},
    {
        "name": "clean",
        "notebook": "notebooks/n.ipynb",
        "needs": ["ingest"],
        "produces": ["silver.orders", "silver.customers"],
        "checks": {"silver.customers": [{"not_null": ["email_upper"]}], "silver.orders": [{"row_count": {"min": 1}}]},
    },
    {
        "name": "build_revenue",
        "notebook": "notebooks/n.ipynb",
        "needs": ["clean"],
        "produces": ["gold.revenue"],
        "checks": {"gold.revenue": [{"between": {"column": "revenue", "min": 0, "name": "revenue is not negative"}}]},
    },
    {"name": "export", "notebook": "notebooks/n.ipynb", "needs": ["build_revenue"], "produces": ["gold.export"]},
]


@pytest.fixture(scope="module")
def workspace(tmp_path_factory) -> Workspace:
    root = tmp_path_factory.mktemp("lineage")
    write_notebook(root / "notebooks/n.ipynb", "x = 1", "pass")
    make_workspace(root, {"p": {"stages": STAGES}})
    ws = Workspace(root)
    ctx = StageContext(ws)
    try:
        ctx.materialize(
            ibis.memtable({"order_id": [1, 2], "customer_id": [1, 1], "amount": [5.0, 7.0]}), "bronze.orders"
        )
        ctx.materialize(ibis.memtable({"customer_id": [1], "email": ["a@x.org"]}), "bronze.customers")
        ctx.materialize(ctx.table("bronze.orders"), "silver.orders", kind="view")
        customers = ctx.table("bronze.customers")
        ctx.materialize(
            customers.mutate(email_upper=customers.email.upper()),
            "silver.customers",
            kind="incremental",
            strategy="merge",
            unique_key="customer_id",
        )
        orders, customers = ctx.table("silver.orders"), ctx.table("silver.customers")
        joined = orders.join(customers, "customer_id")
        ctx.materialize(joined.group_by("email_upper").agg(revenue=joined.amount.sum()), "gold.revenue")
        ctx.materialize(customers.select(id=customers.customer_id), "gold.customer_ids", kind="materialized_view")
    finally:
        ctx.close()
    return ws


def test_every_kind_of_build_records_its_sql(workspace):
    records = workspace_lineage(workspace).graph.records
    assert sorted(records) == [
        "bronze.customers",
        "bronze.orders",
        "gold.customer_ids",
        "gold.revenue",
        "silver.customers",
        "silver.orders",
    ]
    assert set(records["gold.customer_ids"].sources) == {"silver.customers"}
    assert records["silver.customers"].dialect == "duckdb"
    assert set(records["gold.revenue"].sources) == {"silver.orders", "silver.customers"}
    assert records["gold.revenue"].sources["silver.customers"] == {
        "customer_id": "int64",
        "email": "string",
        "email_upper": "string",
    }


def test_columns_are_followed_through_the_intermediate_tables(workspace):
    graph = workspace_lineage(workspace).graph
    assert graph.origins(ColumnRef("gold.revenue", "revenue")) == {ColumnRef(IN_MEMORY, "amount")}
    assert graph.origins(ColumnRef("gold.revenue", "email_upper")) == {ColumnRef(IN_MEMORY, "email")}
    assert graph.sources(ColumnRef("gold.customer_ids", "id")) == [ColumnRef("silver.customers", "customer_id")]
    tree = graph.column_tree(ColumnRef("gold.revenue", "revenue")).to_dict()
    chain = []
    while tree["children"]:
        (tree,) = tree["children"]
        chain.append(tree["name"])
    assert chain == ["silver.orders.amount", "bronze.orders.amount", f"{IN_MEMORY}.amount"]


def test_impact_is_exact_and_names_the_checks(workspace):
    lineage = workspace_lineage(workspace)
    found = impact(lineage, ColumnRef("bronze.customers", "email"))
    # its values reach email_upper; gold.revenue groups by email_upper, so its rows (all its columns) change
    assert found["columns"] == [
        "gold.revenue.email_upper",
        "gold.revenue.revenue",
        "silver.customers.email",
        "silver.customers.email_upper",
    ]
    assert (found["tables"], found["rows"]) == (["gold.revenue", "silver.customers"], ["gold.revenue"])
    assert [(c["table"], c["check"]) for c in found["checks"]] == [
        ("silver.customers", "email_upper is not null"),
        ("gold.revenue", "revenue is not negative"),
    ]
    # the join key carries no value past silver.orders, but decides which orders meet which customer
    found = impact(lineage, ColumnRef("bronze.orders", "customer_id"))
    assert found["columns"] == ["gold.revenue.email_upper", "gold.revenue.revenue", "silver.orders.customer_id"]
    assert found["rows"] == ["gold.revenue"] and [c["check"] for c in found["checks"]] == ["revenue is not negative"]
    # an amount only feeds the sum: values, no rows
    found = impact(lineage, ColumnRef("bronze.orders", "amount"))
    assert (found["columns"], found["rows"]) == (["gold.revenue.revenue", "silver.orders.amount"], [])
    assert [c["check"] for c in found["checks"]] == ["revenue is not negative"]


def test_table_lineage_uses_the_pipeline_for_tables_built_otherwise(workspace):
    graph = workspace_lineage(workspace).graph
    up = graph.table_tree("gold.export").to_dict()
    assert [c["name"] for c in up["children"]] == ["gold.revenue"]
    assert [c["name"] for c in up["children"][0]["children"]] == ["silver.customers", "silver.orders"]
    down = graph.table_tree("bronze.orders", downstream=True, depth=1).to_dict()
    assert [(c["name"], c.get("truncated", False)) for c in down["children"]] == [("silver.orders", True)]


def test_cli_prints_trees_and_json(workspace, capsys):
    root = str(workspace.root)
    assert main(["lineage", "gold.revenue.revenue", "-C", root]) == 0
    out = capsys.readouterr().out
    assert "silver.orders.amount" in out and "bronze.orders.amount" in out and "(in-memory table)" in out
    assert main(["lineage", "bronze.customers.email", "--downstream", "--json", "-C", root]) == 0
    tree = json.loads(capsys.readouterr().out)
    assert tree["direction"] == "downstream"
    assert sorted(c["name"] for c in tree["children"]) == ["silver.customers.email", "silver.customers.email_upper"]
    assert main(["impact", "bronze.orders.amount", "--json", "-C", root]) == 0
    found = json.loads(capsys.readouterr().out)
    assert found["tables"] == ["gold.revenue", "silver.orders"]
    # stages (e.g. reports) that read an affected table, from their declared needs
    assert found["stages"] == [
        {"stage": "p:build_revenue", "reads": ["silver.orders"]},
        {"stage": "p:clean", "reads": ["bronze.orders"]},
        {"stage": "p:export", "reads": ["gold.revenue"]},
    ]
    assert main(["impact", "bronze.orders.amount", "-C", root]) == 0
    out = capsys.readouterr().out
    assert "changing bronze.orders.amount affects 2 columns in 2 tables" in out
    assert "gold.revenue: revenue is not negative" in out


@pytest.mark.parametrize(
    ("target", "message"),
    [
        ("gold.nope", "error: no lineage for table gold.nope:"),
        (
            "gold.revenue.nope",
            "error: table gold.revenue has no column 'nope' in its latest build (columns: email_upper, revenue)",
        ),
        ("gold.export.x", "error: no column lineage for gold.export.x:"),
    ],
)
def test_unknown_tables_and_columns_are_one_line_errors(workspace, capsys, target, message):
    assert main(["impact", target, "-C", str(workspace.root)]) == 2
    err = capsys.readouterr().err
    assert err.startswith(message) and err.count("\n") == 1


def test_a_table_without_a_column_is_not_an_impact_target(workspace):
    with pytest.raises(MillpondError, match="impact is per column"):
        from millpond.cli.lineage_view import show_impact

        show_impact(workspace, "gold.revenue")
