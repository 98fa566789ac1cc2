"""A real ``SIGKILL`` in the middle of an incremental merge leaves the rows of one successful run.

A child Python process merges a large source into ``gold.big`` (a DuckDB file, or a
PostgreSQL database). Run ``r`` merges ids ``0 .. N + r*M - 1``, each row tagged
``run = r``, so the rows of one successful run ``r`` are exactly: ``N + r*M`` rows,
that many distinct ids, every ``run`` equal to ``r``. The parent kills the child once
its staging table exists, once between the ``DELETE`` and the ``INSERT`` of the
applying transaction, and after short random delays; then checks the table, and that
the next run drops the staging tables left behind and ends with exactly run 2's rows.

The same holds for a merge under ``on_schema_change``: ``append_new_columns`` (the
``ADD COLUMN`` and the rows in one transaction) and ``quarantine`` (the rows and the held
rows in one transaction), killed between the statements of that transaction.
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


# What a child runs in place of ``run_in_transaction`` to be killed at a known statement.
PAUSING_TRANSACTION = textwrap.dedent(
    """
    import time

    def label(sql):
        return " ".join(sql.replace('"', "").split()[:3])

    def pausing_transaction(con, statements, *, checks=(), failure=None):
        # the real transaction; one that writes rows or columns prints each statement's
        # first words ("tx INSERT INTO gold.t") and pauses after it, for the parent to kill
        assert not checks, "these builds have no contract"
        pause = 0.3 if any(sql.split()[0] in ("INSERT", "DELETE", "ALTER") for sql in statements) else 0
        print("begin", label(statements[0]), flush=True)
        time.sleep(pause)
        if con.name == "duckdb":
            con.con.execute("BEGIN TRANSACTION")
            try:
                for sql in statements:
                    con.con.execute(sql)
                    print("tx", label(sql), flush=True)
                    time.sleep(pause)
                con.con.execute("COMMIT")
            except BaseException:
                con.con.execute("ROLLBACK")
                raise
        else:
            with con.con.transaction(), con.con.cursor() as cur:
                for sql in statements:
                    cur.execute(sql)
                    print("tx", label(sql), flush=True)
                    time.sleep(pause)
    """
)

# Run 0 builds gold.t (id int64, qty int32) from ids 0..9. Run r >= 1 merges ids 0 .. 10r+9 under
# the policy: append_new_columns brings a new column note = 'n<id>'; quarantine brings qty as
# text, 'x<id>' (no int32) for every id = 3 mod 4, so those rows are held, the others merged.
EVOLVING_CHILD = PAUSING_TRANSACTION + textwrap.dedent(
    """
    import json, sys
    import ibis
    import millpond.warehouse.incremental as incremental
    from millpond.warehouse.incremental import Incremental
    from millpond.warehouse.materialize import materialize

    engine, target, run, slow, policy = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4] == "slow", sys.argv[5]
    con = ibis.duckdb.connect(target) if engine == "duckdb" else ibis.postgres.connect(**json.loads(target))
    if slow:
        incremental.run_in_transaction = pausing_transaction
    qty, extra = "CAST(g AS INTEGER)", ""
    if run and policy == "quarantine":
        qty = "CASE WHEN g % 4 = 3 THEN 'x' ELSE '' END || CAST(g AS VARCHAR)"
    elif run:
        extra = ", 'n' || CAST(g AS VARCHAR) AS note"
    source = con.sql(f"SELECT CAST(g AS BIGINT) AS id, {qty} AS qty{extra} "
                     f"FROM generate_series(0, {10 * run + 9}) AS t(g)")
    print("started", flush=True)
    built = materialize(con, source, "gold.t", kind="incremental", incremental=Incremental.of("merge", unique_key="id"),
                        on_schema_change=policy, run_id=f"run {run}")
    print("done", built.new_rows, built.held, flush=True)
    """
)
TYPES = {"bigint": "int64", "integer": "int32", "varchar": "string", "text": "string", "character varying": "string"}


class Warehouse:
    """The child's target, and how the parent reads it once the child is gone."""

    def __init__(self, engine: str, target: str, query):
        self.engine, self.target, self.query = engine, target, query

    def state(self) -> tuple[int, int, int, int] | None:
        """``(rows, distinct ids, min run, max run)`` of gold.big, or None if it is missing."""
        found = self.query(
            "SELECT count(*) FROM information_schema.tables WHERE table_schema = 'gold' AND table_name = 'big'"
        )
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


