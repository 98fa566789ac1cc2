"""Materialized views: refreshed when an upstream changed and only then, on DuckDB and PostgreSQL."""

from __future__ import annotations

import time

import ibis
import pytest

from millpond.errors import MillpondError
from millpond.store.metadata import Materialization, MetadataStore
from millpond.warehouse.incremental import Incremental
from millpond.warehouse.materialize import materialize
from millpond.warehouse.sql import TEMP_PREFIX


class Warehouse:
    """Builds tables and records them in a real metadata store, as the stage context does."""

    def __init__(self, con, store: MetadataStore):
        self.con, self.store = con, store

    def build(self, expr, name: str, kind: str = "table", **options):
        if kind == "materialized_view":
            options.setdefault("upstream_version", self.version)
        result = materialize(self.con, expr, name, kind, **options)
        self.store.record_materialization(
            Materialization(name, kind, result.rows, result.schema, result.duration, "f", None, None, time.time())
        )
        return result

    def version(self, name: str) -> str | None:
        m = self.store.latest_materialization(name)
        return f"{m.fingerprint}@{m.built_at!r}" if m else None

    def source(self, ids: list[int], values: list[int], **options):
        kind = "incremental" if options else "table"
        return self.build(
            ibis.memtable({"id": ids, "v": values}, schema={"id": "int64", "v": "int64"}), "silver.src", kind, **options
        )

    def table(self, name: str):
        schema, table = name.split(".")
        return self.con.table(table, database=schema)

    def rows(self, name: str) -> list[tuple]:
        return sorted((tuple(r.values()) for r in self.table(name).to_pyarrow().to_pylist()), key=str)


@pytest.fixture
def wh(con, tmp_path):
    return Warehouse(con, MetadataStore(tmp_path / "meta.sqlite"))


def big(src):
    """Row-wise over one upstream: rows with v > 10, v doubled, the id passed through as seq."""
    return src.filter(src.v > 10).select(seq=src.id, double=src.v * 2)


def test_refreshes_only_when_an_upstream_changed(wh):
    wh.source([1, 2, 3], [5, 20, 30])
    builds = [wh.build(big(wh.table("silver.src")), "gold.mv", "materialized_view") for _ in range(3)]
    assert [b.refresh for b in builds] == ["refreshed whole", "up to date", "up to date"]
    assert repr(builds[1]) == "Materialized gold.mv (materialized_view): 2 rows, 2 columns, up to date"
    assert wh.rows("gold.mv") == [(2, 40), (3, 60)]
    wh.source([1, 2], [50, 6])  # the upstream is rebuilt: 1 -> 50 passes the filter, 2 -> 6 does not
    after = [wh.build(big(wh.table("silver.src")), "gold.mv", "materialized_view") for _ in range(2)]
    assert [b.refresh for b in after] == ["refreshed whole", "up to date"]
    assert wh.rows("gold.mv") == [(1, 100)]


def test_a_new_definition_refreshes(wh):
    wh.source([1, 2, 3], [5, 20, 30])
    src = wh.table("silver.src")
    wh.build(big(src), "gold.mv", "materialized_view")
    changed = wh.build(big(src).filter(lambda t: t.seq < 3), "gold.mv", "materialized_view")
    assert (changed.refresh, wh.rows("gold.mv")) == ("refreshed whole", [(2, 40)])


def test_incremental_refresh_equals_a_full_rebuild_and_is_idempotent(wh):
    append = {"incremental": Incremental.of("append", watermark="id")}
    wh.source([1, 2, 3], [5, 20, 30], **append)
    first = wh.build(big(wh.table("silver.src")), "gold.mv", "materialized_view", watermark="seq")
    assert first.refresh == "refreshed whole"
    wh.source([1, 2, 3, 4, 5, 6], [5, 20, 30, 1, 11, 12], **append)  # 4, 5, 6 appended; 5 and 6 pass
    second = wh.build(big(wh.table("silver.src")), "gold.mv", "materialized_view", watermark="seq")
    assert (second.refresh, second.new_rows, second.rows) == ("refreshed incrementally", 2, 4)
    assert repr(second).endswith(", refreshed incrementally (2 new rows)")
    whole = wh.build(big(wh.table("silver.src")), "gold.whole", "table")
    assert wh.rows("gold.mv") == wh.rows("gold.whole") == [(2, 40), (3, 60), (5, 22), (6, 24)]
    third = wh.build(big(wh.table("silver.src")), "gold.mv", "materialized_view", watermark="seq")
    assert third.refresh == "up to date"
    assert wh.rows("gold.mv") == wh.rows("gold.whole") and whole.rows == 4


