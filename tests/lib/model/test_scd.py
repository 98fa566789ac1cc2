"""Tests for millpond.model.scd, on every backend (``con`` fixture).

The type 2 tests walk a dimension through snapshot days by hand (insert, change, no
change, hard delete, reappear) and state every version's ``valid_from``, ``valid_to``
and ``is_current`` exactly. Each day's snapshot is stored as a real table so the next
day reads it back from the engine, as a pipeline does.
"""

from __future__ import annotations

import hashlib
from datetime import datetime

import ibis
import pandas as pd
import pytest

from millpond.errors import MillpondError
from millpond.model.scd import existing_snapshot, scd1, scd2_snapshot
from millpond.warehouse.materialize import materialize

D1, D2, D3, D4, D5 = (datetime(2024, 1, day) for day in range(1, 6))
CUSTOMER = {"id": "int64", "name": "string", "tier": "string"}


def source(rows: list[tuple], schema: dict[str, str] = CUSTOMER) -> ibis.Table:
    frame = pd.DataFrame(rows, columns=list(schema), dtype=object)
    return ibis.memtable(frame, schema=schema)


def versions(con, table, columns=("id", "name", "tier")) -> set[tuple]:
    """Every row as ``(*columns, valid_from, valid_to, is_current)``, order ignored."""
    rows = con.to_pyarrow(table.select(*columns, "valid_from", "valid_to", "is_current")).to_pylist()
    out = [tuple(r.values()) for r in rows]
    assert len(out) == len(set(out)), f"duplicate versions: {out}"
    return set(out)


def store(con, expr, day: int) -> ibis.Table:
    """Build a day's snapshot into a table of its own and return that table."""
    return con.create_table(f"snapshot_day{day}", expr)


def check_walk(con, strategy_kwargs: dict) -> None:
    day1 = store(
        con,
        scd2_snapshot(
            None, source([(1, "Ann", "gold"), (2, "Bo", "silver"), (3, "Cy", None)]), "id", now=D1, **strategy_kwargs
        ),
        1,
    )
    assert versions(con, day1) == {
        (1, "Ann", "gold", D1, None, True),
        (2, "Bo", "silver", D1, None, True),
        (3, "Cy", None, D1, None, True),
    }
    # Day 2: 1 changes tier, 2 and 3 are unchanged (3's null equals null), 4 is new.
    day2_source = source([(1, "Ann", "platinum"), (2, "Bo", "silver"), (3, "Cy", None), (4, "Di", "bronze")])
    day2 = store(con, scd2_snapshot(day1, day2_source, "id", now=D2, **strategy_kwargs), 2)
    assert versions(con, day2) == {
        (1, "Ann", "gold", D1, D2, False),
        (1, "Ann", "platinum", D2, None, True),
        (2, "Bo", "silver", D1, None, True),
        (3, "Cy", None, D1, None, True),
        (4, "Di", "bronze", D2, None, True),
    }
    # Running day 2 again (even later) adds nothing.
    assert versions(con, scd2_snapshot(day2, day2_source, "id", now=D3, **strategy_kwargs)) == versions(con, day2)
    # Day 3: 2 is deleted in the source; 3's tier goes from null to gold.
    day3_source = source([(1, "Ann", "platinum"), (3, "Cy", "gold"), (4, "Di", "bronze")])
    day3 = store(con, scd2_snapshot(day2, day3_source, "id", now=D3, **strategy_kwargs), 3)
    assert versions(con, day3) == {
        (1, "Ann", "gold", D1, D2, False),
        (1, "Ann", "platinum", D2, None, True),
        (2, "Bo", "silver", D1, D3, False),
        (3, "Cy", None, D1, D3, False),
        (3, "Cy", "gold", D3, None, True),
        (4, "Di", "bronze", D2, None, True),
    }
    # Day 4: 2 comes back with the same values: a new version from day 4.
    day4_source = source([(1, "Ann", "platinum"), (2, "Bo", "silver"), (3, "Cy", "gold"), (4, "Di", "bronze")])
    day4 = store(con, scd2_snapshot(day3, day4_source, "id", now=D4, **strategy_kwargs), 4)
    expected_day4 = {
        (1, "Ann", "gold", D1, D2, False),
        (1, "Ann", "platinum", D2, None, True),
        (2, "Bo", "silver", D1, D3, False),
        (2, "Bo", "silver", D4, None, True),
        (3, "Cy", None, D1, D3, False),
        (3, "Cy", "gold", D3, None, True),
        (4, "Di", "bronze", D2, None, True),
    }
    assert versions(con, day4) == expected_day4
    assert versions(con, scd2_snapshot(day4, day4_source, "id", now=D5, **strategy_kwargs)) == expected_day4


