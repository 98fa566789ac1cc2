"""``millpond catalog``: the list, one entry, --json, --tag, --search, an unknown table."""

from __future__ import annotations

import json

from millpond.cli import main


def _lines(out: str) -> dict[str, str]:
    """Table rows of the rich output by their first cell."""
    rows = {}
    for line in out.splitlines():
        cells = [c.strip() for c in line.strip("│ ").split("│")]
        if len(cells) > 1:
            rows[cells[0]] = line
    return rows


def test_the_list_shows_every_entry(workspace, capsys):
    assert main(["catalog", "-C", str(workspace)]) == 0
    out = capsys.readouterr().out
    assert "catalog (5 of 5)" in out
    rows = _lines(out)
    assert set(rows) >= {"data/raw/orders.csv", "bronze.orders", "gold.orders", "gold.unbuilt", "lab.scratch"}
    cells = [c.strip() for c in rows["gold.orders"].strip("│ ").split("│")]
    # table, layer, kind, owner, tags, rows, size, last run, age, stage, quality
    assert cells[:6] == ["gold.orders", "gold", "incremental", "sales", "finance", "3"]
    assert cells[7] == "r2" and cells[9] == "shop.build" and cells[10] == "warn 2/1/0"


def test_tag_and_search_filter_and_say_what_matched(workspace, capsys):
    assert main(["catalog", "-C", str(workspace), "--tag", "pii"]) == 0
    rows = _lines(capsys.readouterr().out)
    assert set(rows) - {"table"} == {"gold.orders"} and "pii: email" in rows["gold.orders"]
    assert main(["catalog", "-C", str(workspace), "--search", "receipts"]) == 0
    rows = _lines(capsys.readouterr().out)
    assert set(rows) - {"table"} == {"gold.orders"} and "column email description" in rows["gold.orders"]
    assert main(["catalog", "-C", str(workspace), "--tag", "nothing"]) == 0
    assert capsys.readouterr().out.strip() == "no catalog entries tagged nothing"


def test_json_lists_the_selected_entries(workspace, capsys):
    assert main(["catalog", "-C", str(workspace), "--tag", "finance", "--json"]) == 0
    entries = json.loads(capsys.readouterr().out)
    assert [e["name"] for e in entries] == ["gold.orders"]
    assert entries[0]["quality"] == {
        "run_id": "r2",
        "checked_at": entries[0]["quality"]["checked_at"],
        "passed": 2,
        "warned": 1,
        "failed": 0,
    }
    assert [c["name"] for c in entries[0]["columns"] if "finance" in c["tags"]] == ["amount"]


def test_one_table_in_full(workspace, capsys):
    assert main(["catalog", "gold.orders", "-C", str(workspace)]) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[0] == "gold.orders (gold, incremental)"
    assert "owner:       sales" in out and "primary key: order_id" in out
    assert "built by:    shop.build (notebooks/build.ipynb)" in out
    rows = _lines(out)
    assert [c.strip() for c in rows["amount"].strip("│ ").split("│")] == [
        "amount",
        "decimal(18, 2)",
        "",
        "finance",
        "net amount in EUR",
    ]
    assert [c.strip() for c in rows["order_id"].strip("│ ").split("│")][:3] == ["order_id", "int64", "✓"]
    assert main(["catalog", "gold.orders", "-C", str(workspace), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["primary_key"] == ["order_id"]


def test_an_unknown_table_is_one_line_and_exit_2(workspace, capsys):
    assert main(["catalog", "gold.ordrs", "-C", str(workspace)]) == 2
    err = capsys.readouterr().err
    # closest first (difflib, ratio above 0.6)
    assert err == "error: no table 'gold.ordrs' in the catalog; did you mean gold.orders, bronze.orders?\n"
