"""The measured query plan ``--profile`` shows, on both engines."""

from __future__ import annotations

import ibis

from millpond.warehouse.query_plan import query_plan


def test_the_plan_is_measured_on_each_engine(con):
    con.create_table("plan_t", ibis.memtable({"g": ["x", "y", "x"], "a": [1, 2, 3]}), overwrite=True)
    t = con.table("plan_t")
    plan = query_plan(con, t.filter(t.a > 1).group_by("g").agg(s=t.a.sum()))
    if con.name == "duckdb":
        assert "Total Time" in plan and "GROUP_BY" in plan
    else:  # PostgreSQL: EXPLAIN (ANALYZE, BUFFERS)
        assert "actual time=" in plan and "Execution Time" in plan and "Aggregate" in plan
