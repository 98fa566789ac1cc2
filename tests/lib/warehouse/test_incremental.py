"""Incremental strategies, the same on DuckDB and PostgreSQL; expected rows worked out by hand."""

from __future__ import annotations

import datetime as dt

import ibis
import pytest

from millpond.errors import MillpondError
from millpond.warehouse.incremental import Incremental
from millpond.warehouse.incremental_strategies import IncrementalStrategy, register_strategy, strategies
from millpond.warehouse.materialize import materialize
from millpond.warehouse.sql import TEMP_PREFIX, quote

D = {d: dt.date(2024, 1, d) for d in range(1, 32)}  # D[5] is 2024-01-05


def build(con, data: dict, name: str = "gold.t", **spec):
    return materialize(con, ibis.memtable(data), name, kind="incremental", incremental=Incremental.of(**spec))


def rows(con, name: str = "gold.t") -> list[tuple]:
    schema, table = name.split(".")
    t = con.table(table, database=schema)
    return sorted(tuple(r.values()) for r in t.to_pyarrow().to_pylist())


def leftovers(con, schema: str = "gold") -> list[str]:
    return [t for t in con.list_tables(database=schema) if t.startswith(TEMP_PREFIX)]


def test_append_adds_only_rows_past_the_watermark_and_is_idempotent(con):
    first = build(con, {"id": [1, 2, 3], "v": ["a", "b", "c"]}, strategy="append", watermark="id")
    assert (first.rows, first.new_rows) == (3, None)  # built whole the first time
    source = {"id": [1, 2, 3, 4, 5], "v": ["A", "B", "C", "d", "e"]}  # 1-3 changed upstream: append keeps the old
    second = build(con, source, strategy="append", watermark="id")
    assert (second.rows, second.new_rows) == (5, 2)
    again = build(con, source, strategy="append", watermark="id")
    assert (again.rows, again.new_rows) == (5, 0)
    assert rows(con) == [(1, "a"), (2, "b"), (3, "c"), (4, "d"), (5, "e")]
    assert leftovers(con) == []


def test_append_on_a_key_takes_late_rows_inside_the_lookback_only(con):
    utc = dt.timezone.utc
    at = [dt.datetime(2024, 1, 10, h, tzinfo=utc) for h in range(24)]
    build(con, {"id": [1, 2], "ts": [at[8], at[20]]}, strategy="append", unique_key="id", watermark="ts", lookback="6h")
    # max ts 20:00, lookback 6h: cutoff 14:00. id 3 at 15:00 is late but inside; id 4 at 13:00 is outside
    source = {"id": [1, 2, 3, 4, 5], "ts": [at[8], at[20], at[15], at[13], at[21]]}
    late = build(con, source, strategy="append", unique_key="id", watermark="ts", lookback="6h")
    assert late.new_rows == 2
    assert [r[0] for r in rows(con)] == [1, 2, 3, 5]
    assert build(con, source, strategy="append", unique_key="id", watermark="ts", lookback="6h").new_rows == 0
    assert [r[0] for r in rows(con)] == [1, 2, 3, 5]


def test_merge_upserts_on_the_key_and_is_idempotent(con):
    build(
        con,
        {"id": [1, 2, 3], "v": ["a", "b", "c"], "day": [D[1], D[1], D[2]]},
        strategy="merge",
        unique_key="id",
        watermark="day",
    )
    # cutoff = max(day) = D[2]: id 2 (D[3]) is updated, id 3 (D[2]) re-merged unchanged, id 4 inserted;
    # id 1's change at D[1] is older than the watermark and ignored
    source = {"id": [1, 2, 3, 4], "v": ["A", "B", "c", "d"], "day": [D[1], D[3], D[2], D[3]]}
    merged = build(con, source, strategy="merge", unique_key="id", watermark="day")
    expected = [(1, "a", D[1]), (2, "B", D[3]), (3, "c", D[2]), (4, "d", D[3])]
    assert (merged.rows, merged.new_rows, rows(con)) == (4, 3, expected)  # ids 2, 3 and 4 staged
    again = build(con, source, strategy="merge", unique_key="id", watermark="day")
    assert (again.rows, rows(con)) == (4, expected)
    assert leftovers(con) == []


