"""Bronze readers: raw files as they are, the same through DuckDB and through pyarrow."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from millpond.warehouse.raw_files import read_arrow, source_file_name
from shop.bronze import load_source
from shop.generate import generate
from shop.raw_files import CSV_COLUMNS, SOURCES

LOADED = datetime(2024, 2, 1, 6, 30)


@pytest.fixture(scope="module")
def workspace(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("workspace")
    generate(root / "data" / "raw", seed=5, scale=0.05, days=4)
    return root


@pytest.mark.parametrize("source", SOURCES)
def test_duckdb_and_arrow_readers_agree(duckdb_con, workspace, source):
    raw = workspace / "data" / "raw"
    native = load_source(duckdb_con, raw, source, root=workspace, loaded_at=LOADED)
    arrow = load_source(duckdb_con, raw, source, root=workspace, loaded_at=LOADED, reader="arrow")
    assert native.schema() == arrow.schema()
    order = [name for name in native.columns if not name.startswith("_")] + ["_source_file"]
    assert duckdb_con.to_pyarrow(native.order_by(order)).equals(duckdb_con.to_pyarrow(arrow.order_by(order)))


@pytest.mark.parametrize("source", sorted(CSV_COLUMNS))
def test_csv_sources_are_all_text_with_load_metadata(duckdb_con, workspace, source):
    table = load_source(duckdb_con, workspace / "data" / "raw", source, root=workspace, loaded_at=LOADED)
    # a malformed row's line, error and text (NULL on every row that parsed), then where and when it was loaded
    assert table.columns == (
        *CSV_COLUMNS[source],
        "_source_line",
        "_load_error",
        "_raw_line",
        "_source_file",
        "_loaded_at",
    )
    assert {str(table.schema()[name]) for name in CSV_COLUMNS[source]} == {"string"}
    metadata = duckdb_con.to_pyarrow(table.select("_source_file", "_loaded_at").distinct()).to_pylist()
    assert metadata == [{"_source_file": f"data/raw/{source}.csv", "_loaded_at": LOADED}]


def test_unparseable_text_is_kept_not_nulled(duckdb_con, workspace):
    payments = load_source(duckdb_con, workspace / "data" / "raw", "payments", root=workspace, loaded_at=LOADED)
    amounts = set(duckdb_con.to_pyarrow(payments)["amount"].to_pylist())
    assert amounts & {"N/A", "12,50", "twelve", "€10.00"}


def test_each_event_row_names_its_own_file(duckdb_con, workspace):
    events = load_source(duckdb_con, workspace / "data" / "raw", "events", root=workspace, loaded_at=LOADED)
    rows = duckdb_con.to_pyarrow(events.select("received_ts", "_source_file")).to_pylist()
    files = {f"data/raw/events/events_2024-01-0{day}.jsonl" for day in range(1, 5)}
    assert {row["_source_file"] for row in rows} == files
    assert all(row["_source_file"].endswith(f"events_{row['received_ts'][:10]}.jsonl") for row in rows)


def test_aware_load_time_is_stored_as_utc(duckdb_con, workspace):
    paris = timezone(timedelta(hours=1))
    table = load_source(
        duckdb_con,
        workspace / "data" / "raw",
        "products",
        root=workspace,
        loaded_at=datetime(2024, 2, 1, 7, 30, tzinfo=paris),
    )
    assert set(duckdb_con.to_pyarrow(table)["_loaded_at"].to_pylist()) == {LOADED}


def test_errors_say_what_to_do(duckdb_con, workspace, tmp_path):
    with pytest.raises(FileNotFoundError, match="run `python -m shop.generate"):
        load_source(duckdb_con, tmp_path, "orders", root=tmp_path, loaded_at=LOADED)
    with pytest.raises(ValueError, match="unknown shop source 'refunds'"):
        load_source(duckdb_con, workspace / "data" / "raw", "refunds", root=workspace, loaded_at=LOADED)
    with pytest.raises(ValueError, match="outside the workspace root"):
        source_file_name(workspace / "data" / "raw" / "orders.csv", tmp_path)
    with pytest.raises(ValueError, match="expected .csv, .parquet or .jsonl"):
        read_arrow(tmp_path / "orders.xlsx")
