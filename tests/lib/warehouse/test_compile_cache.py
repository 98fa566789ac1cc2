"""Tests for millpond.warehouse.compile_cache: a cached statement is the one Ibis compiles.

The reference is always Ibis's own compile of the same expression on a backend without the
cache. The key must be stable across processes (a second process finds what the first
kept) and must differ wherever the SQL differs.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import sqlite3
import subprocess
import sys
import textwrap
import time
from decimal import Decimal
from itertools import combinations

import ibis
import pytest

from millpond.warehouse.compile_cache import CompiledSqlCache, cache_compiles, expression_key

T = ibis.table({"a": "int64", "b": "string", "d": "decimal(18, 2)", "ts": "timestamp"}, name="t", database="s")


def variants() -> dict[str, ibis.Table]:
    """Expressions that differ in one detail each; built afresh on every call."""
    from millpond.model.keys import surrogate_key

    t = ibis.table({"a": "int64", "b": "string", "d": "decimal(18, 2)", "ts": "timestamp"}, name="t", database="s")
    u = ibis.table({"a": "int64", "b": "string", "d": "decimal(18, 2)", "ts": "timestamp"}, name="u", database="s")
    elsewhere = ibis.table(t.schema(), name="t", database="other")
    return {
        "gt1": t.filter(t.a > 1),
        "gt2": t.filter(t.a > 2),
        "gt1.5": t.filter(t.a > 1.5),
        "ge1": t.filter(t.a >= 1),
        "b=1": t.filter(t.b == "1"),
        "other table": u.filter(u.a > 1),
        "other database": elsewhere.filter(elsewhere.a > 1),
        "x": t.select(x=t.a),
        "y": t.select(y=t.a),
        "decimal 38": t.select(x=t.d.cast("decimal(38, 2)")),
        "decimal 18,3": t.select(x=t.d.cast("decimal(18, 3)")),
        "decimal literal": t.select(x=t.d + Decimal("0.10")),
        "decimal literal 2": t.select(x=t.d + Decimal("0.25")),
        "day 1": t.filter(t.ts > dt.datetime(2024, 1, 1)),
        "day 2": t.filter(t.ts > dt.datetime(2024, 1, 2)),
        "date": t.filter(t.ts.date() > dt.date(2024, 1, 1)),
        "isin 12": t.filter(t.a.isin([1, 2])),
        "isin 13": t.filter(t.a.isin([1, 3])),
        "order": t.order_by(t.a),
        "order desc": t.order_by(t.a.desc()),
        "key a": t.select(k=surrogate_key(t.a)),
        "key a b": t.select(k=surrogate_key(t.a, t.b)),
        "agg sum": t.group_by("b").agg(n=t.d.sum()),
        "agg max": t.group_by("b").agg(n=t.d.max()),
        "window": t.mutate(r=ibis.row_number().over(group_by="b", order_by="a")),
        "join": t.join(u, "a").select(t.a, u.b),
        "left join": t.left_join(u, "a").select(t.a, u.b),
    }


def test_every_difference_in_the_sql_is_a_difference_in_the_key():
    con = ibis.duckdb.connect()
    sql = {name: con.compile(expr) for name, expr in variants().items()}
    keys = {name: expression_key(expr, dialect="duckdb") for name, expr in variants().items()}
    assert len(set(sql.values())) == len(sql)  # the variants are all different statements
    assert None not in keys.values()
    for a, b in combinations(sql, 2):
        assert keys[a] != keys[b], (a, b)
    again = {name: expression_key(expr, dialect="duckdb") for name, expr in variants().items()}
    assert again == keys  # the same expression built again has the same key
    assert expression_key(T, dialect="duckdb") != expression_key(T, dialect="postgres")
    assert expression_key(T, dialect="duckdb", limit=10) != expression_key(T, dialect="duckdb")


def test_a_self_join_has_the_same_key_whatever_was_built_before():
    """``view()`` numbers a self-reference with a process-wide counter; the key must not see
    it, or a stage would miss whenever another had built a view before it in the kernel."""

    def self_join():
        v = T.view()
        return T.join(v, T.a == v.b.length()).select(T.a, other=v.a)

    first = expression_key(self_join(), dialect="duckdb")
    for _ in range(3):
        T.view()  # moves the counter on
    assert expression_key(self_join(), dialect="duckdb") == first
    assert ibis.duckdb.connect().compile(self_join()) == ibis.duckdb.connect().compile(self_join())
    v, w = T.view(), T.view()  # two self-references in one expression stay two
    joined = T.join(v, T.a == v.a).join(w, T.a == w.b.length())
    straight, swapped = joined.select(T.a, x=v.b, y=w.b), joined.select(T.a, x=w.b, y=v.b)
    con = ibis.duckdb.connect()
    assert con.compile(straight) != con.compile(swapped)
    assert expression_key(straight, dialect="duckdb") != expression_key(swapped, dialect="duckdb")


def test_a_cached_compile_gives_what_ibis_compiles(tmp_path):
    plain = ibis.duckdb.connect()
    cached = ibis.duckdb.connect()
    cache = CompiledSqlCache(tmp_path / "compiled.sqlite")
    cache_compiles(cached, cache)
    for round_ in range(2):
        for name, expr in variants().items():
            assert cached.compile(expr) == plain.compile(expr), name
            assert cached.compile(expr, limit=5) == plain.compile(expr, limit=5), name
            assert cached.compile(expr, pretty=True) == plain.compile(expr, pretty=True), name
    n = 3 * len(variants())
    assert (cache.misses, cache.hits) == (n, n)


def test_a_second_process_finds_what_the_first_compiled(tmp_path, shop_reference):
    """The shop's gold expressions, compiled in one process, are hits in the next, and equal
    to what Ibis compiles there."""
    script = textwrap.dedent("""
        import datetime as dt, json, sys
        import ibis
        from shop import gold, marketing
        from millpond.model.scd import existing_snapshot
        from millpond.warehouse.compile_cache import CompiledSqlCache, cache_compiles

        con = ibis.duckdb.connect(sys.argv[1], read_only=True)
        plain = ibis.duckdb.connect()
        t = lambda name: con.table(name.split(".")[1], database=name.split(".")[0])
        exprs = [
            gold.dim_customer(t("silver.customers"), existing_snapshot(con, "gold.dim_customer")),
            gold.dim_product(t("silver.products")),
            gold.dim_date(dt.date(2024, 1, 1), dt.date(2024, 1, 31)),
            gold.fct_orders(t("silver.orders"), t("silver.order_lines"), t("silver.payments"), t("gold.dim_customer")),
            gold.fct_order_lines(t("silver.order_lines"), t("silver.orders"), t("gold.dim_product")),
            gold.mart_daily_revenue(t("gold.fct_orders"), t("gold.dim_date"), dt.date(2024, 1, 31)),
            marketing.revenue_by_country(t("gold.fct_orders"), t("gold.dim_customer")),
        ]
        cache = CompiledSqlCache(sys.argv[2])
        cache_compiles(con, cache)
        equal = [con.compile(e) == plain.compile(e) for e in exprs]
        rows = [con.execute(e.count()) for e in exprs]
        print(json.dumps({"hits": cache.hits, "misses": cache.misses, "equal": equal, "rows": rows}))
    """)
    cache_file = tmp_path / "compiled.sqlite"

    def run() -> dict:
        done = subprocess.run(
            [sys.executable, "-c", script, str(shop_reference.warehouse_file()), str(cache_file)],
            capture_output=True,
            text=True,
            check=True,
        )
        return json.loads(done.stdout.splitlines()[-1])

    first, second = run(), run()
    assert first["equal"] == second["equal"] == [True] * 7
    assert first["rows"] == second["rows"] and min(first["rows"]) > 0
    assert (first["hits"], second["misses"]) == (0, 0)  # hash seeds differ per process; the keys do not
    assert second["hits"] == first["misses"] == 14  # seven builds and seven counts


def test_in_memory_data_and_params_are_compiled_every_time(tmp_path):
    con = ibis.duckdb.connect()
    cache = CompiledSqlCache(tmp_path / "compiled.sqlite")
    cache_compiles(con, cache)
    rows = ibis.memtable({"a": [1, 2, 3]})
    assert con.execute(rows.filter(rows.a > 1).count()) == 2
    assert con.execute(rows.filter(rows.a > 1).count()) == 2
    con.raw_sql("CREATE TABLE n AS SELECT range AS a FROM range(5)")
    n, p = con.table("n"), ibis.param("int64")
    for bound in (2, 3):
        assert con.execute(n.filter(n.a > p).count(), params={p: bound}) == 4 - bound
    assert (cache.hits, cache.misses) == (0, 0)
    assert not (tmp_path / "compiled.sqlite").exists()


def test_a_broken_cache_file_only_costs_the_compile(tmp_path):
    path = tmp_path / "compiled.sqlite"
    path.write_bytes(b"this is not a database" * 100)
    con = ibis.duckdb.connect()
    cache = CompiledSqlCache(path)
    cache_compiles(con, cache)
    expr = variants()["window"]
    assert con.compile(expr) == ibis.duckdb.connect().compile(expr)
    assert con.compile(expr) == ibis.duckdb.connect().compile(expr)
    assert cache.hits == 0


def test_statements_unused_for_30_days_are_dropped(tmp_path):
    path = tmp_path / "compiled.sqlite"
    cache = CompiledSqlCache(path)
    cache.put("recent", "SELECT 1")
    db = sqlite3.connect(path)
    with db:
        db.execute("INSERT INTO compiled VALUES ('old', 'SELECT 2', ?)", (time.time() - 31 * 86_400,))
        db.execute("INSERT INTO compiled VALUES ('used lately', 'SELECT 3', ?)", (time.time() - 29 * 86_400,))
    later = CompiledSqlCache(path)  # another process: it prunes on its first write
    later.put("new", "SELECT 4")
    keys = {k for (k,) in db.execute("SELECT key FROM compiled")}
    assert keys == {"recent", "used lately", "new"}
    # a hit older than a day is marked used again, so it is kept
    (used,) = db.execute("SELECT used FROM compiled WHERE key = 'used lately'").fetchone()
    assert later.get("used lately") == "SELECT 3"
    (now_used,) = db.execute("SELECT used FROM compiled WHERE key = 'used lately'").fetchone()
    assert now_used > used + 28 * 86_400
    db.close()


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_a_forked_child_opens_its_own_connection(tmp_path):
    cache = CompiledSqlCache(tmp_path / "compiled.sqlite")
    cache.put("parent", "SELECT 1")
    pid = os.fork()
    if pid == 0:  # the child: the parent's connection must not be used here
        try:
            ok = cache.get("parent") == "SELECT 1" and cache._pid == os.getpid()
            cache.put("child", "SELECT 2")
            os._exit(0 if ok else 1)
        except BaseException:
            os._exit(2)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    assert cache.get("child") == "SELECT 2"


def test_connect_compiles_through_the_workspaces_cache(tmp_path):
    from millpond.warehouse.connect import COMPILED_SQL_FILE, connect
    from millpond.workspace import Workspace

    (tmp_path / "millpond.yml").write_text("name: test\n")
    ws = Workspace(tmp_path)
    first = connect(ws)
    first.raw_sql("CREATE SCHEMA s; CREATE TABLE s.t (a BIGINT, b TEXT, d DECIMAL(18, 2), ts TIMESTAMP)")
    expr = variants()["agg sum"]
    assert first.execute(expr).empty
    first.disconnect()
    second = connect(ws)
    assert second.execute(expr).empty
    assert second.compile.cache.hits == 1
    assert second.compile.cache.path == ws.meta_dir / COMPILED_SQL_FILE
    second.disconnect()


def test_postgres_compiles_through_the_cache(tmp_path, pg_con):
    expected = {name: pg_con.compile(expr) for name, expr in variants().items()}
    cache = CompiledSqlCache(tmp_path / "compiled.sqlite")
    cache_compiles(pg_con, cache)
    for _ in range(2):
        assert {name: pg_con.compile(expr) for name, expr in variants().items()} == expected
    assert cache.hits == len(expected)
    pg_con.raw_sql("CREATE TABLE t (a BIGINT, b TEXT)")
    pg_con.raw_sql("INSERT INTO t VALUES (1, 'x'), (2, 'y'), (3, 'y')")
    t = pg_con.table("t")
    for _ in range(2):
        assert pg_con.execute(t.filter(t.b == "y").a.sum()) == 5
