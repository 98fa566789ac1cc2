"""Tests for millpond.warehouse.lake: publishing tables to the Parquet lake and reading them back.

Published from both engines (``con`` fixture); the expected rows are the input rows,
written out by hand.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from decimal import Decimal as D
from pathlib import Path

import ibis
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from millpond.errors import MillpondError
from millpond.settings.tables import PublishSpec
from millpond.warehouse.lake import lake_path, publish, read_lake
from millpond.warehouse.lake_delta import delta_versions

UTC = dt.timezone.utc
ROWS = [
    # day, amount (4 fractional digits), at (UTC), note
    (dt.date(2024, 1, 1), D("0.0090"), dt.datetime(2024, 1, 1, 23, 30, tzinfo=UTC), "a"),
    (dt.date(2024, 1, 1), None, dt.datetime(2024, 1, 1, 8, 0, tzinfo=UTC), None),
    (dt.date(2024, 1, 2), D("-12.3456"), None, "b"),
    (dt.date(2024, 1, 2), D("1.5000"), dt.datetime(2024, 1, 2, 0, 0, 0, 1, tzinfo=UTC), "c"),
    (dt.date(2024, 1, 3), D("99999999.9999"), dt.datetime(2024, 1, 3, 12, tzinfo=UTC), "d"),
    (None, D("0.0010"), dt.datetime(2024, 1, 4, tzinfo=UTC), "no day"),
]
SCHEMA = pa.schema(
    [
        ("day", pa.date32()),
        ("amount", pa.decimal128(12, 4)),
        ("at", pa.timestamp("us", tz="UTC")),
        ("note", pa.string()),
    ]
)


def load(con, rows=ROWS, name="sales"):
    table = pa.Table.from_pylist([dict(zip(SCHEMA.names, r, strict=True)) for r in rows], schema=SCHEMA)
    con.raw_sql("CREATE SCHEMA IF NOT EXISTS gold")
    return con.create_table(name, ibis.memtable(table), database="gold", overwrite=True)


def rows_of(con, table) -> Counter:
    """The rows as a multiset of tuples in ``SCHEMA`` order, timestamps in UTC."""
    got = con.to_pyarrow(table.select(*SCHEMA.names)).to_pylist()
    return Counter(
        tuple(r[c].astimezone(UTC) if isinstance(r[c], dt.datetime) else r[c] for c in SCHEMA.names) for r in got
    )


@pytest.fixture
def lake(tmp_path: Path) -> Path:
    return tmp_path / "data" / "lake"


@pytest.mark.parametrize("fmt", ["parquet", "delta"])
def test_published_rows_read_back_exactly(con, lake, fmt):
    load(con)
    done = publish(con, None, "gold.sales", lake, PublishSpec(format=fmt, partition_by=["day"]))
    assert (done.rows, done.files) == (6, 4)  # three days and the null day
    back = read_lake(con, "gold.sales", lake)
    assert rows_of(con, back) == Counter(ROWS)
    assert back.schema() == con.table("sales", database="gold").schema()
    assert back.schema()["amount"] == ibis.dtype("decimal(12, 4)")
    assert back.schema()["at"].timezone == "UTC"
    folders = sorted(p.name for p in lake_path(lake, "gold.sales").iterdir() if p.name.startswith("day="))
    assert folders == ["day=2024-01-01", "day=2024-01-02", "day=2024-01-03", "day=__HIVE_DEFAULT_PARTITION__"]


@pytest.mark.parametrize("fmt", ["parquet", "delta"])
@pytest.mark.parametrize(("codec", "parquet_name"), [("zstd", "ZSTD"), ("snappy", "SNAPPY")])
def test_codec_and_row_group_size_are_applied(duckdb_con, lake, fmt, codec, parquet_name):
    rows = [(dt.date(2024, 1, 1), D(i).scaleb(-4), None, f"n{i}") for i in range(25)]
    load(duckdb_con, rows)
    publish(
        duckdb_con,
        None,
        "gold.sales",
        lake,
        PublishSpec(format=fmt, partition_by=["day"], compression=codec, row_group_size=10),
    )
    (file,) = lake_path(lake, "gold.sales").glob("day=2024-01-01/*.parquet")
    meta = pq.ParquetFile(file).metadata
    assert [meta.row_group(i).num_rows for i in range(meta.num_row_groups)] == [10, 10, 5]
    codecs = {
        meta.row_group(i).column(j).compression for i in range(meta.num_row_groups) for j in range(meta.num_columns)
    }
    assert codecs == {parquet_name}


def test_zstd_is_the_default_codec():
    assert PublishSpec().compression == "zstd"


def test_a_partition_filter_reads_only_its_files_on_duckdb(duckdb_con, lake):
    load(duckdb_con)
    publish(duckdb_con, None, "gold.sales", lake, PublishSpec(partition_by=["day"]))
    one_day = read_lake(duckdb_con, "gold.sales", lake).filter(ibis._.day == dt.date(2024, 1, 2))
    plan = duckdb_con.raw_sql(f"EXPLAIN ANALYZE {duckdb_con.compile(one_day)}").fetchall()[0][1]
    assert "Scanning Files: 1/4" in plan
    assert "Total Files Read: 1" in plan


@pytest.mark.parametrize("fmt", ["parquet", "delta"])
def test_pruned_partitions_are_never_opened(con, lake, fmt):
    """A broken file in another partition does not matter to a filtered read: it is not read."""
    load(con)
    publish(con, None, "gold.sales", lake, PublishSpec(format=fmt, partition_by=["day"]))
    for broken in lake_path(lake, "gold.sales").glob("day=2024-01-03/*.parquet"):
        broken.write_bytes(b"not parquet at all")
    kept = read_lake(con, "gold.sales", lake, filters={"day": [dt.date(2024, 1, 1), dt.date(2024, 1, 2)]})
    assert sorted(r[1] for r in rows_of(con, kept) if r[1] is not None) == [D("-12.3456"), D("0.0090"), D("1.5000")]
    with pytest.raises(Exception):  # noqa: B017 - the engine's own error for a corrupt file
        rows_of(con, read_lake(con, "gold.sales", lake))


@pytest.mark.parametrize("fmt", ["parquet", "delta"])
def test_a_failed_publish_leaves_the_previous_copy(duckdb_con, lake, fmt):
    load(duckdb_con)
    spec = PublishSpec(format=fmt, partition_by=["day"])
    publish(duckdb_con, None, "gold.sales", lake, spec)
    t = duckdb_con.table("sales", database="gold")
    failing = t.mutate(note=t.note.cast("int64"))  # 'a' is not an integer: fails while streaming
    with pytest.raises(Exception):  # noqa: B017 - DuckDB's conversion error
        publish(duckdb_con, failing, "gold.sales", lake, spec)
    assert rows_of(duckdb_con, read_lake(duckdb_con, "gold.sales", lake)) == Counter(ROWS)
    if fmt == "delta":
        assert delta_versions(lake, "gold.sales") == [0]
    leftovers = [p.name for p in lake.rglob("*") if p.name.endswith(".partial") or ".link-" in p.name]
    assert leftovers == []


def test_a_reader_keeps_its_snapshot_while_a_new_one_is_published(duckdb_con, lake):
    load(duckdb_con)
    publish(duckdb_con, None, "gold.sales", lake)
    before = read_lake(duckdb_con, "gold.sales", lake)
    load(duckdb_con, ROWS[:2])
    publish(duckdb_con, None, "gold.sales", lake)
    assert before.count().execute() == 6  # pinned to the snapshot it was made from
    assert read_lake(duckdb_con, "gold.sales", lake).count().execute() == 2
    publish(duckdb_con, None, "gold.sales", lake)
    snapshots = lake_path(lake, "gold.sales").parent / ".sales.snapshots"
    assert len(list(snapshots.iterdir())) == 2  # the current one and the one before


def test_a_workspace_copied_through_its_links_still_publishes(duckdb_con, lake, tmp_path):
    """A copy that follows symlinks (shutil.copytree's default) turns the table's link
    into a folder; the next publish takes that folder back as a snapshot."""
    import shutil

    load(duckdb_con)
    publish(duckdb_con, None, "gold.sales", lake)
    copied = tmp_path / "copy" / "lake"
    shutil.copytree(lake, copied)
    assert not lake_path(copied, "gold.sales").is_symlink()
    assert rows_of(duckdb_con, read_lake(duckdb_con, "gold.sales", copied)) == Counter(ROWS)
    load(duckdb_con, ROWS[:2])
    publish(duckdb_con, None, "gold.sales", copied)
    assert lake_path(copied, "gold.sales").is_symlink()
    assert rows_of(duckdb_con, read_lake(duckdb_con, "gold.sales", copied)) == Counter(ROWS[:2])


def test_each_delta_publish_is_a_version_and_old_versions_read_back(con, lake):
    load(con)
    first = publish(con, None, "gold.sales", lake, PublishSpec(format="delta", partition_by=["day"]))
    load(con, ROWS[2:4])
    second = publish(con, None, "gold.sales", lake, PublishSpec(format="delta", partition_by=["day"]))
    assert (first.version, second.version) == (0, 1)
    assert delta_versions(lake, "gold.sales") == [0, 1]
    assert rows_of(con, read_lake(con, "gold.sales", lake)) == Counter(ROWS[2:4])
    assert rows_of(con, read_lake(con, "gold.sales", lake, version=0)) == Counter(ROWS)
    with pytest.raises(MillpondError, match=r"lake table gold.sales has no version 7 \(versions: 0, 1\)"):
        read_lake(con, "gold.sales", lake, version=7)


def test_an_empty_table_publishes_and_reads_back_empty(con, lake):
    load(con, [])
    for fmt, name in [("parquet", "gold.empty_p"), ("delta", "gold.empty_d")]:
        assert publish(con, con.table("sales", database="gold"), name, lake, PublishSpec(format=fmt)).rows == 0
        back = read_lake(con, name, lake)
        assert back.count().execute() == 0
        assert back.schema()["amount"] == ibis.dtype("decimal(12, 4)")


def test_mistakes_are_one_line_errors(duckdb_con, lake):
    load(duckdb_con)
    with pytest.raises(MillpondError, match="partition column 'nope' is not a column"):
        publish(duckdb_con, None, "gold.sales", lake, PublishSpec(partition_by=["nope"]))
    with pytest.raises(MillpondError, match="partition column 'amount' is decimal"):
        publish(duckdb_con, None, "gold.sales", lake, PublishSpec(partition_by=["amount"]))
    with pytest.raises(MillpondError, match="publish gold.missing: no such table in the warehouse"):
        publish(duckdb_con, None, "gold.missing", lake)
    with pytest.raises(MillpondError, match="lake table gold.sales is not published"):
        read_lake(duckdb_con, "gold.sales", lake)
    publish(duckdb_con, None, "gold.sales", lake)
    with pytest.raises(MillpondError, match="lake table gold.sales: filter column 'nope' is not a column"):
        read_lake(duckdb_con, "gold.sales", lake, filters={"nope": 1})
    with pytest.raises(MillpondError, match="is parquet and keeps no versions"):
        read_lake(duckdb_con, "gold.sales", lake, version=0)
    with pytest.raises(MillpondError, match="is not a delta lake table"):
        publish(duckdb_con, None, "gold.sales", lake, PublishSpec(format="delta"))
    with pytest.raises(ValueError, match="row_group_size"):
        PublishSpec(row_group_size=0)


def test_a_table_declaring_publish_is_published_by_materialize(tmp_path, monkeypatch):
    from millpond.stage_api.context import StageContext
    from millpond.workspace import Workspace
    from support.workspaces import make_workspace

    for name in ("MILLPOND_RUN_ID", "MILLPOND_STAGE", "MILLPOND_PIPELINE"):
        monkeypatch.delenv(name, raising=False)
    spec = {
        "stages": [
            {
                "name": "sales",
                "notebook": "notebooks/sales.ipynb",
                "produces": ["gold.sales"],
                "tables": {"gold.sales": {"publish": {"format": "delta", "partition_by": ["day"]}}},
            }
        ]
    }
    make_workspace(tmp_path, {"p": spec})
    ctx = StageContext(Workspace(tmp_path))
    try:
        table = pa.Table.from_pylist([dict(zip(SCHEMA.names, r, strict=True)) for r in ROWS], schema=SCHEMA)
        ctx.materialize(ibis.memtable(table), "gold.sales")
        assert (tmp_path / "data/lake/gold/sales/_delta_log").is_dir()
        assert rows_of(ctx.con, ctx.lake("gold.sales")) == Counter(ROWS)
        assert ctx.publish("gold.sales", compression="snappy").version == 1  # declared options, one overridden
        one_day = ctx.lake("gold.sales", version=0, filters={"day": dt.date(2024, 1, 2)})
        assert one_day.count().execute() == 2
    finally:
        ctx.close()


def test_a_bad_publish_declaration_is_refused_with_the_spec():
    from pydantic import ValidationError

    from millpond.settings.pipeline import PipelineSpec

    stage = {
        "name": "s",
        "notebook": "n.ipynb",
        "produces": ["gold.a"],
        "tables": {"gold.a": {"publish": {"compression": "lzma", "partition_by": ["day"]}}},
    }
    with pytest.raises(ValidationError, match=r"tables\.`gold\.a`\.publish\.compression\n  Input should be .zstd"):
        PipelineSpec.model_validate({"stages": [stage]})
