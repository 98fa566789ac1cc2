"""Compaction: a wasteful DuckDB file is rewritten smaller with every row; PostgreSQL is vacuumed."""

from __future__ import annotations

import io

import duckdb
import ibis
import pytest

from millpond.cli import main
from millpond.engines import engine_for
from millpond.stage_api.context import StageContext
from millpond.warehouse.compact import MB, compact_after_run, file_waste, measure_waste
from millpond.warehouse.incremental import Incremental
from millpond.warehouse.materialize import materialize
from millpond.workspace import Workspace
from support.workspaces import make_workspace, write_notebook

BIG = "SELECT range AS id, md5(range::VARCHAR) AS label FROM range({n})"


def wasteful_workspace(root, compaction="{waste: 0.3, min_size_mb: 0}") -> Workspace:
    """A warehouse of three tables, a view and a kept version, after a big table was rebuilt small."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "millpond.yml").write_text(f"name: t\nversions: {{retain: 2}}\ncompaction: {compaction}\n")
    ws = Workspace(root)
    ctx = StageContext(ws)
    try:
        ctx.materialize(ctx.con.sql(BIG.format(n=400_000)), "silver.big")
        ctx.materialize(ibis.memtable({"id": [1, 2, 3]}), "gold.small")
        ctx.materialize(ibis.memtable({"id": [1, 2, 3, 4]}), "gold.small")  # version 1 kept as a snapshot
        ctx.materialize(ctx.table("gold.small").filter(lambda t: t.id > 1), "gold.v_small", kind="view")
        ctx.materialize(ctx.con.sql(BIG.format(n=10)), "silver.big")
        ctx.materialize(ctx.con.sql(BIG.format(n=20)), "silver.big")  # the 400,000 rows leave retention
        ctx.con.raw_sql("CHECKPOINT")
    finally:
        ctx.close()
    return ws


def counts(path) -> dict[str, int]:
    con = duckdb.connect(str(path), read_only=True)
    try:
        names = con.execute("SELECT schema_name, table_name FROM duckdb_tables()").fetchall()
        found = {f"{s}.{t}": con.execute(f'SELECT count(*) FROM "{s}"."{t}"').fetchone()[0] for s, t in names}
        found["gold.v_small"] = con.execute("SELECT count(*) FROM gold.v_small").fetchone()[0]
        return found
    finally:
        con.close()


def test_compaction_shrinks_a_wasteful_file_and_keeps_every_row(tmp_path, capsys):
    ws = wasteful_workspace(tmp_path / "ws")
    db = ws.warehouse_file()
    before, rows_before = db.stat().st_size, counts(db)
    assert file_waste(db).ratio > 0.5
    assert sorted(rows_before.values()) == [3, 3, 4, 10, 20]  # gold.small v1, v_small, v2, big v2, v3

    assert main(["compact", "--if-wasteful", "-C", str(ws.root)]) == 0
    out = capsys.readouterr().out
    assert (
        out.startswith("compacted the warehouse: ") and "(4 tables)" in out
    )  # silver.big and its version 2, gold.small and its version 1
    assert db.stat().st_size < before / 2
    assert counts(db) == rows_before
    assert file_waste(db).ratio < 0.3
    assert not (tmp_path / "ws/data/warehouse.duckdb.compact").exists()
    ctx = StageContext(ws)
    try:
        assert ctx.table("gold.small", version=1).count().execute() == 3
    finally:
        ctx.close()

    assert main(["compact", "--if-wasteful", "-C", str(ws.root)]) == 0
    assert capsys.readouterr().out.startswith("warehouse not compacted: ")


def test_thresholds_decide_the_automatic_compaction(tmp_path):
    small_enough = wasteful_workspace(tmp_path / "a", compaction="{min_size_mb: 1000}")
    assert compact_after_run(small_enough) is None
    off = wasteful_workspace(tmp_path / "b", compaction="{auto: false, min_size_mb: 0}")
    assert compact_after_run(off) is None
    on = wasteful_workspace(tmp_path / "c")
    size = on.warehouse_file().stat().st_size
    line = compact_after_run(on)
    assert line.startswith(f"compacted the warehouse: {size / MB:.1f} MB -> ")
    assert on.warehouse_file().stat().st_size < size


def test_the_runner_compacts_at_the_end_of_a_run_and_says_so(tmp_path):
    from millpond.run.progress import PlainReporter
    from millpond.run.runner import RunOptions, run_pipeline

    write_notebook(
        tmp_path / "notebooks/churn.ipynb",
        "n = 1",
        "import millpond as mp\nctx = mp.stage()",
        f"ctx.materialize(ctx.con.sql({BIG.format(n=300_000)!r}), 'silver.churn')\n"
        f"ctx.materialize(ctx.con.sql({BIG.format(n=5)!r}), 'silver.churn')",
    )
    make_workspace(
        tmp_path,
        {"p": {"stages": [{"name": "churn", "notebook": "notebooks/churn.ipynb", "produces": ["silver.churn"]}]}},
        {"name": "t", "versions": {"retain": 1}, "compaction": {"waste": 0.3, "min_size_mb": 0}},
    )
    out = io.StringIO()
    result = run_pipeline(Workspace(tmp_path), "p", RunOptions(), reporter=PlainReporter(out))
    assert result.exit_code == 0, out.getvalue()
    assert "compacted the warehouse: " in out.getvalue()
    assert counts_of(tmp_path / "data/warehouse.duckdb", "silver.churn") == 5


def counts_of(path, table: str) -> int:
    con = duckdb.connect(str(path), read_only=True)
    try:
        return con.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
    finally:
        con.close()


def test_waste_is_measured_on_both_engines(con):
    materialize(con, ibis.memtable({"id": list(range(100))}), "gold.t")
    waste = measure_waste(con)
    assert 0 <= waste.free_bytes <= waste.total_bytes and 0.0 <= waste.ratio <= 1.0


@pytest.mark.postgres
def test_postgres_compaction_vacuums_dead_rows(pg_con):
    merge = Incremental.of("merge", unique_key="id")
    materialize(pg_con, ibis.memtable({"id": list(range(2000)), "v": ["a"] * 2000}), "gold.t")
    with pg_con.con.cursor() as cur:  # so that only the compaction vacuums it
        cur.execute('ALTER TABLE "gold"."t" SET (autovacuum_enabled = false)')
    pg_con.con.commit()
    materialize(
        pg_con,
        ibis.memtable({"id": list(range(2000)), "v": ["b"] * 2000}),
        "gold.t",
        kind="incremental",
        incremental=merge,
    )

    def dead() -> int:
        pg_con.con.commit()
        pg_con.con.autocommit = True
        try:
            with pg_con.con.cursor() as cur:
                cur.execute("SELECT pg_stat_force_next_flush()")
                cur.execute("SELECT n_dead_tup FROM pg_stat_user_tables WHERE schemaname = 'gold' AND relname = 't'")
                return cur.fetchone()[0]
        finally:
            pg_con.con.autocommit = False

    assert dead() == 2000  # the merge deleted every row and inserted it again
    done = engine_for(pg_con).compact()
    assert done.tables >= 1 and done.after > 0
    assert dead() == 0
    assert pg_con.table("t", database="gold").count().execute() == 2000


def test_the_runner_does_not_wait_for_a_busy_warehouse(tmp_path):
    from millpond.warehouse.lease import Lease

    ws = wasteful_workspace(tmp_path / "ws")
    size = ws.warehouse_file().stat().st_size
    with Lease(ws.warehouse_file(), "a notebook cell"):
        line = compact_after_run(ws)
    assert line.startswith("warehouse compaction skipped: the warehouse is busy (held by a notebook cell")
    assert ws.warehouse_file().stat().st_size == size


@pytest.mark.postgres
def test_the_compact_command_vacuums_a_postgres_warehouse(postgres_server, tmp_path, capsys):
    import uuid

    database = f"test_{uuid.uuid4().hex[:16]}"
    url = postgres_server.fresh_database(database)
    try:
        (tmp_path / "millpond.yml").write_text(f"name: t\nwarehouse: {url}\n")
        ctx = StageContext(Workspace(tmp_path))
        try:
            ctx.materialize(ibis.memtable({"id": [1, 2, 3]}), "gold.t")
        finally:
            ctx.close()
        assert main(["compact", "--if-wasteful", "-C", str(tmp_path)]) == 0
        assert capsys.readouterr().out.startswith("warehouse not compacted: 0 dead rows of ")
        assert main(["compact", "-C", str(tmp_path)]) == 0
        assert capsys.readouterr().out.startswith("compacted the warehouse: ")
    finally:
        postgres_server.drop_database(database)


def test_a_file_without_free_space_is_left_as_it_is(tmp_path, capsys):
    path = tmp_path / "ws/data/warehouse.duckdb"
    make_workspace(tmp_path / "ws", {})
    path.parent.mkdir(parents=True)
    raw = duckdb.connect(str(path))
    raw.execute("CREATE TABLE t AS SELECT range AS id, range::VARCHAR AS v FROM range(200000)")
    raw.close()
    assert file_waste(path).free_bytes == 0
    stamp = (path.stat().st_size, path.stat().st_mtime_ns, path.stat().st_ino)
    assert main(["compact", "-C", str(tmp_path / "ws")]) == 0
    assert capsys.readouterr().out.startswith("warehouse not compacted: it has no free space")
    assert (path.stat().st_size, path.stat().st_mtime_ns, path.stat().st_ino) == stamp
