"""Export and import (millpond.warehouse.transfer, ``millpond export|import``): a round trip
gives back exactly what the warehouse held, on DuckDB and PostgreSQL, in every format,
partitioned and compressed. The reference is the engine's own Arrow of the table."""

from __future__ import annotations

import datetime as dt
import gzip
from decimal import Decimal

import ibis
import pyarrow as pa
import pytest

from millpond.cli import main
from millpond.errors import MillpondError
from millpond.warehouse.transfer import export_rows, read_exported
from support.workspaces import make_workspace

UTC = dt.timezone.utc


def _source(nested: bool) -> pa.Table:
    columns = {
        "id": pa.array([1, 2, 3, 4], pa.int64()),
        "region": pa.array(["north", "south", "north", None]),
        "price": pa.array([Decimal("12.34"), Decimal("-0.01"), None, Decimal("99999999.99")], pa.decimal128(18, 2)),
        "rate": pa.array([Decimal("0.1234567891"), None, Decimal("1"), Decimal("-3.5")], pa.decimal128(38, 10)),
        "seen": pa.array(
            [
                dt.datetime(2024, 1, 2, 3, 4, 5, 123456, tzinfo=UTC),
                None,
                dt.datetime(1999, 12, 31, 23, 59, tzinfo=UTC),
                dt.datetime(2024, 6, 1, tzinfo=UTC),
            ],
            pa.timestamp("us", tz="UTC"),
        ),
        "day": pa.array([dt.date(2024, 1, 2), dt.date(1970, 1, 1), None, dt.date(2100, 12, 31)]),
        "name": pa.array(["Zoë", "東京 🚀", "", None]),
        "ok": pa.array([True, None, False, True]),
        "score": pa.array([0.1, 1e-300, None, -2.5]),
    }
    if nested:
        columns["tags"] = pa.array([["a", "b"], [], None, ["ü"]], pa.list_(pa.string()))
        columns["meta"] = pa.array([{"k": 1, "v": "x"}, None, {"k": None, "v": "ÿ"}, {"k": 4, "v": None}])
    return pa.table(columns)


def _held(con, name: str, data: pa.Table) -> pa.Table:
    """What the warehouse holds of ``data``: the reference a round trip must give back."""
    con.create_table(name, ibis.memtable(data), overwrite=True)
    return con.table(name).order_by("id").to_pyarrow()


@pytest.mark.parametrize(
    ("fmt", "partition_by", "compression"),
    [
        ("parquet", None, None),
        ("parquet", ["region"], "snappy"),
        ("csv", None, None),
        ("csv", ["region", "day"], "gzip"),
        ("jsonl", None, "gzip"),
        ("jsonl", ["region"], None),
    ],
)
def test_a_round_trip_is_exact(con, tmp_path, fmt, partition_by, compression):
    nested = fmt != "csv" and con.name == "duckdb"  # PostgreSQL has no struct columns
    held = _held(con, "original", _source(nested))
    written = export_rows(held, tmp_path / "out", fmt=fmt, partition_by=partition_by, compression=compression)
    assert written.rows == 4 and written.files == (1 if not partition_by else written.files) and written.bytes > 0
    if compression == "gzip":
        assert all(gzip.open(p).read(1) is not None for p in (tmp_path / "out").rglob("*.gz"))
    back = read_exported(tmp_path / "out").sort_by("id")
    assert back.schema == held.schema and back.equals(held)
    again = _held(con, "imported", back)  # and into the warehouse again: the same rows and types
    assert again.equals(held)


def test_refusals_are_one_line(tmp_path):
    data = _source(nested=True)
    with pytest.raises(MillpondError, match="CSV has no nested values; column tags"):
        export_rows(data, tmp_path / "a", fmt="csv")
    with pytest.raises(MillpondError, match="no column colour to partition by"):
        export_rows(data, tmp_path / "b", partition_by=["colour"])
    export_rows(data, tmp_path / "c")
    with pytest.raises(MillpondError, match="is not empty; pass --overwrite"):
        export_rows(data, tmp_path / "c")
    assert export_rows(data, tmp_path / "c", overwrite=True).rows == 4
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "part-0.jsonl").write_bytes(bytes(range(256)) * 10)
    with pytest.raises(MillpondError, match="import: .*part-0.jsonl: "):
        read_exported(tmp_path / "d")
    with pytest.raises(MillpondError, match="is not a folder of exported files"):
        read_exported(tmp_path / "a")  # the refused export wrote nothing
    (tmp_path / "e").mkdir()
    with pytest.raises(MillpondError, match="no data file under"):
        read_exported(tmp_path / "e")


def test_the_commands_export_a_table_and_import_it_back(tmp_path, capsys):
    make_workspace(tmp_path, {})
    assert main(["import", "--help"]) == 0
    export_rows(_source(nested=True), tmp_path / "seed", fmt="jsonl")
    assert main(["import", str(tmp_path / "seed"), "--into", "bronze.things", "-C", str(tmp_path)]) == 0
    out = tmp_path / "exported"
    code = main(["export", "bronze.things", "--to", str(out), "--partition-by", "region", "-C", str(tmp_path)])
    assert code == 0 and "exported 4 rows" in capsys.readouterr().out
    assert sorted(p.name for p in out.iterdir()) == [
        "_schema.arrow",
        "region=__HIVE_DEFAULT_PARTITION__",
        "region=north",
        "region=south",
    ]
    assert main(["import", str(out), "--into", "silver.things", "-C", str(tmp_path)]) == 0
    query = "SELECT count(*) FROM silver.things WHERE price = 12.34 AND name = 'Zoë'"
    assert main(["export", "--query", query, "--to", str(tmp_path / "q"), "--format", "csv", "-C", str(tmp_path)]) == 0
    assert (tmp_path / "q" / "part-0.csv").read_text().splitlines()[1] == "1"
    capsys.readouterr()
    assert main(["export", "bronze.nothing", "--to", str(tmp_path / "n"), "-C", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.strip() == "error: export: no table bronze.nothing in the warehouse"
