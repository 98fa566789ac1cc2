"""A real ``SIGKILL`` in the middle of an incremental merge leaves the rows of one successful run.

A child Python process merges a large source into ``gold.big`` (a DuckDB file, or a
PostgreSQL database). Run ``r`` merges ids ``0 .. N + r*M - 1``, each row tagged
``run = r``, so the rows of one successful run ``r`` are exactly: ``N + r*M`` rows,
that many distinct ids, every ``run`` equal to ``r``. The parent kills the child once
its staging table exists, once between the ``DELETE`` and the ``INSERT`` of the
applying transaction, and after short random delays; then checks the table, and that
the next run drops the staging tables left behind and ends with exactly run 2's rows.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import textwrap
import time
import uuid
from pathlib import Path

import pytest

N, M = 200_000, 50_000

CHILD = textwrap.dedent(
    """
    import json, sys, time
    import ibis
    import millpond.warehouse.incremental as incremental
    from millpond.warehouse.incremental import Incremental
    from millpond.warehouse.materialize import materialize

    engine, target, run, slow = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4] == "slow"
    con = ibis.duckdb.connect(target) if engine == "duckdb" else ibis.postgres.connect(**json.loads(target))

    def slow_transaction(con, statements):
        # the real transaction, with pauses the parent can kill into
        print("begin", statements[0].split()[0], flush=True)
        time.sleep(0.5)
        if con.name == "duckdb":
            con.con.execute("BEGIN TRANSACTION")
            for sql in statements:
                con.con.execute(sql)
                print("tx", sql.split()[0], flush=True)
                time.sleep(0.5)
            con.con.execute("COMMIT")
        else:
            with con.con.transaction(), con.con.cursor() as cur:
                for sql in statements:
                    cur.execute(sql)
                    print("tx", sql.split()[0], flush=True)
                    time.sleep(0.5)

    if slow:
        incremental.run_in_transaction = slow_transaction
    n = {N} + run * {M}
    source = con.sql(
        f"SELECT CAST(g AS BIGINT) AS id, CAST({{run}} AS BIGINT) AS run, md5(CAST(g AS VARCHAR)) AS pad "
        f"FROM generate_series(0, {{n - 1}}) AS t(g)"
    )
    print("started", flush=True)
    materialize(con, source, "gold.big", kind="incremental", incremental=Incremental.of("merge", unique_key="id"))
    print("done", flush=True)
    """
).format(N=N, M=M)


class Warehouse:
    """The child's target, and how the parent reads it once the child is gone."""

    def __init__(self, engine: str, target: str, query):
        self.engine, self.target, self.query = engine, target, query

    def state(self) -> tuple[int, int, int, int] | None:
        """``(rows, distinct ids, min run, max run)`` of gold.big, or None if it is missing."""
        found = self.query("SELECT count(*) FROM information_schema.tables WHERE table_schema = 'gold' AND table_name = 'big'")
        if not found[0][0]:
            return None
        return tuple(self.query('SELECT count(*), count(DISTINCT id), min(run), max(run) FROM "gold"."big"')[0])

    def staging(self) -> list[str]:
        rows = self.query("SELECT table_name FROM information_schema.tables WHERE table_schema = 'gold'")
        return sorted(r[0] for r in rows if r[0].startswith("_mp_tmp_"))


def one_run(run: int) -> tuple[int, int, int, int]:
    n = N + run * M
    return (n, n, run, run)


@pytest.fixture(params=["duckdb", pytest.param("postgres", marks=pytest.mark.postgres)])
def warehouse(request, tmp_path):
    if request.param == "duckdb":
        import duckdb

        path = str(tmp_path / "warehouse.duckdb")

        def query(sql):
            con = duckdb.connect(path, read_only=True)
            try:
                return con.execute(sql).fetchall()
            finally:
                con.close()

        yield Warehouse("duckdb", path, query)
        return
    import psycopg

    server = request.getfixturevalue("postgres_server")
    name = f"crash_{uuid.uuid4().hex[:12]}"
    server.fresh_database(name)
    kwargs = server.connect_kwargs(name)

    def query(sql):
        with psycopg.connect(host=kwargs["host"], port=kwargs["port"], user=kwargs["user"], dbname=name) as raw:
            return raw.execute(sql).fetchall()

    yield Warehouse("postgres", json.dumps(kwargs), query)
    server.drop_database(name)


def start_child(tmp_path: Path, wh: Warehouse, run: int, slow: bool) -> subprocess.Popen:
    script = tmp_path / "child.py"
    script.write_text(CHILD)
    return subprocess.Popen(
        [sys.executable, str(script), wh.engine, wh.target, str(run), "slow" if slow else "fast"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=tmp_path,
    )


def run_to_completion(tmp_path: Path, wh: Warehouse, run: int) -> None:
    child = start_child(tmp_path, wh, run, slow=False)
    out, err = child.communicate(timeout=300)
    assert child.returncode == 0 and out.splitlines()[-1] == "done", err


def kill_at(child: subprocess.Popen, marker: str) -> list[str]:
    """Read the child's lines until ``marker``, then SIGKILL it; returns what it printed."""
    seen = []
    for line in child.stdout:
        seen.append(line.strip())
        if line.strip() == marker:
            os.kill(child.pid, signal.SIGKILL)
            break
    child.wait(timeout=60)
    assert marker in seen, (seen, child.stderr.read())
    assert child.returncode == -signal.SIGKILL
    return seen


def kill_after(child: subprocess.Popen, delay: float) -> None:
    """SIGKILL the child ``delay`` seconds after it started materializing."""
    assert child.stdout.readline().strip() == "started", child.stderr.read()
    time.sleep(delay)
    os.kill(child.pid, signal.SIGKILL)
    child.wait(timeout=60)


def test_sigkill_mid_merge_leaves_one_successful_run(tmp_path, warehouse):
    wh = warehouse
    run_to_completion(tmp_path, wh, 1)
    assert wh.state() == one_run(1)

    # killed with its staging table written, before the applying transaction began
    kill_at(start_child(tmp_path, wh, 2, slow=True), "begin DELETE")
    assert wh.state() == one_run(1)
    assert len(wh.staging()) == 1  # what the kill left behind, visible until the next build

    # killed inside the transaction, after the DELETE and before the INSERT
    kill_at(start_child(tmp_path, wh, 2, slow=True), "tx DELETE")
    assert wh.state() == one_run(1)
    assert len(wh.staging()) == 1  # the build dropped the previous leftover first

    # killed at random points; the commit may or may not have happened
    delays = random.Random(4).sample([d / 100 for d in range(0, 150, 5)], 3)
    for delay in delays:
        kill_after(start_child(tmp_path, wh, 2, slow=False), delay)
        assert wh.state() in (one_run(1), one_run(2)), f"killed after {delay} s"

    run_to_completion(tmp_path, wh, 2)
    assert wh.state() == one_run(2)
    assert wh.staging() == []
    run_to_completion(tmp_path, wh, 2)  # and once more: idempotent
    assert wh.state() == one_run(2) and wh.staging() == []