def test_an_upstream_that_lost_or_rewrote_old_rows_is_rebuilt_whole(wh):
    wh.source([1, 2, 3], [5, 20, 30])
    wh.build(big(wh.table("silver.src")), "gold.mv", "materialized_view", watermark="seq")
    wh.source([1, 3, 4], [5, 30, 40])  # row 2 is gone: fewer rows at or below the old maximum (3)
    again = wh.build(big(wh.table("silver.src")), "gold.mv", "materialized_view", watermark="seq")
    assert (again.refresh, wh.rows("gold.mv")) == ("refreshed whole", [(3, 60), (4, 80)])


def test_an_aggregate_without_groups_or_a_window_is_refreshed_whole(wh):
    wh.source([1, 2, 3], [5, 20, 30], incremental=Incremental.of("append", watermark="id"))
    src = wh.table("silver.src")
    totals = src.aggregate(top=src.id.max(), total=src.v.sum())
    ranked = src.select("id", share=src.v / src.v.sum())  # a window over every row
    wh.build(totals, "gold.totals", "materialized_view", watermark="id")
    wh.build(ranked, "gold.ranked", "materialized_view", watermark="id")
    wh.source([1, 2, 3, 4], [5, 20, 30, 45], incremental=Incremental.of("append", watermark="id"))
    refreshed = wh.build(totals, "gold.totals", "materialized_view", watermark="id")
    assert (refreshed.refresh, wh.rows("gold.totals")) == ("refreshed whole", [(4, 100)])
    refreshed = wh.build(ranked, "gold.ranked", "materialized_view", watermark="id")
    assert (refreshed.refresh, wh.rows("gold.ranked")) == (
        "refreshed whole",
        [(1, 0.05), (2, 0.2), (3, 0.3), (4, 0.45)],
    )


def test_a_group_by_recomputes_only_the_groups_new_rows_touch(wh):
    append = {"incremental": Incremental.of("append", watermark="id")}

    def events(ids, shops, values):
        types = {"id": "int64", "shop": "string", "v": "int64"}
        return wh.build(
            ibis.memtable({"id": ids, "shop": shops, "v": values}, schema=types),
            "silver.ev",
            **append,
            kind="incremental",
        )

    def per_shop():
        ev = wh.table("silver.ev")
        positive = ev.filter(ev.v > 0)
        return positive.group_by("shop").agg(total=positive.v.sum(), n=positive.count(), last=positive.id.max())

    events([1, 2, 3, 4], ["a", "a", "b", None], [1, 2, 3, 4])
    assert wh.build(per_shop(), "gold.per_shop", "materialized_view", watermark="id").refresh == "refreshed whole"
    # 5 and 7 touch a and the null shop; 6 is filtered out (v <= 0); 8 opens shop c; b is untouched
    events([1, 2, 3, 4, 5, 6, 7, 8], ["a", "a", "b", None, "a", "b", None, "c"], [1, 2, 3, 4, 10, -1, 6, 8])
    refreshed = wh.build(per_shop(), "gold.per_shop", "materialized_view", watermark="id")
    assert (refreshed.refresh, refreshed.new_rows, refreshed.rows) == ("refreshed incrementally", 3, 4)
    expected = sorted([("a", 13, 3, 5), ("b", 3, 1, 3), ("c", 8, 1, 8), (None, 10, 2, 7)], key=str)
    assert wh.rows("gold.per_shop") == expected
    wh.build(per_shop(), "gold.whole", "table")
    assert wh.rows("gold.whole") == expected
    assert wh.build(per_shop(), "gold.per_shop", "materialized_view", watermark="id").refresh == "up to date"


def test_without_versions_it_always_refreshes_and_stays_the_same(wh):
    wh.source([1, 2, 3], [5, 20, 30])
    src = wh.table("silver.src")
    builds = [materialize(wh.con, big(src), "gold.mv", "materialized_view", watermark="seq") for _ in range(3)]
    assert [b.refresh for b in builds] == ["refreshed whole", "refreshed incrementally", "refreshed incrementally"]
    assert [b.new_rows for b in builds[1:]] == [0, 0] and wh.rows("gold.mv") == [(2, 40), (3, 60)]


def test_a_view_of_a_view_follows_its_refreshes(wh):
    wh.source([1, 2, 3], [5, 20, 30])
    wh.build(big(wh.table("silver.src")), "gold.mv", "materialized_view")
    top = lambda: wh.table("gold.mv").filter(lambda t: t.double > 50)  # noqa: E731
    assert wh.build(top(), "gold.top", "materialized_view").refresh == "refreshed whole"
    wh.build(big(wh.table("silver.src")), "gold.mv", "materialized_view")  # up to date: recorded, unchanged
    assert wh.build(top(), "gold.top", "materialized_view").refresh == "up to date"
    wh.source([1], [99])
    wh.build(big(wh.table("silver.src")), "gold.mv", "materialized_view")
    assert wh.build(top(), "gold.top", "materialized_view").refresh == "refreshed whole"
    assert wh.rows("gold.top") == [(1, 198)]