@pytest.mark.parametrize("propagate, kept", [(False, [1, 2, 3, 4]), (True, [1, 3, 4])])
def test_a_row_deleted_upstream_goes_when_deletes_propagate(con, propagate, kept):
    """Issue 21.3: an order whose silver row was held in quarantine stayed in the incremental
    fact table; with ``propagate_deletes`` the build deletes what the full expression no
    longer has, in the same transaction as the new rows."""
    spec = {"strategy": "merge", "unique_key": "id", "watermark": "day", "propagate_deletes": propagate}
    build(con, {"id": [1, 2, 3], "v": ["a", "b", "c"], "day": [D[1], D[1], D[2]]}, **spec)
    # id 2 is gone upstream (an old row: outside the watermark), id 4 is new
    merged = build(con, {"id": [1, 3, 4], "v": ["a", "c", "d"], "day": [D[1], D[2], D[3]]}, **spec)
    assert [r[0] for r in rows(con)] == kept and merged.rows == len(kept)
    # id 2 comes back, as old as it was (outside the watermark): the table takes it again
    build(con, {"id": [1, 2, 3, 4], "v": ["a", "b", "c", "d"], "day": [D[1], D[1], D[2], D[3]]}, **spec)
    assert [r[0] for r in rows(con)] == [1, 2, 3, 4]
    assert leftovers(con) == []


def test_propagating_deletes_needs_a_key(con):
    build(con, {"id": [1], "day": [D[1]]}, strategy="append", watermark="day")
    with pytest.raises(MillpondError, match="propagate_deletes needs unique_key"):
        build(con, {"id": [1, 2], "day": [D[1], D[2]]}, strategy="append", watermark="day", propagate_deletes=True)


def test_merge_on_a_composite_key(con):
    spec = {"strategy": "merge", "unique_key": ["store", "day"]}
    build(con, {"store": ["s1", "s1", "s2"], "day": [D[1], D[2], D[1]], "sales": [10, 20, 30]}, **spec)
    build(con, {"store": ["s1", "s2"], "day": [D[2], D[2]], "sales": [25, 5]}, **spec)
    assert rows(con) == [("s1", D[1], 10), ("s1", D[2], 25), ("s2", D[1], 30), ("s2", D[2], 5)]


def test_late_rows_inside_the_lookback_are_merged_outside_are_ignored(con):
    spec = {"strategy": "merge", "unique_key": "id", "watermark": "day", "lookback": "3d"}
    build(con, {"id": [1, 2, 3], "v": ["a", "b", "c"], "day": [D[1], D[5], D[10]]}, **spec)
    # max day D[10], lookback 3 days: cutoff D[7]. id 1 arrives late at D[8] (inside: merged),
    # id 2 late at D[4] (outside: ignored, documented), id 4 new at D[9] (inside: inserted)
    source = {"id": [1, 2, 3, 4], "v": ["A", "B", "c", "d"], "day": [D[8], D[4], D[10], D[9]]}
    build(con, source, **spec)
    expected = [(1, "A", D[8]), (2, "b", D[5]), (3, "c", D[10]), (4, "d", D[9])]
    assert rows(con) == expected
    build(con, source, **spec)
    assert rows(con) == expected


def test_delete_insert_replaces_the_given_partitions_whole(con):
    spec = {"strategy": "delete+insert", "partition_by": "day"}
    build(con, {"day": [D[1], D[1], D[2]], "v": ["a", "b", "c"]}, **spec, partitions=D[2])
    # only D[2] is replaced, with every source row of D[2]; D[1]'s changed rows are not touched
    source = {"day": [D[1], D[2], D[2]], "v": ["x", "c2", "e"]}
    replaced = build(con, source, **spec, partitions=D[2])
    expected = [(D[1], "a"), (D[1], "b"), (D[2], "c2"), (D[2], "e")]
    assert (replaced.new_rows, rows(con)) == (2, expected)
    assert rows(con) == expected and build(con, source, **spec, partitions=D[2]).rows == 4
    # a partition given but absent from the new rows is emptied
    build(con, source, **spec, partitions=[dt.date(2024, 1, 2), D[3]])
    emptied = build(con, {"day": [D[1]], "v": ["x"]}, **spec, partitions=[D[2]])
    assert (emptied.rows, rows(con)) == (2, [(D[1], "a"), (D[1], "b")])
    assert leftovers(con) == []


def test_delete_insert_by_watermark_replaces_the_partitions_new_rows_touch(con):
    spec = {"strategy": "delete+insert", "partition_by": "day", "watermark": "day"}
    build(con, {"day": [D[1], D[1], D[2]], "v": ["a", "b", "c"]}, **spec)
    # cutoff max(day) = D[2]: partitions D[2] and D[3] are replaced; D[1] stays as it was
    source = {"day": [D[1], D[2], D[2], D[3]], "v": ["x", "c", "late", "d"]}
    build(con, source, **spec)
    expected = [(D[1], "a"), (D[1], "b"), (D[2], "c"), (D[2], "late"), (D[3], "d")]
    assert rows(con) == expected
    build(con, source, **spec)
    assert rows(con) == expected