def start_child(
    tmp_path: Path, wh: Warehouse, run: int, slow: bool, *args: str, script: str = CHILD
) -> subprocess.Popen:
    """Run ``script`` in a child process: ``argv`` is the engine, the target, ``run``, slow or fast, ``args``."""
    path = tmp_path / "child.py"
    path.write_text(script)
    return subprocess.Popen(
        [sys.executable, str(path), wh.engine, wh.target, str(run), "slow" if slow else "fast", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=tmp_path,
    )


def run_to_completion(tmp_path: Path, wh: Warehouse, run: int, *args: str, script: str = CHILD) -> str:
    """Run the child to its end; returns its last line (``done ...``)."""
    child = start_child(tmp_path, wh, run, False, *args, script=script)
    out, err = child.communicate(timeout=300)
    assert child.returncode == 0 and out.splitlines()[-1].startswith("done"), err
    return out.splitlines()[-1]


def kill_at(child: subprocess.Popen, marker: str) -> list[str]:
    """Read the child's lines until one starting with ``marker``, then SIGKILL it; returns what it printed."""
    seen = []
    for line in child.stdout:
        seen.append(line.strip())
        if line.strip().startswith(marker):
            os.kill(child.pid, signal.SIGKILL)
            break
    child.wait(timeout=60)
    assert any(line.startswith(marker) for line in seen), (seen, child.stderr.read())
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
        kill_after(start_child(tmp_path, wh, 2, False), delay)
        assert wh.state() in (one_run(1), one_run(2)), f"killed after {delay} s"

    run_to_completion(tmp_path, wh, 2)
    assert wh.state() == one_run(2)
    assert wh.staging() == []
    run_to_completion(tmp_path, wh, 2)  # and once more: idempotent
    assert wh.state() == one_run(2) and wh.staging() == []


def evolved(policy: str, run: int) -> tuple[dict, list[tuple], list[tuple] | None]:
    """gold.t's column types, rows and held rows (None: no quarantine table) after run ``run``, by hand."""
    n = 10 * run + 10
    if run == 0:
        return {"id": "int64", "qty": "int32"}, [(i, i) for i in range(10)], None
    if policy == "append_new_columns":
        return {"id": "int64", "qty": "int32", "note": "string"}, [(i, i, f"n{i}") for i in range(n)], None
    # a held id below 10 keeps its row of run 0; each misfit is held once, with its text
    kept = [(i, i) for i in range(n) if i < 10 or i % 4 != 3]
    return (
        {"id": "int64", "qty": "int32"},
        kept,
        sorted((str(i), f"x{i}", "qty: does not fit int32") for i in range(n) if i % 4 == 3),
    )


def evolving_state(wh: Warehouse) -> tuple[dict, list[tuple], list[tuple] | None]:
    columns = wh.query(
        "SELECT column_name, data_type FROM information_schema.columns "
        "WHERE table_schema = 'gold' AND table_name = 't' ORDER BY ordinal_position"
    )
    types = {c: TYPES[t.lower()] for c, t in columns}
    rows = sorted(wh.query(f'SELECT {", ".join(types)} FROM "gold"."t"'))
    filed = wh.query("SELECT count(*) FROM information_schema.tables WHERE table_schema = 'quarantine'")[0][0]
    held = sorted(wh.query('SELECT id, qty, reason FROM "quarantine"."t"')) if filed else None
    return types, rows, held


@pytest.mark.parametrize(
    ("policy", "kills"),
    [
        # killed after the ADD COLUMN, then after the rows went in, before the commit
        ("append_new_columns", {1: ["tx ALTER TABLE gold.t", "tx INSERT INTO gold.t"]}),
        # the first filing creates quarantine.t; a later one inserts into it
        (
            "quarantine",
            {1: ["tx INSERT INTO gold.t", "tx CREATE TABLE quarantine.t"], 2: ["tx INSERT INTO quarantine.t"]},
        ),
    ],
)
def test_sigkill_mid_schema_change_leaves_one_successful_run(tmp_path, warehouse, policy, kills):
    wh = warehouse
    run_to_completion(tmp_path, wh, 0, policy, script=EVOLVING_CHILD)
    assert evolving_state(wh) == evolved(policy, 0)
    for run, markers in kills.items():
        for marker in markers:
            kill_at(start_child(tmp_path, wh, run, True, policy, script=EVOLVING_CHILD), marker)
            assert evolving_state(wh) == evolved(policy, run - 1), f"killed at {marker}"
        assert len(wh.staging()) >= 1  # what the kills left, until the next build drops it
        run_to_completion(tmp_path, wh, run, policy, script=EVOLVING_CHILD)
        assert evolving_state(wh) == evolved(policy, run) and wh.staging() == []
    last = max(kills)
    again = run_to_completion(tmp_path, wh, last, policy, script=EVOLVING_CHILD)  # idempotent
    assert evolving_state(wh) == evolved(policy, last) and wh.staging() == []
    held = evolved(policy, last)[2]
    merged = 10 * last + 10 - len(held or [])  # every row that fits is merged again, nothing is held again
    assert again == f"done {merged} {None if held is None else 0}"