def test_a_table_built_over_it_is_not_taken_for_the_view(wh):
    wh.source([1, 2, 3], [5, 20, 30])
    wh.build(big(wh.table("silver.src")), "gold.mv", "materialized_view")
    materialize(wh.con, ibis.memtable({"seq": [7], "double": [7]}), "gold.mv")  # no record: same versions
    again = wh.build(big(wh.table("silver.src")), "gold.mv", "materialized_view")
    assert (again.refresh, wh.rows("gold.mv")) == ("refreshed whole", [(2, 40), (3, 60)])


def test_a_failed_refresh_keeps_the_previous_rows_and_refreshes_next_time(wh):
    wh.source([1, 2, 3], [5, 20, 30])
    wh.build(big(wh.table("silver.src")), "gold.mv", "materialized_view")
    wh.source([1, 2, 3], [20, 20, 30])
    duplicated = r"contract of gold.mv violated.*primary_key: 1 duplicated key\(s\) \(double\)"
    with pytest.raises(MillpondError, match=duplicated):
        wh.build(big(wh.table("silver.src")), "gold.mv", "materialized_view", contract={"primary_key": ["double"]})
    assert wh.rows("gold.mv") == [(2, 40), (3, 60)]
    assert [t for t in wh.con.list_tables(database="gold") if t.startswith(TEMP_PREFIX)] == []
    assert wh.build(big(wh.table("silver.src")), "gold.mv", "materialized_view").refresh == "refreshed whole"
    assert wh.rows("gold.mv") == [(1, 40), (2, 40), (3, 60)]


def test_a_refresh_rolled_back_in_its_transaction_leaves_rows_and_state_as_they_were(wh):
    append = {"incremental": Incremental.of("append", watermark="id")}
    wh.source([1, 2, 3], [5, 20, 30], **append)
    key = {"primary_key": ["double"]}
    wh.build(big(wh.table("silver.src")), "gold.mv", "materialized_view", watermark="seq", contract=key)
    wh.source([1, 2, 3, 4], [5, 20, 30, 30], **append)  # 4 doubles to 60 again: a duplicate key once inserted
    with pytest.raises(MillpondError, match=r"primary_key: 1 duplicated key\(s\) \(double\)"):
        wh.build(big(wh.table("silver.src")), "gold.mv", "materialized_view", watermark="seq", contract=key)
    assert wh.rows("gold.mv") == [(2, 40), (3, 60)]
    assert [t for t in wh.con.list_tables(database="gold") if t.startswith(TEMP_PREFIX)] == []
    # the state did not move either: without the contract the same new row is taken, once
    retried = [wh.build(big(wh.table("silver.src")), "gold.mv", "materialized_view", watermark="seq") for _ in range(2)]
    assert [(r.refresh, r.new_rows) for r in retried] == [("refreshed incrementally", 1), ("up to date", None)]
    assert wh.rows("gold.mv") == [(2, 40), (3, 60), (4, 60)]


def test_in_memory_data_is_refused(wh):
    with pytest.raises(MillpondError, match="a materialized view cannot be built over in-memory data"):
        wh.build(ibis.memtable({"id": [1]}), "gold.mv", "materialized_view")


def test_the_stage_context_refreshes_from_recorded_builds(tmp_path):
    from millpond.stage_api.context import StageContext
    from millpond.workspace import Workspace
    from support.workspaces import make_workspace

    ctx = StageContext(Workspace(make_workspace(tmp_path, {})))
    try:
        ctx.materialize(ibis.memtable({"id": [1, 2, 3], "v": [5, 20, 30]}), "silver.src")
        view = lambda: big(ctx.table("silver.src"))  # noqa: E731
        refreshes = [ctx.materialize(view(), "gold.mv", kind="materialized_view").refresh for _ in range(2)]
        ctx.materialize(ibis.memtable({"id": [4], "v": [40]}), "silver.src")
        refreshes += [ctx.materialize(view(), "gold.mv", kind="materialized_view").refresh for _ in range(2)]
        assert refreshes == ["refreshed whole", "up to date", "refreshed whole", "up to date"]
        assert sorted(tuple(r.values()) for r in ctx.table("gold.mv").to_pyarrow().to_pylist()) == [(4, 80)]
    finally:
        ctx.close()
