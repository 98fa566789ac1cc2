"""Every modelling helper gives the same rows on DuckDB and PostgreSQL (``engines`` fixture).

The inputs carry decimals with three fractional digits, NULLs and time-zone-aware
timestamps (some written with an offset other than UTC). Besides equality between the
engines, each test checks a few values worked out by hand, so that a helper wrong in
the same way on both engines still fails.
"""

from __future__ import annotations

import datetime as dt
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal as D

import ibis
import pyarrow as pa
import pytest

from millpond.model.dates import date_dimension
from millpond.model.dedup import drop_exact_duplicates, latest_per_key
from millpond.model.keys import surrogate_key
from millpond.model.numeric import exact_mean
from millpond.model.obt import one_big_table
from millpond.model.scd import existing_snapshot, scd1, scd2_snapshot
from millpond.model.timeseries import asof_join, fill_gaps, time_bucket
from millpond.model.unknown import resolve_keys, with_unknown_member
from millpond.model.vault import hub, link, satellite
from millpond.warehouse.materialize import materialize

UTC = timezone.utc
PLUS_TWO = timezone(timedelta(hours=2))
MONEY = pa.decimal128(12, 3)
AWARE = pa.timestamp("us", tz="UTC")


def dec(text: str) -> tuple[str, str]:
    """A decimal as the parity suite compares it (its text, so its scale counts)."""
    return ("decimal", text)


def table(**columns: tuple[pa.DataType, list]) -> pa.Table:
    return pa.table({name: pa.array(values, dtype) for name, (dtype, values) in columns.items()})


ORDERS = table(
    order_id=(pa.int64(), [1, 2, 3, 4, 5, 6, 7]),
    customer=(pa.string(), ["c1", "c1", "c2", "c2", "c3", None, "c9"]),
    amount=(MONEY, [D("0.009"), D("10.125"), None, D("-3.001"), D("0.004"), D("7.000"), D("0.014")]),
    at=(
        AWARE,
        [
            datetime(2024, 1, 5, 10, 7, tzinfo=UTC),
            datetime(2024, 1, 5, 12, 0, tzinfo=PLUS_TWO),
            datetime(2024, 1, 5, 23, 59, 59, tzinfo=UTC),
            None,
            datetime(2024, 1, 6, 0, 30, tzinfo=PLUS_TWO),
            datetime(2024, 1, 6, 1, 0, tzinfo=UTC),
            datetime(2024, 1, 6, 9, 15, tzinfo=UTC),
        ],
    ),
    seq=(pa.int64(), [1, 2, 1, 2, 1, 1, 1]),
)
CUSTOMERS = table(
    customer=(pa.string(), ["c1", "c2", "c3"]),
    customer_key=(pa.int64(), [10, 20, 30]),
    tier=(pa.string(), ["gold", None, "silver"]),
    limit=(MONEY, [D("100.500"), D("0.001"), None]),
)


@pytest.fixture
def shop(engines):
    engines.load(orders=ORDERS, customers=CUSTOMERS)
    return engines


def test_dedup(shop):
    latest = shop.same(lambda con, t: latest_per_key(t["orders"], "customer", "seq").select("customer", "order_id"))
    assert latest == [("c1", 2), ("c2", 4), ("c3", 5), ("c9", 7), (None, 6)]
    rows = shop.same(
        lambda con, t: drop_exact_duplicates(
            ibis.union(t["orders"], t["orders"], distinct=False).select("customer", "amount")
        )
    )
    assert len(rows) == 7 and ("c2", None) in rows


def test_date_dimension_across_a_year_end(engines):
    rows = engines.same(lambda con, t: date_dimension(date(2023, 12, 30), date(2024, 3, 1)))
    by_day = {r[1]: r for r in rows}
    assert by_day[date(2024, 1, 1)][10:12] == (2024, 1)  # iso_year, iso_week
    assert by_day[date(2023, 12, 31)][10:12] == (2023, 52)
    assert by_day[date(2024, 2, 1)][14] == date(2024, 2, 29)  # last_day_of_month, a leap year
    assert len(rows) == 63