def test_scd2_check_strategy_walks_insert_change_delete_reappear(con):
    check_walk(con, {"strategy": "check"})


def test_scd2_check_strategy_compares_only_check_cols(con):
    day1 = store(
        con, scd2_snapshot(None, source([(1, "Ann", "gold")]), "id", strategy="check", check_cols=["tier"], now=D1), 1
    )
    # The name changes but only tier is checked: no new version, the old name stays.
    day2 = scd2_snapshot(day1, source([(1, "Anne", "gold")]), "id", strategy="check", check_cols=["tier"], now=D2)
    assert versions(con, day2) == {(1, "Ann", "gold", D1, None, True)}


TIMED = {"id": "int64", "name": "string", "updated_at": "timestamp"}
T = {hour: datetime(2024, 1, 1 + hour // 24, hour % 24) for hour in range(0, 24 * 5)}


def test_scd2_timestamp_strategy_walk(con):
    def snap(existing, rows, now, **kwargs):
        return scd2_snapshot(existing, source(rows, TIMED), "id", updated_at="updated_at", now=now, **kwargs)

    columns = ("id", "name", "updated_at")
    # Day 1: versions open at their updated_at, not at now.
    day1 = store(con, snap(None, [(1, "a", T[8]), (2, "b", T[9])], now=T[12]), 1)
    assert versions(con, day1, columns) == {
        (1, "a", T[8], T[8], None, True),
        (2, "b", T[9], T[9], None, True),
    }
    # Day 2: 1 was updated at day 2 07:00; 2's name differs but its updated_at did not
    # move, so it is not a change; 3 is new.
    day2_rows = [(1, "a2", T[31]), (2, "b-typo", T[9]), (3, "c", T[32])]
    day2 = store(con, snap(day1, day2_rows, now=T[36]), 2)
    expected_day2 = {
        (1, "a", T[8], T[8], T[31], False),
        (1, "a2", T[31], T[31], None, True),
        (2, "b", T[9], T[9], None, True),
        (3, "c", T[32], T[32], None, True),
    }
    assert versions(con, day2, columns) == expected_day2
    assert versions(con, snap(day2, day2_rows, now=T[40]), columns) == expected_day2
    # Day 3 at noon: 2 and 3 are gone; they close at now.
    day3 = store(con, snap(day2, [(1, "a2", T[31])], now=T[60]), 3)
    assert versions(con, day3, columns) == {
        (1, "a", T[8], T[8], T[31], False),
        (1, "a2", T[31], T[31], None, True),
        (2, "b", T[9], T[9], T[60], False),
        (3, "c", T[32], T[32], T[60], False),
    }
    # Day 4: 3 is back with its old updated_at: it reopens at now, never overlapping
    # its closed version.
    day4 = snap(day3, [(1, "a2", T[31]), (3, "c", T[32])], now=T[84])
    assert versions(con, day4, columns) == {
        (1, "a", T[8], T[8], T[31], False),
        (1, "a2", T[31], T[31], None, True),
        (2, "b", T[9], T[9], T[60], False),
        (3, "c", T[32], T[32], T[60], False),
        (3, "c", T[32], T[84], None, True),
    }


def test_scd2_without_hard_deletes_keeps_missing_keys_current(con):
    day1 = store(
        con, scd2_snapshot(None, source([(1, "Ann", "gold"), (2, "Bo", "silver")]), "id", strategy="check", now=D1), 1
    )
    day2 = scd2_snapshot(day1, source([(1, "Ann", "gold")]), "id", strategy="check", now=D2, hard_deletes=False)
    assert versions(con, day2) == {(1, "Ann", "gold", D1, None, True), (2, "Bo", "silver", D1, None, True)}


def test_scd2_ids_are_md5_of_key_and_valid_from_and_stable(con):
    day1 = store(con, scd2_snapshot(None, source([(1, "Ann", "gold")]), "id", strategy="check", now=D1), 1)
    day2 = scd2_snapshot(day1, source([(1, "Ann", "red")]), "id", strategy="check", now=D2)
    ids = {(r["tier"], r["scd_id"]) for r in con.to_pyarrow(day2.select("tier", "scd_id")).to_pylist()}
    assert ids == {
        ("gold", hashlib.md5(b"1|2024-01-01 00:00:00.000000").hexdigest()),
        ("red", hashlib.md5(b"1|2024-01-02 00:00:00.000000").hexdigest()),
    }


def test_scd2_with_a_composite_key(con):
    schema = {"shop": "string", "sku": "string", "price": "int64"}
    day1 = store(
        con,
        scd2_snapshot(None, source([("n", "x", 1), ("s", "x", 1)], schema), ["shop", "sku"], strategy="check", now=D1),
        1,
    )
    day2 = scd2_snapshot(
        day1, source([("n", "x", 2), ("s", "x", 1)], schema), ["shop", "sku"], strategy="check", now=D2
    )
    assert versions(con, day2, ("shop", "sku", "price")) == {
        ("n", "x", 1, D1, D2, False),
        ("n", "x", 2, D2, None, True),
        ("s", "x", 1, D1, None, True),
    }


def test_scd2_materialized_day_by_day_replaces_the_snapshot(con):
    name = "gold.dim_customer"
    days = [
        (D1, [(1, "Ann", "gold"), (2, "Bo", "silver")]),
        (D2, [(1, "Ann", "platinum"), (2, "Bo", "silver")]),
        (D3, [(1, "Ann", "platinum")]),
        (D4, [(1, "Ann", "platinum"), (2, "Bo", "silver")]),
    ]
    assert existing_snapshot(con, name) is None
    built = []
    for now, rows in days:
        expr = scd2_snapshot(existing_snapshot(con, name), source(rows), "id", strategy="check", now=now)
        built.append(materialize(con, expr, name).rows)
    # Rerunning the last day over what it built adds nothing.
    expr = scd2_snapshot(existing_snapshot(con, name), source(days[-1][1]), "id", strategy="check", now=D4)
    built.append(materialize(con, expr, name).rows)
    assert built == [2, 3, 3, 4, 4]
    assert versions(con, con.table("dim_customer", database="gold")) == {
        (1, "Ann", "gold", D1, D2, False),
        (1, "Ann", "platinum", D2, None, True),
        (2, "Bo", "silver", D1, D3, False),
        (2, "Bo", "silver", D4, None, True),
    }


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"strategy": "hash"}, "unknown strategy 'hash'"),
        ({"strategy": "timestamp"}, "needs updated_at="),
        ({"strategy": "timestamp", "updated_at": "name"}, "'name' .* is string, not a timestamp"),
        ({"strategy": "check", "check_cols": ["colour"]}, "column 'colour' is not in"),
    ],
)
def test_scd2_rejects_bad_arguments(kwargs, message):
    with pytest.raises(MillpondError, match=message):
        scd2_snapshot(None, source([(1, "Ann", "gold")]), "id", now=D1, **kwargs)


