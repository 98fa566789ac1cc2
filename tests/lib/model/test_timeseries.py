"""Tests for millpond.model.timeseries, on every backend (``con`` fixture).

Times are written as minutes or hours after a fixed midnight so the expected buckets,
gaps and matches can be read off the data by hand.
"""

from __future__ import annotations

import datetime as dt

import ibis
import pandas as pd
import pytest

from millpond.errors import MillpondError
from millpond.model.timeseries import asof_join, fill_gaps, time_bucket

DAY = dt.datetime(2024, 1, 5)


def at(hours: int = 0, minutes: int = 0, seconds: int = 0) -> dt.datetime:
    return DAY + dt.timedelta(hours=hours, minutes=minutes, seconds=seconds)


def make_table(con: ibis.BaseBackend, name: str, rows: list[tuple], schema: dict[str, str]):
    frame = pd.DataFrame(rows, columns=list(schema), dtype=object)
    return con.create_table(name, ibis.memtable(frame, schema=schema))


def rows_of(expression, columns: list[str]) -> list[tuple]:
    """Rows as tuples of ``columns`` (NULL as ``None``, times as ``datetime``), sorted."""
    frame = expression.to_pandas()
    assert list(frame.columns) == columns
    frame = frame.astype(object).where(frame.notna(), None)

    def plain(value):
        return value.to_pydatetime() if isinstance(value, pd.Timestamp) else value

    tuples = [tuple(plain(v) for v in row) for row in frame.itertuples(index=False)]
    return sorted(tuples, key=lambda row: tuple((v is None, str(v)) for v in row))


def test_time_bucket_floors_to_the_bucket_start(con):
    t = make_table(
        con,
        "t",
        [(1, at(10, 37, 12)), (2, at(23, 59, 59)), (3, at(0)), (4, None)],
        {"row_id": "int64", "at": "timestamp"},
    )
    buckets = t.select(
        "row_id",
        s30=time_bucket(t["at"], "30s"),
        m15=time_bucket(t["at"], "15m"),
        h1=time_bucket(t["at"], "1h"),
        h6=time_bucket(t["at"], "6h"),
        d1=time_bucket(t["at"], "1d"),
    )
    columns = ["row_id", "s30", "m15", "h1", "h6", "d1"]
    assert rows_of(buckets, columns) == [
        (1, at(10, 37), at(10, 30), at(10), at(6), at(0)),
        (2, at(23, 59, 30), at(23, 45), at(23), at(18), at(0)),
        (3, at(0), at(0), at(0), at(0), at(0)),
        (4, None, None, None, None, None),
    ]


def test_time_bucket_refuses_widths_that_do_not_tile():
    t = ibis.table({"at": "timestamp"}, name="t")
    with pytest.raises(MillpondError, match="'7m' must divide 60 minutes"):
        time_bucket(t["at"], "7m")
    with pytest.raises(MillpondError, match="'2d' must divide 1 days"):
        time_bucket(t["at"], "2d")
    with pytest.raises(MillpondError, match="'hourly' is not like"):
        time_bucket(t["at"], "hourly")


@pytest.fixture
def readings(con):
    return make_table(
        con,
        "readings",
        [
            (at(0), "a", 3, "ok"),
            (at(2), "a", 5, "ok"),
            (at(3), "a", None, "x"),  # a row with a NULL is not a gap
            (at(4), "a", 9, "ok"),  # outside [00:00, 04:00)
            (at(1), "b", 7, "ok"),
        ],
        {"hour": "timestamp", "sensor": "string", "n": "int64", "status": "string"},
    )


COLUMNS = ["hour", "sensor", "n", "status"]
RANGE = {"every": "1h", "start": at(0), "end": at(4), "by": "sensor"}


def test_fill_gaps_makes_one_row_per_bucket_and_group(readings):
    assert rows_of(fill_gaps(readings, "hour", **RANGE), COLUMNS) == [
        (at(0), "a", 3, "ok"),
        (at(0), "b", None, None),
        (at(1), "a", None, None),
        (at(1), "b", 7, "ok"),
        (at(2), "a", 5, "ok"),
        (at(2), "b", None, None),
        (at(3), "a", None, "x"),
        (at(3), "b", None, None),
    ]


def test_fill_gaps_fills_missing_buckets_only(readings):
    dense = fill_gaps(readings, "hour", **RANGE, fill={"n": 0, "status": "missing"})
    assert rows_of(dense, COLUMNS) == [
        (at(0), "a", 3, "ok"),
        (at(0), "b", 0, "missing"),
        (at(1), "a", 0, "missing"),
        (at(1), "b", 7, "ok"),
        (at(2), "a", 5, "ok"),
        (at(2), "b", 0, "missing"),
        (at(3), "a", None, "x"),  # present: its NULL stays
        (at(3), "b", 0, "missing"),
    ]


def test_forward_fill_carries_the_previous_row_then_fill_applies(readings):
    dense = fill_gaps(readings, "hour", **RANGE, fill={"n": -1}, forward_fill=["n"])
    assert rows_of(dense, COLUMNS) == [
        (at(0), "a", 3, "ok"),
        (at(0), "b", -1, None),  # before b's first row: nothing to carry, so the fill
        (at(1), "a", 3, None),
        (at(1), "b", 7, "ok"),
        (at(2), "a", 5, "ok"),
        (at(2), "b", 7, None),
        (at(3), "a", None, "x"),
        (at(3), "b", 7, None),
    ]