def test_unknown_members_and_key_resolution(shop):
    dimension = shop.same(lambda con, t: with_unknown_member(t["customers"], "customer_key", {"limit": D("0")}))
    assert (-1, "unknown", dec("0.000")) in [(r[1], r[2], r[3]) for r in dimension]
    keyed = shop.same(
        lambda con, t: resolve_keys(t["orders"], t["customers"], "customer", surrogate="customer_key").select(
            "order_id", "customer_key"
        )
    )
    assert keyed == [(1, 10), (2, 10), (3, 20), (4, 20), (5, 30), (6, -1), (7, -1)]
    replaced = shop.same(lambda con, t: resolve_keys(t["orders"], t["customers"], "customer").select("customer"))
    assert sorted(r[0] for r in replaced).count("unknown") == 2


def test_scd1_and_scd2_snapshots(shop):
    day2 = table(
        customer=(pa.string(), ["c1", "c2", "c4"]),
        tier=(pa.string(), ["platinum", None, "new"]),
        limit=(MONEY, [D("100.500"), D("0.002"), D("1.234")]),
    )
    shop.load(day2=day2)
    current = shop.same(lambda con, t: scd1(t["customers"].drop("customer_key"), t["day2"], "customer"))
    assert ("c2", None, dec("0.002")) in current and ("c3", "silver", None) in current

    def two_days(strategy):
        def build(con, t):
            day1 = t["customers"].drop("customer_key")
            materialize(
                con,
                scd2_snapshot(None, day1, "customer", strategy="check", now=datetime(2024, 1, 1)),
                f"gold.dim_{strategy}",
            )
            existing = existing_snapshot(con, f"gold.dim_{strategy}")
            return scd2_snapshot(
                existing,
                t["day2"],
                "customer",
                strategy="check",
                now=datetime(2024, 1, 2),
                check_cols=["tier", "limit"] if strategy == "all" else ["tier"],
            )

        return build

    for strategy in ("all", "tier"):
        rows = shop.same(two_days(strategy))
        closed = sorted(r[0] for r in rows if r[-1] is False)
        # c1 changed tier, c3 was deleted; with the limit compared, c2's 0.001 -> 0.002 is a change too
        assert closed == (["c1", "c2", "c3"] if strategy == "all" else ["c1", "c3"])


def test_surrogate_keys_of_every_type(shop):
    def keys(con, t):
        o = t["orders"]
        return o.select("order_id", key=surrogate_key(o.customer, o.amount, o["at"], o["at"].date(), o.seq > 1))

    rows = shop.same(keys)
    assert len({r[1] for r in rows}) == 7


def test_data_vault_hub_link_satellite(shop):
    def load_date(t):
        o = t["orders"]
        return o.mutate(loaded=o["at"].fill_null(datetime(2024, 1, 7, tzinfo=UTC)))

    hubs = shop.same(lambda con, t: hub(load_date(t), "customer", "loaded", "shop"))
    first_seen = {r[1]: r[2] for r in hubs}
    assert sorted(first_seen) == ["c1", "c2", "c3", "c9"]
    assert first_seen["c1"] == datetime(2024, 1, 5, 10, 0, tzinfo=UTC)  # 12:00+02:00 before 10:07 UTC
    links = shop.same(
        lambda con, t: link(load_date(t), {"customer_hk": "customer", "order_hk": "order_id"}, "loaded", "shop")
    )
    assert len(links) == 6

    def sat(con, t):
        rows = load_date(t)
        first = satellite(rows.filter(rows.order_id <= 3), "customer", "amount", "loaded", "shop")
        con.create_table("sat", first)
        return satellite(rows, "customer", "amount", "loaded", "shop", existing=con.table("sat"))

    added = shop.same(sat)
    assert sorted((r[3] for r in added), key=str) == [dec("-3.001"), dec("0.004"), dec("0.014")]


def test_one_big_table(shop):
    rows = shop.same(
        lambda con, t: one_big_table(
            t["orders"], {"customer": t["customers"].drop("customer_key")}, prefix={"customer": "c_"}
        )
    )
    assert len(rows) == 7
    assert [r[-2:] for r in rows if r[0] == 2] == [("gold", dec("100.500"))]


