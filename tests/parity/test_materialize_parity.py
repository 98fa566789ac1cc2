"""Every materialization kind, and the lake, give the same rows on DuckDB and PostgreSQL.

Each build runs the same sequence on both engines (first build, then a second batch
through the incremental strategy, or an upstream that gains rows under a materialized
view); the resulting tables are compared exactly. The watermark is a time-zone-aware
timestamp and the amounts have three fractional digits.
"""

from __future__ import annotations

from datetime import date, datetime, timezone
from decimal import Decimal as D

import ibis
import pyarrow as pa
import pytest

from millpond.settings.tables import PublishSpec
from millpond.warehouse.incremental import Incremental
from millpond.warehouse.lake import publish, read_lake
from millpond.warehouse.materialize import materialize

UTC = timezone.utc
SCHEMA = pa.schema(
    [
        ("order_id", pa.int64()),
        ("day", pa.date32()),
        ("amount", pa.decimal128(12, 3)),
        ("at", pa.timestamp("us", tz="UTC")),
        ("note", pa.string()),
    ]
)


def rows(*values: tuple) -> pa.Table:
    return pa.Table.from_pylist([dict(zip(SCHEMA.names, v, strict=True)) for v in values], schema=SCHEMA)


def at(day: int, hour: int) -> datetime:
    return datetime(2024, 1, day, hour, tzinfo=UTC)


FIRST = rows(
    (1, date(2024, 1, 1), D("0.009"), at(1, 9), "a"),
    (2, date(2024, 1, 1), None, at(1, 23), None),
    (3, date(2024, 1, 2), D("-1.250"), at(2, 8), "c"),
)
# Order 3 is updated (a new amount, later), 4 is new, 5 is a late row before the lookback.
SECOND = rows(
    (3, date(2024, 1, 2), D("-1.251"), at(2, 10), "c2"),
    (4, date(2024, 1, 2), D("1000000.001"), at(2, 11), "d"),
    (5, date(2024, 1, 1), D("0.001"), at(1, 1), "late"),
)

# Later rows, all past the first batch's last time (2 January 08:00): an upstream that only grows.
# 8 lands on an existing day (2 January); 7, alone on its day, has no amount.
LATER = rows(
    (6, date(2024, 1, 3), D("2.505"), at(3, 0), None),
    (7, date(2024, 1, 4), None, at(3, 5), "g"),
    (8, date(2024, 1, 2), D("-0.001"), at(3, 7), "h"),
)


def dec(text: str) -> tuple[str, str]:
    return ("decimal", text)


@pytest.fixture
def batches(engines):
    engines.load(first=FIRST, second=SECOND, later=LATER)
    return engines


def test_table_and_view(batches):
    def build(con, t):
        materialize(con, t["first"], "gold.orders")
        materialize(con, t["first"], "gold.orders")  # twice: the same rows
        orders = con.table("orders", database="gold")
        materialize(con, orders.filter(orders.amount > 0), "gold.positive", kind="view")
        return con.table("positive", database="gold")

    assert batches.same(build) == [(1, date(2024, 1, 1), dec("0.009"), at(1, 9), "a")]


@pytest.mark.parametrize(
    ("strategy", "options", "expected_ids"),
    [
        # append: only rows after the watermark (23:00 on day 1): 3' and 4; 5 is late
        ("append", {"watermark": "at"}, [1, 2, 3, 3, 4]),
        # merge: rows at or after 23:00 - 1h replace by order_id; 5 is older than the lookback
        ("merge", {"unique_key": "order_id", "watermark": "at", "lookback": "1h"}, [1, 2, 3, 4]),
        # delete+insert: the partitions named are replaced whole: day 1 from the second batch is order 5
        ("delete+insert", {"partition_by": "day", "partitions": [date(2024, 1, 1)]}, [3, 5]),
    ],
)
def test_incremental_strategies(batches, strategy, options, expected_ids):
    def build(con, t):
        incremental = Incremental.of(strategy, **options)
        materialize(con, t["first"], "gold.orders", kind="incremental", incremental=incremental)
        materialize(con, t["second"], "gold.orders", kind="incremental", incremental=incremental)
        return con.table("orders", database="gold")

    result = batches.same(build)
    assert sorted(r[0] for r in result) == expected_ids
    if strategy == "merge":
        assert [r[2] for r in result if r[0] == 3] == [dec("-1.251")]


def refresh_twice(con, t, view, watermark) -> tuple[str, str]:
    """Build ``view(orders)`` as gold.mv over silver.orders (the first batch), let the upstream
    gain the later rows, refresh; returns what each build did."""
    materialize(con, t["first"], "silver.orders")
    orders = con.table("orders", database="silver")
    options = {
        "kind": "materialized_view",
        "watermark": watermark,
        "upstream_version": lambda name: None,
    }  # no metadata store: the upstream's row count and schema
    first = materialize(con, view(orders), "gold.mv", **options).refresh
    con.insert("orders", t["later"], database="silver")
    return first, materialize(con, view(orders), "gold.mv", **options).refresh


@pytest.mark.parametrize(("watermark", "refresh"), [(None, "refreshed whole"), ("at", "refreshed incrementally")])
def test_materialized_view_refreshes_the_same(batches, watermark, refresh):
    def view(orders):  # row-wise: a filter keeping NULL amounts, a rename, a string expression
        kept = orders.filter(orders.amount.isnull() | (orders.amount > 0))
        return kept.select("order_id", "amount", "at", shout=kept.note.upper())

    def build(con, t):
        assert refresh_twice(con, t, view, watermark) == ("refreshed whole", refresh)
        return con.table("mv", database="gold")

    assert batches.same(build) == [
        (1, dec("0.009"), at(1, 9), "A"),
        (2, None, at(1, 23), None),
        (6, dec("2.505"), at(3, 0), None),
        (7, None, at(3, 5), "G"),
    ]


def test_materialized_view_of_an_aggregate_refreshes_the_touched_groups_the_same(batches):
    def view(orders):
        return orders.group_by("day").agg(n=orders.count(), total=orders.amount.sum(), last=orders.at.max())

    def build(con, t):  # the later rows touch 2 January and bring 3 and 4 January; 1 January stays
        assert refresh_twice(con, t, view, "at") == ("refreshed whole", "refreshed incrementally")
        return con.table("mv", database="gold")

    assert batches.same(build) == [
        (date(2024, 1, 1), 2, dec("0.009"), at(1, 23)),
        (date(2024, 1, 2), 2, dec("-1.251"), at(3, 7)),
        (date(2024, 1, 3), 1, dec("2.505"), at(3, 0)),
        (date(2024, 1, 4), 1, None, at(3, 5)),
    ]


@pytest.mark.parametrize("fmt", ["parquet", "delta"])
def test_the_lake_reads_back_the_same_from_either_engine(batches, tmp_path, fmt):
    def build(con, t):
        materialize(con, t["first"], "gold.orders")
        lake = tmp_path / con.name
        publish(con, None, "gold.orders", lake, PublishSpec(format=fmt, partition_by=["day"]))
        return read_lake(con, "gold.orders", lake)

    result = batches.same(build)
    assert [r[2] for r in result] == [dec("0.009"), None, dec("-1.250")]
    # the files written from PostgreSQL read back the same through DuckDB
    con = ibis.duckdb.connect()
    from_pg = con.to_pyarrow(read_lake(con, "gold.orders", tmp_path / "postgres").order_by("order_id"))
    assert from_pg.equals(con.to_pyarrow(read_lake(con, "gold.orders", tmp_path / "duckdb").order_by("order_id")))
