"""The ``postgres_cdc`` source and ``millpond sync`` against the session's throwaway PostgreSQL
server (``wal_level = logical``); the warehouse is a DuckDB file in ``tmp_path``. Expected rows
are read from the source database itself, with psycopg."""

from __future__ import annotations

import os
import queue
import random
import signal
import subprocess
import sys
import threading
import time

import psycopg
import pytest

from millpond.cli import main
from millpond.engines.pgoutput import parse_lsn
from millpond.engines.postgres_logical import ChangeLog
from millpond.errors import MillpondError
from millpond.run.sync import change_source, sync_source
from millpond.settings.sources import SYNCED_KINDS
from millpond.sources import source_class, source_kinds
from millpond.sources.postgres_cdc import PostgresCdcSource
from millpond.warehouse.connect import connect
from millpond.warehouse.lease import Lease
from millpond.warehouse.sql import fetch
from millpond.workspace import Workspace
from support.cdc import (
    PASSWORD,
    cdc_workspace,
    execute,
    slot,
    source_database,
    source_rows,
    stored_lsn,
    target_rows,
)
from support.workspaces import make_workspace, write_notebook

pytestmark = pytest.mark.postgres

ROWS = "SELECT id, v, n FROM t"


@pytest.fixture(autouse=True)
def _password(monkeypatch):
    monkeypatch.setenv("CRM_PASSWORD", PASSWORD)


@pytest.fixture
def url(postgres_server) -> str:
    url = source_database(postgres_server)
    execute(url, "CREATE TABLE t (id integer PRIMARY KEY, v text, n numeric(12, 2))")
    return url


def sync(root, capsys, *args: str) -> tuple[int, str, str]:
    """``millpond sync crm`` in-process: exit code, stdout, stderr."""
    code = main(["sync", "crm", "-C", str(root), *args])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.parametrize("batch", [100_000, 10], ids=["one-batch", "small-batches"])
def test_changes_apply_in_commit_order(tmp_path, url, batch, capsys):
    execute(url, "INSERT INTO t SELECT g, 'v' || g, g / 4.0 FROM generate_series(1, 50) g")
    cdc_workspace(tmp_path, url, batch=batch)
    code, out, _ = sync(tmp_path, capsys)
    assert code == 0 and "copied 50 rows" in out
    assert target_rows(tmp_path, ROWS) == source_rows(url, ROWS)
    execute(
        url,
        "UPDATE t SET v = 'updated' WHERE id <= 10",
        "DELETE FROM t WHERE id BETWEEN 11 AND 20",
        "INSERT INTO t VALUES (100, 'new', 1.25), (101, NULL, NULL)",
        # one key updated, then deleted, then inserted again, in one transaction; another's key changed
        "BEGIN; UPDATE t SET v = 'a' WHERE id = 30; DELETE FROM t WHERE id = 30;"
        " INSERT INTO t VALUES (30, 'again', 3.00); UPDATE t SET id = 3000 WHERE id = 31; COMMIT",
        "UPDATE t SET n = n + 1 WHERE id = 30",
    )
    code, out, _ = sync(tmp_path, capsys)
    assert code == 0 and "changes/s" in out
    assert target_rows(tmp_path, ROWS) == source_rows(url, ROWS)
    assert (30, "again", 4) in target_rows(tmp_path, ROWS) and (3000, "v31", 7.75) in target_rows(tmp_path, ROWS)
    # a truncate forgets what came before it, not what comes after, even within one transaction
    execute(
        url,
        "INSERT INTO t VALUES (200, 'gone', 0)",
        "BEGIN; UPDATE t SET v = 'x'; TRUNCATE t; INSERT INTO t VALUES (1, 'after', 1); COMMIT",
        "INSERT INTO t VALUES (2, 'later', 2)",
        "DELETE FROM t WHERE id = 1",
    )
    sync(tmp_path, capsys)
    assert target_rows(tmp_path, ROWS) == source_rows(url, ROWS) == [(2, "later", 2)]