def test_time_buckets_gaps_and_as_of_joins_on_aware_timestamps(shop):
    buckets = shop.same(lambda con, t: t["orders"].select("order_id", b=time_bucket(t["orders"]["at"], "6h")))
    assert (2, datetime(2024, 1, 5, 6, tzinfo=UTC)) in buckets  # 12:00+02:00 is 10:00 UTC

    def hourly(con, t):
        o = t["orders"].filter(t["orders"]["at"].notnull())
        per_hour = o.group_by(hour=time_bucket(o["at"], "1h")).aggregate(total=o.amount.sum().cast("decimal(12, 3)"))
        return fill_gaps(
            per_hour, "hour", "1h", datetime(2024, 1, 5, 9), datetime(2024, 1, 5, 13), fill={"total": D("0")}
        )

    dense = shop.same(hourly)
    # 10:07 UTC and 12:00+02:00 (10:00 UTC) share the 10:00 hour: 0.009 + 10.125
    assert [r[1] for r in dense] == [dec("0.000"), dec("10.134"), dec("0.000"), dec("0.000")]

    quotes = table(
        customer=(pa.string(), ["c1", "c1", "c2"]),
        quoted=(
            AWARE,
            [
                datetime(2024, 1, 5, 9, tzinfo=UTC),
                datetime(2024, 1, 5, 10, 30, tzinfo=UTC),
                datetime(2024, 1, 5, 23, 0, tzinfo=UTC),
            ],
        ),
        price=(MONEY, [D("1.001"), D("1.002"), D("2.003")]),
    )
    shop.load(quotes=quotes)

    def matched(con, t):
        o = t["orders"].select("order_id", "customer", "at")
        q = t["quotes"].rename(at="quoted")
        return asof_join(o, q, on="at", by="customer", tolerance="2h").select("order_id", "price")

    # orders 1 (10:07) and 2 (10:00 UTC) take c1's 09:00 quote; order 3 (23:59:59) c2's 23:00 one
    assert shop.same(matched) == [
        (1, dec("1.001")),
        (2, dec("1.001")),
        (3, dec("2.003")),
        (4, None),
        (5, None),
        (6, None),
        (7, None),
    ]


def test_an_exact_mean_is_the_same_decimal_on_both_engines(shop):
    def means(con, t):
        o = t["orders"]
        return o.group_by("customer").aggregate(mean=exact_mean(o.amount, scale=3), wide=exact_mean(o.amount))

    rows = shop.same(means)
    by_customer = {r[0]: r[1:] for r in rows}
    assert by_customer["c1"] == (dec("5.067"), dec("5.067000000"))  # (0.009 + 10.125) / 2
    assert by_customer["c2"] == (dec("-3.001"), dec("-3.001000000"))  # the NULL is left out
    assert by_customer["c3"] == (dec("0.004"), dec("0.004000000"))
    small = table(x=(MONEY, [D("0.004"), D("0.005"), D("0.018")]))
    shop.load(small=small)
    assert shop.same(lambda con, t: exact_mean(t["small"].x, scale=3).name("m").as_table()) == [(dec("0.009"),)]


def test_to_pyarrow_of_a_mean_works_on_both_engines(shop):
    # A plain mean() is typed decimal(12, 3) by Ibis but is a DOUBLE on DuckDB and an
    # unbounded numeric on PostgreSQL; the deliberate cast makes the Arrow type certain.
    for con in shop.cons.values():
        o = shop.tables["duckdb" if con.name == "duckdb" else "postgres"]["orders"]
        arrow = con.to_pyarrow(o.aggregate(m=exact_mean(o.amount, scale=4)))
        assert arrow.schema.field("m").type == pa.decimal128(38, 4)
        # (0.009 + 10.125 - 3.001 + 0.004 + 7.000 + 0.014) / 6 = 14.151 / 6 = 2.3585
        assert arrow.column("m").to_pylist() == [D("2.3585")]


def test_time_zone_offsets_are_normalized(shop):
    rows = shop.same(lambda con, t: t["orders"].select("order_id", "at"))
    assert dict(rows)[5] == datetime(2024, 1, 5, 22, 30, tzinfo=UTC)
    assert isinstance(rows[0][1], dt.datetime)


def test_a_mean_on_a_half_cent_rounds_the_same_way_on_both_engines(engines):
    engines.load(pair=table(x=(pa.decimal128(18, 2), [D("0.57"), D("0.58")])))
    assert engines.same(lambda con, t: exact_mean(t["pair"].x, scale=2).name("m").as_table()) == [(dec("0.58"),)]
    # what the shop's avg_order_value did before: a float mean rounded to cents
    as_float = {
        name: con.execute(engines.tables[name]["pair"].x.cast("float64").mean().round(2))
        for name, con in engines.cons.items()
    }
    assert as_float == {"duckdb": 0.57, "postgres": 0.58}
