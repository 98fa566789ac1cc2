"""Malformed raw CSV rows: bronze keeps them, silver holds them in quarantine, nothing is lost.

The generator's files with lines broken by the test: the expected counts and lines are
those the test wrote (the generator's CSV files hold no quoted line breaks, so a line is
a row). On DuckDB (``read_csv`` with ``store_rejects``) and on PostgreSQL (PyArrow).
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pytest

from millpond.warehouse.raw_files import malformed_rows_warning
from shop import silver
from shop.bronze import load_source
from shop.generate import generate
from shop.raw_files import CSV_COLUMNS

LOADED = datetime(2024, 2, 1, 6, 30)
# file line (1 = header) -> how the test breaks it
ORDERS_BROKEN = {4: lambda line: line + b",EXTRA", 9: lambda line: line.rsplit(b",", 2)[0]}
CUSTOMERS_BROKEN = {6: lambda line: line.replace(b",", b",\xff", 1)}


def _break(path: Path, broken: dict) -> dict[int, bytes]:
    lines = path.read_bytes().split(b"\n")
    for number, how in broken.items():
        lines[number - 1] = how(lines[number - 1])
    path.write_bytes(b"\n".join(lines))
    return {number: lines[number - 1] for number in broken}


@pytest.fixture(scope="module")
def workspace(tmp_path_factory):
    root = tmp_path_factory.mktemp("workspace")
    raw = root / "data" / "raw"
    generate(raw, seed=5, scale=0.05, days=4)
    written = {
        "orders": _break(raw / "orders.csv", ORDERS_BROKEN),
        "customers": _break(raw / "customers.csv", CUSTOMERS_BROKEN),
    }
    rows = {
        source: sum(1 for line in (raw / f"{source}.csv").read_bytes().split(b"\n")[1:] if line) for source in written
    }
    return root, written, rows


def _load(con, root: Path, source: str):
    return load_source(con, root / "data" / "raw", source, root=root, loaded_at=LOADED)  # the engine's own reader


def _count(con, table) -> int:
    return int(con.execute(table.count()))


def test_malformed_rows_reach_quarantine_with_file_line_and_reason(con, workspace):
    root, written, rows = workspace
    customers, orders = _load(con, root, "customers"), _load(con, root, "orders")
    split = {
        "customers": silver.classify_customers(customers),
        "orders": silver.classify_orders(orders, silver.clean_customers(customers)),
    }
    for source, bronze in (("customers", customers), ("orders", orders)):
        # every data line of the file is a bronze row, the malformed ones included
        assert _count(con, bronze) == rows[source], source
        clean, rejected = split[source].clean(), split[source].rejected()
        assert _count(con, bronze) == _count(con, clean) + _count(con, rejected), source  # the count law
        held = con.to_pyarrow(rejected.filter(rejected.reason == "malformed_row")).to_pylist()
        expected = {
            number: text.decode("utf-8", "replace").replace("\ufffd", "?") for number, text in written[source].items()
        }
        assert {r["_source_line"]: r["_raw_line"] for r in held} == expected, source
        assert {r["_source_file"] for r in held} == {f"data/raw/{source}.csv"}
        assert all(r[c] is None for r in held for c in CSV_COLUMNS[source])
        assert clean.columns[-2:] == ("_source_file", "_loaded_at")
        assert not {"_source_line", "_load_error", "_raw_line"} & set(clean.columns)

    assert malformed_rows_warning(orders) == (
        "data/raw/orders.csv: 2 malformed rows, held in quarantine (reason malformed_row): "
        "line 4: expected 6 fields, found 7; line 9: expected 6 fields, found 4"
    )
    assert malformed_rows_warning(customers) == (
        "data/raw/customers.csv: 1 malformed row, held in quarantine (reason malformed_row): line 6: invalid UTF-8"
    )


def test_a_clean_source_gives_no_warning(con, workspace):
    root, _, _ = workspace
    assert malformed_rows_warning(_load(con, root, "payments")) is None
    assert malformed_rows_warning(_load(con, root, "products")) is None  # parquet: no such columns
