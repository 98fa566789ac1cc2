"""A ``postgres_table`` load SIGKILLed at random points while the source keeps changing: the
next load leaves the target equal to the source table, row for row (read with psycopg),
with nothing doubled and no staging table left."""

from __future__ import annotations

import random
import signal
import uuid

import duckdb
import psycopg
import pytest
import yaml

from support.loads import load_in_child

pytestmark = [pytest.mark.slow, pytest.mark.postgres]

ROWS, CYCLES = 100_000, 10


def test_killed_loads_leave_the_target_equal_to_the_source(tmp_path, postgres_server):
    url = postgres_server.fresh_database(f"kill_{uuid.uuid4().hex[:12]}").replace("postgres://", "postgresql://")
    with psycopg.connect(url, autocommit=True) as db:
        db.execute(
            "CREATE TABLE t (id bigint PRIMARY KEY, v text, updated_at timestamp NOT NULL DEFAULT clock_timestamp())"
        )
        db.execute(f"INSERT INTO t (id, v) SELECT g, 'v0-' || g FROM generate_series(1, {ROWS}) g")
    (tmp_path / "pipelines").mkdir()
    (tmp_path / "millpond.yml").write_text("name: k\n")
    source = {
        "kind": "postgres_table",
        "target": "bronze.t",
        "options": {"url": url, "table": "t", "primary_key": ["id"], "cursor": "updated_at", "lookback": "1m"},
    }
    stage = {"name": "ingest", "notebook": "ingest.ipynb", "produces": ["bronze.t"]}
    (tmp_path / "pipelines/k.yml").write_text(yaml.safe_dump({"sources": {"crm": source}, "stages": [stage]}))
    rng = random.Random(22)
    killed = 0
    for cycle in range(1, CYCLES + 1):
        with psycopg.connect(
            url, autocommit=True
        ) as db:  # the writer: updates, inserts, a delete is not seen by a cursor
            low = rng.randrange(1, ROWS - 5000)
            db.execute(
                f"UPDATE t SET v = 'v{cycle}-' || id, updated_at = clock_timestamp() WHERE id BETWEEN {low} AND {low + 4999}"
            )
            first = ROWS + cycle * 1000
            db.execute(f"INSERT INTO t (id, v) SELECT g, 'new' FROM generate_series({first}, {first + 999}) g")
        killed += load_in_child(tmp_path, "crm", rng.uniform(0.2, 1.6)) == -signal.SIGKILL
        load_in_child(tmp_path, "crm")
        with psycopg.connect(url) as db:
            want = sorted((r[0], r[1]) for r in db.execute("SELECT id, v FROM t").fetchall())
        with duckdb.connect(str(tmp_path / "data/warehouse.duckdb"), read_only=True) as wh:
            got = sorted(wh.sql("SELECT id, v FROM bronze.t").fetchall())
            leftovers = wh.sql(
                "SELECT count(*) FROM information_schema.tables WHERE table_name LIKE '_mp_tmp_%'"
            ).fetchall()
        assert got == want, cycle  # every change once: nothing lost, nothing doubled
        assert leftovers == [(0,)]
    assert killed >= CYCLES // 3  # (a kill after its load ended kills nothing)