def test_scd2_rejects_a_missing_key_and_reserved_columns():
    with pytest.raises(MillpondError, match="column 'customer_id' is not in"):
        scd2_snapshot(None, source([(1, "Ann", "gold")]), "customer_id", strategy="check", now=D1)
    clash = source([(1, "Ann", True)], {"id": "int64", "name": "string", "is_current": "boolean"})
    with pytest.raises(MillpondError, match="reserved column 'is_current'"):
        scd2_snapshot(None, clash, "id", strategy="check", now=D1)


def test_scd1_overwrites_by_key_and_keeps_keys_missing_from_the_source(con):
    current = con.create_table("dim", source([(1, "Ann", "gold"), (2, "Bo", "silver")]))
    updates = source([(2, "Bo", "gold"), (3, "Cy", None)])
    rows = con.to_pyarrow(scd1(current, updates, "id")).to_pylist()
    assert sorted(tuple(r.values()) for r in rows) == [(1, "Ann", "gold"), (2, "Bo", "gold"), (3, "Cy", None)]
    # Applying the same source again changes nothing; with no current table it is the source.
    again = con.to_pyarrow(scd1(con.create_table("dim2", scd1(current, updates, "id")), updates, "id")).to_pylist()
    assert sorted(tuple(r.values()) for r in again) == [(1, "Ann", "gold"), (2, "Bo", "gold"), (3, "Cy", None)]
    assert con.to_pyarrow(scd1(None, updates, "id")).num_rows == 2