def test_a_transaction_is_never_split_across_batches(tmp_path, url):
    """Transfers between accounts keep the total. With a batch limit (10 messages) below some
    transactions' size, the warehouse never shows half of one: checked after every batch."""
    execute(url, "INSERT INTO t SELECT g, 'acct', 100 FROM generate_series(1, 20) g")
    ws = cdc_workspace(tmp_path, url, batch=10)
    con = connect(ws)
    stream = change_source(ws, "crm").stream(con)
    try:
        stream.start()
        rng, moves = random.Random(7), 0
        with psycopg.connect(url) as db:
            for i in range(120):
                for _ in range(1 if i % 10 else 12):  # every tenth moves money 12 times: 24 changes at once
                    a, b = rng.sample(range(1, 21), 2)
                    amount = rng.randint(1, 30)
                    db.execute("UPDATE t SET n = n - %s WHERE id = %s", (amount, a))
                    db.execute("UPDATE t SET n = n + %s WHERE id = %s", (amount, b))
                    moves += 1
                db.commit()
        steps, target = [], stream.committed()
        while not steps or not steps[-1].caught_up or stream.position < target:
            steps.append(stream.step())
            assert fetch(con, "SELECT sum(n), count(*) FROM bronze.t") == [(2000, 20)]
            time.sleep(0.02 if steps[-1].caught_up else 0)  # the last commits' WAL may wait to be flushed
    finally:
        stream.close()
        con.disconnect()
    assert sum(s.changes > 0 for s in steps) > 20 and max(s.changes for s in steps) >= 24  # the big ones whole
    assert sum(s.changes for s in steps) == 2 * moves and sum(s.transactions for s in steps) == 120
    assert target_rows(tmp_path, ROWS) == source_rows(url, ROWS)


def test_an_idle_table_lets_the_slot_move_on(tmp_path, url, capsys):
    """DBZ-892: WAL written by other tables only still moves the slot (and its restart point)."""
    execute(url, "INSERT INTO t VALUES (1, 'a', 1)", "CREATE TABLE other (id bigint, pad text)")
    cdc_workspace(tmp_path, url)
    sync(tmp_path, capsys)
    confirmed, restart, _ = slot(url)
    execute(url, "INSERT INTO other SELECT g, repeat('x', 200) FROM generate_series(1, 100000) g", "CHECKPOINT")
    with psycopg.connect(url) as db:
        written = parse_lsn(db.execute("SELECT pg_current_wal_lsn()::text").fetchone()[0])
    assert written - parse_lsn(confirmed) > 10_000_000
    code, out, _ = sync(tmp_path, capsys)
    assert code == 0 and "no changes" in out
    moved, restart_now, _ = slot(url)
    assert written - parse_lsn(moved) < 100_000 and parse_lsn(restart_now) > parse_lsn(restart)
    assert stored_lsn(tmp_path) == moved  # stored first, then the slot advanced to it
    assert target_rows(tmp_path, ROWS) == source_rows(url, ROWS)


@pytest.mark.parametrize("how", ["dropped", "recreated"])
def test_a_dropped_or_recreated_slot_is_reported_and_resynced(tmp_path, url, how, capsys):
    execute(url, "INSERT INTO t SELECT g, 'v', g FROM generate_series(1, 100) g")
    cdc_workspace(tmp_path, url)
    sync(tmp_path, capsys)
    execute(url, "UPDATE t SET v = 'before' WHERE id <= 50", "SELECT pg_drop_replication_slot('millpond_crm')")
    if how == "recreated":  # its changes from here on only: the update above would be lost
        execute(url, "SELECT pg_create_logical_replication_slot('millpond_crm', 'pgoutput')")
    execute(url, "DELETE FROM t WHERE id > 90")
    code, out, err = sync(tmp_path, capsys)
    assert code == 0
    [warning] = err.splitlines()
    assert f"replication slot millpond_crm was {'dropped' if how == 'dropped' else 'dropped or recreated'}" in warning
    assert "changes in between may be lost, resyncing from a full copy" in warning
    assert "copied 90 rows" in out
    assert target_rows(tmp_path, ROWS) == source_rows(url, ROWS)
    execute(url, "UPDATE t SET v = 'after' WHERE id = 1")
    code, out, err = sync(tmp_path, capsys)
    assert err == "" and target_rows(tmp_path, ROWS) == source_rows(url, ROWS)