def test_full_refresh_rebuilds_from_the_full_expression(con):
    build(con, {"id": [1, 2], "v": ["a", "b"]}, strategy="merge", unique_key="id")
    refreshed = materialize(
        con,
        ibis.memtable({"id": [2, 3], "v": ["B", "c"]}),
        "gold.t",
        kind="incremental",
        incremental=Incremental.of("merge", unique_key="id"),
        full_refresh=True,
    )
    assert (refreshed.new_rows, rows(con)) == (None, [(2, "B"), (3, "c")])


def test_a_schema_mismatch_is_one_line_and_leaves_the_table(con):
    build(con, {"id": [1, 2], "v": ["a", "b"]}, strategy="merge", unique_key="id")
    with pytest.raises(MillpondError) as raised:
        build(con, {"id": [3], "v": [7], "w": [1.5]}, strategy="merge", unique_key="id")
    message = str(raised.value)
    assert "\n" not in message and message.startswith("incremental gold.t: ")
    assert "unexpected w" in message and "v is int64 but string in the table" in message
    assert "--full-refresh gold.t" in message
    with pytest.raises(MillpondError, match="missing v"):
        build(con, {"id": [3]}, strategy="merge", unique_key="id")
    assert rows(con) == [(1, "a"), (2, "b")] and leftovers(con) == []


def test_merge_refuses_null_or_repeated_keys_and_leaves_the_table(con):
    build(con, {"id": ["1"], "v": ["a"]}, strategy="merge", unique_key="id")
    with pytest.raises(MillpondError, match=r"1 unique_key \(id\) value\(s\) appear more than once"):
        build(con, {"id": ["2", "2"], "v": ["b", "c"]}, strategy="merge", unique_key="id")
    with pytest.raises(MillpondError, match=r"1 new row\(s\) have a null in unique_key \(id\)"):
        build(con, {"id": [None, "3"], "v": ["b", "c"]}, strategy="merge", unique_key="id")
    assert rows(con) == [("1", "a")] and leftovers(con) == []


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ({"strategy": "upsert"}, "unknown strategy 'upsert'"),
        ({"strategy": "append"}, "append needs watermark= or unique_key="),
        ({"strategy": "append", "watermark": "id", "lookback": "1d"}, "append with a lookback needs unique_key="),
        ({"strategy": "merge"}, "merge needs unique_key="),
        ({"strategy": "delete+insert"}, "delete\\+insert needs partition_by="),
        ({"strategy": "merge", "unique_key": "nope"}, "no column nope in the new rows"),
        ({"strategy": "append", "watermark": "id", "lookback": "3 fortnights"}, "lookback '3 fortnights'"),
    ],
)
def test_a_strategy_without_what_it_needs_is_a_user_error(con, spec, message):
    with pytest.raises(MillpondError, match=message):
        build(con, {"id": [1]}, **spec)


class _KeepNewest(IncrementalStrategy):
    """A strategy as a user would add one: keep only the rows of the newest day, dropping the rest."""

    name = "keep_newest"

    def problem(self, spec):
        return None if spec.watermark else "keep_newest needs watermark="

    def rows(self, step):
        newest = step.expr[step.spec.watermark].max()
        return step.expr.filter(step.expr[step.spec.watermark] == newest)

    def replaces(self, step, staged_name, staged):
        step.statements.append(f"DELETE FROM {quote(step.con, step.schema, step.table)}")


@pytest.fixture
def keep_newest():
    register_strategy(_KeepNewest())
    yield
    from millpond.warehouse import incremental_strategies

    incremental_strategies._STRATEGIES.pop("keep_newest")


def test_a_registered_strategy_gets_the_staging_the_contract_and_the_atomic_commit(con, keep_newest):
    assert "keep_newest" in strategies()
    build(con, {"id": [1, 2], "day": [D[1], D[2]]}, strategy="append", watermark="day")
    built = build(con, {"id": [3, 4, 5], "day": [D[3], D[4], D[4]]}, strategy="keep_newest", watermark="day")
    assert built.new_rows == 2 and rows(con) == [(4, D[4]), (5, D[4])]
    assert leftovers(con) == []
    with pytest.raises(MillpondError, match="keep_newest needs watermark="):
        build(con, {"id": [6]}, strategy="keep_newest")
    with pytest.raises(MillpondError, match="primary_key|unique"):  # the contract's key, checked before the commit
        materialize(
            con,
            ibis.memtable({"id": [4, 4], "day": [D[5], D[5]]}),
            "gold.t",
            kind="incremental",
            incremental=Incremental.of("keep_newest", watermark="day"),
            contract={"primary_key": ["id"]},
        )
    assert rows(con) == [(4, D[4]), (5, D[4])] and leftovers(con) == []


def test_the_declarable_strategies_are_the_registered_ones():
    from typing import get_args

    from millpond.settings.tables import Strategy

    assert set(get_args(Strategy)) == set(strategies())