def test_scd2_check_strategy_with_updated_at_versions_real_changes_only(con):
    """dbt's check strategy with an updated_at: a touch adds nothing, a silent change is kept
    (at now), a change with a new updated_at happens then; a key back after a delete opens at now."""

    def snap(existing, rows, now):
        return scd2_snapshot(existing, source(rows, TIMED), "id", strategy="check", updated_at="updated_at", now=now)

    columns = ("id", "name", "updated_at")
    day1 = store(con, snap(None, [(1, "a", T[8]), (2, "b", T[9]), (3, "c", T[10])], now=T[12]), 1)
    assert versions(con, day1, columns) == {
        (1, "a", T[8], T[8], None, True),  # new keys open at their updated_at
        (2, "b", T[9], T[9], None, True),
        (3, "c", T[10], T[10], None, True),
    }
    # Day 2: 1 is touched (a new updated_at, nothing else); 2 changes its name without a new
    # updated_at; 3 changes with one.
    day2 = store(con, snap(day1, [(1, "a", T[30]), (2, "b2", T[9]), (3, "c2", T[31])], now=T[36]), 2)
    expected = {
        (1, "a", T[8], T[8], None, True),  # the touch: no version
        (2, "b", T[9], T[9], T[36], False),  # the silent change: at now
        (2, "b2", T[9], T[36], None, True),
        (3, "c", T[10], T[10], T[31], False),  # the change: at its updated_at
        (3, "c2", T[31], T[31], None, True),
    }
    assert versions(con, day2, columns) == expected
    # Day 3: 3 is deleted; day 4 it is back; day 5 it changes with an updated_at older than its return.
    day3 = store(con, snap(day2, [(1, "a", T[30]), (2, "b2", T[9])], now=T[60]), 3)
    day4 = store(con, snap(day3, [(1, "a", T[30]), (2, "b2", T[9]), (3, "c2", T[31])], now=T[84]), 4)
    day5 = snap(day4, [(1, "a", T[30]), (2, "b2", T[9]), (3, "c3", T[50])], now=T[108])
    assert {v for v in versions(con, day5, columns) if v[0] == 3} == {
        (3, "c", T[10], T[10], T[31], False),
        (3, "c2", T[31], T[31], T[60], False),  # deleted at day 3's now
        (3, "c2", T[31], T[84], T[108], False),  # back at day 4's now
        (3, "c3", T[50], T[108], None, True),  # T[50] is before T[84]: at now, never backwards
    }


def test_scd2_timestamp_strategy_never_ends_a_version_before_it_began(con):
    def snap(existing, rows, now):
        return scd2_snapshot(existing, source(rows, TIMED), "id", updated_at="updated_at", now=now)

    day1 = store(con, snap(None, [(1, "a", T[8])], now=T[12]), 1)
    day2 = store(con, snap(day1, [(2, "x", T[9])], now=T[36]), 2)  # 1 deleted at T[36]
    day3 = store(con, snap(day2, [(1, "a", T[8]), (2, "x", T[9])], now=T[60]), 3)  # 1 back at T[60]
    day4 = snap(day3, [(1, "a2", T[40]), (2, "x", T[9])], now=T[84])  # updated at T[40] < T[60]
    rows = sorted(v for v in versions(con, day4, ("id", "name", "updated_at")) if v[0] == 1)
    assert rows == [
        (1, "a", T[8], T[8], T[36], False),
        (1, "a", T[8], T[60], T[84], False),
        (1, "a2", T[40], T[84], None, True),
    ]