def test_a_sync_killed_between_its_commit_and_the_slot_advance_applies_nothing_twice(
    tmp_path, url, capsys, monkeypatch
):
    execute(url, "INSERT INTO t SELECT g, 'v', 0 FROM generate_series(1, 10) g")
    cdc_workspace(tmp_path, url)
    sync(tmp_path, capsys)
    # flushed at commit, so the sync's first batch reads them and its first advance follows their
    # apply (with the cluster's asynchronous commits it may first advance past WAL flushed before)
    execute(url, "SET synchronous_commit = on", "UPDATE t SET n = n + 1", "INSERT INTO t VALUES (11, 'new', 0)")
    real = ChangeLog.advance

    def crash(self, lsn):
        raise RuntimeError("killed before the slot moved")

    monkeypatch.setattr(ChangeLog, "advance", crash)
    code, out, err = sync(tmp_path, capsys)
    assert code == 2 and "killed before the slot moved" in err
    assert parse_lsn(stored_lsn(tmp_path)) > parse_lsn(slot(url)[0])  # committed here, not acknowledged there
    assert target_rows(tmp_path, ROWS) == source_rows(url, ROWS)
    monkeypatch.setattr(ChangeLog, "advance", lambda self, lsn: None)  # the slot still behind: peeked again
    code, out, err = sync(tmp_path, capsys)
    assert code == 0 and "0 changes in 0 transactions" in out.splitlines()[-1] and err == ""
    monkeypatch.setattr(ChangeLog, "advance", real)
    code, out, err = sync(tmp_path, capsys)
    assert code == 0 and err == "" and slot(url)[0] == stored_lsn(tmp_path)
    assert target_rows(tmp_path, ROWS) == source_rows(url, ROWS)


def test_unchanged_toasted_values_are_kept(tmp_path, url, capsys):
    """An update that leaves a TOASTed value as it was does not send it: the batch's earlier
    row or the warehouse's keeps it (also when the key changed)."""
    big = "SELECT string_agg(md5(random()::text), '') FROM generate_series(1, 400)"  # 12.8 kB, incompressible
    execute(url, "ALTER TABLE t ALTER COLUMN v SET STORAGE EXTERNAL", f"INSERT INTO t VALUES (1, ({big}), 1)")
    cdc_workspace(tmp_path, url)
    sync(tmp_path, capsys)
    execute(
        url,
        f"INSERT INTO t VALUES (2, ({big}), 2), (3, ({big}), 3)",
        "UPDATE t SET n = 20 WHERE id = 2",  # in the batch: from the insert before it
        "UPDATE t SET n = 10 WHERE id = 1",  # from the warehouse
        "UPDATE t SET id = 4, n = 4 WHERE id = 3",  # the key changed: from the insert, under its old key
    )
    sync(tmp_path, capsys)
    sql = "SELECT id, md5(v), n FROM t"
    assert target_rows(tmp_path, sql) == source_rows(url, sql)
    execute(url, "UPDATE t SET id = 5 WHERE id = 1", "UPDATE t SET n = 50 WHERE id = 5")  # from the warehouse's id 1
    sync(tmp_path, capsys)
    assert target_rows(tmp_path, sql) == source_rows(url, sql)
    assert [r[0] for r in target_rows(tmp_path, sql)] == [2, 4, 5]