def test_fill_gaps_without_groups_and_with_every_column_carried(con):
    t = make_table(
        con,
        "t",
        [(at(0, 15), 1, "p"), (at(0, 45), 2, "q")],
        {"slot": "timestamp", "n": "int64", "tag": "string"},
    )
    dense = fill_gaps(t, "slot", "15m", at(0), at(1), forward_fill=True)
    assert rows_of(dense, ["slot", "n", "tag"]) == [
        (at(0), None, None),
        (at(0, 15), 1, "p"),
        (at(0, 30), 1, "p"),
        (at(0, 45), 2, "q"),
    ]


def test_fill_gaps_on_a_date_column(con):
    t = make_table(
        con,
        "t",
        [(dt.date(2024, 1, 1), 4), (dt.date(2024, 1, 3), 6)],
        {"day": "date", "orders": "int64"},
    )
    dense = fill_gaps(t, "day", "1d", "2024-01-01", "2024-01-04", fill={"orders": 0})
    frame = dense.to_pandas().sort_values("day")
    assert [str(d)[:10] for d in frame["day"]] == ["2024-01-01", "2024-01-02", "2024-01-03"]
    assert frame["orders"].tolist() == [4, 0, 6]


def test_fill_gaps_start_must_be_a_bucket_start(readings):
    with pytest.raises(MillpondError, match="is not the start of a '1h' bucket"):
        fill_gaps(readings, "hour", "1h", at(0, 30), at(4))


@pytest.fixture
def trades_and_quotes(con):
    quotes = make_table(
        con,
        "quotes",
        [
            ("A", at(0, 1), 10, "x"),
            ("A", at(0, 4), 40, "x"),
            ("A", at(0, 5), 55, "x"),  # tie at 00:05: price 50 sorts first
            ("A", at(0, 5), 50, "y"),
            ("B", at(0, 3), 300, "x"),
        ],
        {"sym": "string", "t": "timestamp", "price": "int64", "venue": "string"},
    )
    trades = make_table(
        con,
        "trades",
        [
            ("A", at(0, 0), 1),
            ("A", at(0, 2), 2),
            ("A", at(0, 5), 3),
            ("A", at(0, 9), 4),
            ("A", at(0, 9), 4),  # a duplicate left row is kept twice
            ("B", at(0, 2), 5),
            ("B", at(0, 7), 6),
            ("C", at(0, 5), 7),  # no quotes for C
        ],
        {"sym": "string", "t": "timestamp", "qty": "int64"},
    )
    return trades, quotes


ASOF_COLUMNS = ["sym", "t", "qty", "t_right", "price", "venue"]


def test_asof_backward_takes_the_latest_quote_at_or_before(trades_and_quotes):
    trades, quotes = trades_and_quotes
    assert rows_of(asof_join(trades, quotes, on="t", by="sym"), ASOF_COLUMNS) == [
        ("A", at(0, 0), 1, None, None, None),
        ("A", at(0, 2), 2, at(0, 1), 10, "x"),
        ("A", at(0, 5), 3, at(0, 5), 50, "y"),
        ("A", at(0, 9), 4, at(0, 5), 50, "y"),
        ("A", at(0, 9), 4, at(0, 5), 50, "y"),
        ("B", at(0, 2), 5, None, None, None),
        ("B", at(0, 7), 6, at(0, 3), 300, "x"),
        ("C", at(0, 5), 7, None, None, None),
    ]


def test_asof_tolerance_drops_matches_too_far_back(trades_and_quotes):
    trades, quotes = trades_and_quotes
    joined = asof_join(trades, quotes, on="t", by=["sym"], tolerance=dt.timedelta(minutes=2))
    assert rows_of(joined, ASOF_COLUMNS) == [
        ("A", at(0, 0), 1, None, None, None),
        ("A", at(0, 2), 2, at(0, 1), 10, "x"),
        ("A", at(0, 5), 3, at(0, 5), 50, "y"),
        ("A", at(0, 9), 4, None, None, None),  # 4 minutes after 00:05
        ("A", at(0, 9), 4, None, None, None),
        ("B", at(0, 2), 5, None, None, None),
        ("B", at(0, 7), 6, None, None, None),
        ("C", at(0, 5), 7, None, None, None),
    ]


def test_asof_forward_takes_the_earliest_quote_at_or_after(trades_and_quotes):
    trades, quotes = trades_and_quotes
    joined = asof_join(trades, quotes, on="t", by="sym", direction="forward", tolerance="3m")
    assert rows_of(joined, ASOF_COLUMNS) == [
        ("A", at(0, 0), 1, at(0, 1), 10, "x"),
        ("A", at(0, 2), 2, at(0, 4), 40, "x"),
        ("A", at(0, 5), 3, at(0, 5), 50, "y"),
        ("A", at(0, 9), 4, None, None, None),
        ("A", at(0, 9), 4, None, None, None),
        ("B", at(0, 2), 5, at(0, 3), 300, "x"),
        ("B", at(0, 7), 6, None, None, None),
        ("C", at(0, 5), 7, None, None, None),
    ]


def test_asof_renames_right_columns_that_clash():
    left = ibis.table({"t": "timestamp", "price": "int64"}, name="left")
    right = ibis.table({"t": "timestamp", "price": "int64", "size": "int64"}, name="right")
    joined = asof_join(left, right, on="t")
    assert joined.columns == ("t", "price", "t_right", "price_right", "size")
    with pytest.raises(MillpondError, match="direction 'nearest'"):
        asof_join(left, right, on="t", direction="nearest")