def test_every_type_lands_the_same_copied_or_changed(tmp_path, postgres_server, capsys):
    url = source_database(postgres_server)
    columns = (
        "a int2, b int4, c int8, d numeric(10, 3), e numeric, f float4, g float8, h bool, i text, j varchar(10),"
        " k char(3), l date, m timestamp, o timestamptz, p time, q json, r jsonb, s uuid, u bytea, w interval, x int[]"
    )
    values = (
        "1, -2, 9000000000, -1.5, 2.25, 1.5, 'NaN', true, 'zoë 東京', 'y', 'ab', '2024-02-29', '2024-01-01 01:02:03.456789',"
        " '2024-06-01 23:59:59.999999+05', '10:00:01.5', '{\"a\": [1, 2]}', '{\"b\": null}',"
        " 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', '\\x00ff10', '1 day 02:03:04', '{1,NULL,3}'"
    )
    nulls = ", ".join(["NULL"] * 21)
    execute(url, f"CREATE TABLE t (id int PRIMARY KEY, {columns})", f"INSERT INTO t VALUES (1, {values}), (2, {nulls})")
    cdc_workspace(tmp_path, url)
    sync(tmp_path, capsys)
    execute(url, f"INSERT INTO t VALUES (3, {values}), (4, {nulls})", "UPDATE t SET g = '-Infinity' WHERE id = 3")
    code, out, _ = sync(tmp_path, capsys)
    assert "3 changes in 2 transactions" in out
    rows = {r[0]: r[1:] for r in target_rows(tmp_path, "SELECT * EXCLUDE (o), epoch_us(o) FROM t")}
    assert rows[4] == rows[2] and rows[3][:6] == rows[1][:6] and rows[3][7:] == rows[1][7:]
    assert rows[3][6] == float("-inf") and rows[1][6] != rows[1][6]  # NaN
    columns = "id, a, b, c, d, e::text, f, h, i, j, k, l, m, p, q::text, r::text, s::text, u, w::text, x::text"
    want = source_rows(url, f"SELECT {columns}, (extract(epoch FROM o) * 1000000)::int8 FROM t")
    got = target_rows(tmp_path, f"SELECT {columns}, epoch_us(o) FROM t")
    assert got == want


def test_ctx_load_points_at_millpond_sync(tmp_path, url):
    ws = cdc_workspace(tmp_path, url)
    source = change_source(ws, "crm")
    with pytest.raises(MillpondError, match=r"keep bronze.t in step with `millpond sync crm` \(--follow"):
        source.plan(None, {}, loaded_at=None)  # type: ignore[arg-type]


def test_a_change_stream_needs_no_stage_to_produce_its_target(tmp_path, url, capsys):
    write_notebook(tmp_path / "notebooks/report.ipynb", "", "import millpond as mp\nctx = mp.stage()")
    cdc_workspace(tmp_path, url)
    spec = (
        (tmp_path / "pipelines/k.yml")
        .read_text()
        .replace("stages: []", "stages:\n- {name: report, notebook: notebooks/report.ipynb, produces: [gold.r]}")
    )
    (tmp_path / "pipelines/k.yml").write_text(spec)
    assert main(["validate", "-C", str(tmp_path)]) == 0, capsys.readouterr()
    streams = {kind for kind in source_kinds() if issubclass(source_class(kind), PostgresCdcSource)}
    assert streams == SYNCED_KINDS


def test_follow_stops_on_sigterm_with_its_position_committed(tmp_path, url):
    execute(url, "INSERT INTO t VALUES (1, 'a', 1)")
    cdc_workspace(tmp_path, url)
    env = {**os.environ, "MILLPOND_ENV": "prod"}
    command = [
        sys.executable,
        "-m",
        "millpond.cli",
        "sync",
        "crm",
        "--follow",
        "--interval",
        "0.1",
        "-C",
        str(tmp_path),
    ]
    child = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    lines: queue.Queue[str] = queue.Queue()
    reader = threading.Thread(target=lambda: [lines.put(line) for line in child.stdout], daemon=True)  # type: ignore[union-attr]
    reader.start()
    applied = 0

    def applied_until(total: int) -> None:  # read its lines until it reported that many changes
        nonlocal applied
        while applied < total:
            line = lines.get(timeout=60)
            assert " changes in " in line and "changes/s, lag " in line and " behind, at " in line, line
            applied += int(line.split()[1].replace(",", ""))

    try:
        assert "copied 1 rows" in lines.get(timeout=60)
        execute(url, "INSERT INTO t SELECT g, 'b', g FROM generate_series(2, 500) g", "UPDATE t SET v = 'c'")
        applied_until(499 + 500)
        execute(url, "DELETE FROM t WHERE id > 250")
        applied_until(499 + 500 + 250)
        child.send_signal(signal.SIGTERM)
        child.wait(timeout=60)
        reader.join(timeout=10)
    finally:
        if child.poll() is None:
            child.kill()
    err = child.stderr.read()  # type: ignore[union-attr]
    assert child.returncode == 0 and err == "", err
    last = list(lines.queue)[-1]
    assert last.startswith("crm: stopped at ") and "(committed)" in last
    assert last.split()[3] == stored_lsn(tmp_path) == slot(url)[0]
    assert target_rows(tmp_path, ROWS) == source_rows(url, ROWS) and slot(url)[2] is None  # nothing holds the slot


def test_follow_gives_the_warehouse_file_to_a_waiting_run_now_and_then(tmp_path, url, monkeypatch, capsys):
    """While changes keep coming, ``--follow`` still lets go of the DuckDB file's lease now and
    then, so a run's stage that waits for it gets its turn."""
    monkeypatch.setattr("millpond.run.sync.TURN_SECONDS", 0.5)
    ws = cdc_workspace(tmp_path, url)
    stop, writing = threading.Event(), threading.Event()

    def write() -> None:
        with psycopg.connect(url, autocommit=True) as db:
            db.execute("SET synchronous_commit = on")  # each commit flushed: changes all the time
            for i in range(1, 100_000):
                if not writing.is_set():
                    break
                db.execute("INSERT INTO t VALUES (%s, 'w', 0)", (i,))
                time.sleep(0.005)

    writing.set()
    writer = threading.Thread(target=write)
    writer.start()
    follower = threading.Thread(target=lambda: sync_source(ws, "crm", follow=True, interval=30, stop=stop))
    follower.start()
    try:
        time.sleep(2)
        run = Lease(ws.warehouse_file(), "a run's stage")
        started = time.monotonic()
        run.acquire(timeout=10)
        waited = time.monotonic() - started
        run.release()
    finally:
        writing.clear()
        writer.join()
        stop.set()
        follower.join(60)
    assert waited < 3 and not follower.is_alive()
    sync(tmp_path, capsys)
    assert target_rows(tmp_path, ROWS) == source_rows(url, ROWS)


def test_the_lease_of_a_sync_refuses_a_second_one(tmp_path, url, capsys):
    cdc_workspace(tmp_path, url)
    held = Lease(Workspace(tmp_path).meta_dir / "sync_crm_prod", "millpond sync crm")
    assert held.try_acquire()
    try:
        code, _, err = sync(tmp_path, capsys)
    finally:
        held.release()
    assert code == 2 and "source crm is being synced already" in err and len(err.splitlines()) == 1


OPTIONS = {"table": "t", "primary_key": ["id"]}


@pytest.mark.parametrize(
    ("name", "declared", "expected"),
    [
        ("nope", {"kind": "postgres_cdc", "options": OPTIONS}, "no source 'nope' declared"),
        ("crm", {"kind": "files", "options": {"path": "data/*.csv"}}, "sources: crm is a files source"),
        (
            "crm",
            {"kind": "postgres_cdc", "options": {**OPTIONS, "url": "postgresql://loader:inline-pw-55@127.0.0.1:1/c"}},
            "cannot connect to postgresql://loader:***@127.0.0.1:1/c: connection failed",
        ),
        ("crm", {"kind": "postgres_cdc", "options": {**OPTIONS, "url": "mysql://db/crm"}}, "not a PostgreSQL URL"),
        ("crm", {"kind": "postgres_cdc", "options": {**OPTIONS, "table": "missing"}}, "no table missing on"),
        (
            "crm",
            {"kind": "postgres_cdc", "options": {**OPTIONS, "primary_key": ["v"]}},
            "primary_key (v) is not in the replica identity of t (id)",
        ),
        ("crm", {"kind": "postgres_cdc", "options": {**OPTIONS, "slot": "Bad-Slot"}}, "crm: options: slot: "),
    ],
    ids=["unknown", "files", "unreachable", "not-postgres", "no-table", "key", "slot-name"],
)
def test_hostile_input_answers_in_one_line(tmp_path, url, capsys, name, declared, expected):
    source = {"target": "bronze.t", "secrets": {"password": "secret:crm_password"}, **declared}
    source["options"] = (
        {"url": url, **declared["options"]} if declared["kind"] == "postgres_cdc" else declared["options"]
    )
    make_workspace(
        tmp_path,
        {"k": {"sources": {"crm": source}, "stages": []}},
        {"name": "k", "secrets": {"crm_password": {"env": "CRM_PASSWORD"}}},
    )
    code = main(["sync", name, "-C", str(tmp_path)])
    out, err = capsys.readouterr()
    assert code == 2 and len(err.splitlines()) == 1 and expected in err, err
    assert "Traceback" not in out + err and PASSWORD not in out + err and "inline-pw-55" not in out + err
