"""``millpond sync crm --follow`` SIGKILLed at random points, 50 times, while a writer keeps
inserting, updating (keys too), deleting and now and then truncating the source table: the
warehouse ends equal to the source row for row (every change once: none lost, none applied
twice), no sync ever fell back to a full copy (which would hide a loss), nothing is left
running and the DuckDB file opens clean.

The syncs are forked from one process that imported millpond once (a fresh interpreter per
cycle would spend the test's time importing), each writing to a log the test reads at the end.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import textwrap
import threading
import time

import duckdb
import psycopg
import pytest

from support.cdc import PASSWORD, cdc_workspace, execute, slot, source_database, source_rows, target_rows

pytestmark = [pytest.mark.slow, pytest.mark.postgres]

CYCLES, ROWS = 50, 2000
ROW = "SELECT id, v, n FROM t"
FORKS = textwrap.dedent(
    """
    import os, sys
    os.environ["MILLPOND_ENV"] = "prod"
    from millpond.cli import main
    import millpond.run.sync, millpond.sources.cdc_stream, millpond.warehouse.connect, ibis, pyarrow  # once
    root, log = sys.argv[1], sys.argv[2]
    for line in sys.stdin:
        command, *args = line.split()
        if command == "wait":
            print(os.waitstatus_to_exitcode(os.waitpid(int(args[0]), 0)[1]), flush=True)
            continue
        pid = os.fork()
        if pid == 0:
            out = os.open(log, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
            os.dup2(out, 1), os.dup2(out, 2)
            follow = ["--follow", "--interval", "0.05"] if command == "follow" else []
            code = main(["sync", "crm", "-C", root, *follow])
            sys.stdout.flush(), sys.stderr.flush()
            os._exit(code)
        print(pid, flush=True)
    """
)


class Writer(threading.Thread):
    """Changes the source until stopped: small transactions of inserts, updates (now and then
    of a key), deletes, a few of several statements, rarely a truncate; pausable between two."""

    def __init__(self, url: str, seed: int):
        super().__init__(daemon=True)
        self.url, self.rng = url, random.Random(seed)
        self.stopping, self.pausing, self.idle = threading.Event(), threading.Event(), threading.Event()
        self.transactions, self.error, self.moved = 0, None, 10_000_000

    def run(self) -> None:
        try:
            with psycopg.connect(self.url) as db:
                while not self.stopping.is_set():
                    if self.pausing.is_set():
                        self.idle.set()
                        time.sleep(0.005)
                        continue
                    self.idle.clear()
                    touched = 0
                    for _ in range(1 if self.rng.random() < 0.8 else self.rng.randint(2, 6)):
                        statement = self.statement()  # a truncate always changes (its rowcount is none)
                        touched += max(0, db.execute(statement).rowcount) + statement.startswith("TRUNCATE")
                    db.commit()
                    self.transactions += touched > 0  # one that changed no row sends nothing to apply
                    time.sleep(0.002)
        except Exception as exc:  # the test fails on it
            self.error = exc

    def statement(self) -> str:
        r, low = self.rng.random(), self.rng.randint(1, 4 * ROWS)
        if r < 0.003:
            return f"TRUNCATE t; INSERT INTO t SELECT g, md5(g::text), 0 FROM generate_series(1, {ROWS // 4}) g"
        if r < 0.4:
            return (
                f"INSERT INTO t SELECT g, md5(random()::text), 0 FROM generate_series({low}, {low + self.rng.randint(0, 20)}) g"
                " ON CONFLICT (id) DO UPDATE SET n = t.n + 1"
            )
        if r < 0.75:
            return f"UPDATE t SET v = md5(random()::text), n = n + 1 WHERE id BETWEEN {low} AND {low + self.rng.randint(0, 30)}"
        if r < 0.8:  # a key changes (to one no insert uses)
            self.moved += 1
            return f"UPDATE t SET id = {self.moved} WHERE id = {low}"
        return f"DELETE FROM t WHERE id BETWEEN {low} AND {low + self.rng.randint(0, 10)}"

    def pause(self) -> None:
        self.idle.clear()
        self.pausing.set()
        assert self.idle.wait(30)

    def resume(self) -> None:
        self.pausing.clear()


def test_killed_syncs_apply_every_change_once(tmp_path, postgres_server, monkeypatch):
    monkeypatch.setenv("CRM_PASSWORD", PASSWORD)
    url = source_database(postgres_server)
    execute(
        url,
        "CREATE TABLE t (id bigint PRIMARY KEY, v text, n integer)",
        f"INSERT INTO t SELECT g, md5(g::text), 0 FROM generate_series(1, {ROWS}) g",
    )
    cdc_workspace(tmp_path, url, batch=2000)
    log = tmp_path / "syncs.log"
    forks = subprocess.Popen(
        [sys.executable, "-c", FORKS, str(tmp_path), str(log)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "MILLPOND_ENV": "prod"},
    )

    def ask(*command: str) -> int:
        forks.stdin.write(" ".join(command) + "\n")  # type: ignore[union-attr]
        forks.stdin.flush()  # type: ignore[union-attr]
        return int(forks.stdout.readline())  # type: ignore[union-attr]

    def in_step(cycle: int) -> None:
        """Writer paused: one sync to completion, then the warehouse equals the source."""
        writer.pause()
        assert ask("wait", str(ask("once"))) == 0, log.read_text()[-3000:]
        assert target_rows(tmp_path, ROW) == source_rows(url, ROW), cycle
        writer.resume()

    rng = random.Random(22)
    writer = Writer(url, seed=5)
    try:
        assert ask("wait", str(ask("once"))) == 0, log.read_text()  # the full copy, before any kill
        writer.start()
        codes = []
        for cycle in range(1, CYCLES + 1):
            pid = ask("follow")
            time.sleep(rng.uniform(0.05, 1.0))
            os.kill(pid, signal.SIGKILL)
            codes.append(ask("wait", str(pid)))
            if cycle % 10 == 0:
                in_step(cycle)
        writer.stopping.set()
        writer.join(30)
        assert writer.error is None and writer.transactions > 500
        assert ask("wait", str(ask("once"))) == 0
    finally:
        writer.stopping.set()
        forks.stdin.close()  # type: ignore[union-attr]
        forks.wait(60)
    assert codes == [-signal.SIGKILL] * CYCLES  # each died by the kill, none on its own
    assert target_rows(tmp_path, ROW) == source_rows(url, ROW)  # every change once
    with duckdb.connect(str(tmp_path / "data/warehouse.duckdb"), read_only=True) as wh:
        (state,) = wh.sql("SELECT state FROM _millpond.load_state WHERE source = 'crm'").fetchone()
    # applying a row image twice leaves the same row, so count: the transactions the syncs committed
    # (an audit kept in the state, in the same warehouse transaction) are the ones the writer committed
    assert json.loads(state)["transactions"] == writer.transactions
    written = log.read_text()
    assert "warning:" not in written and "error:" not in written, written[-3000:]  # never a resync
    assert written.count("copied") == 1 and written.count("changes/s") >= CYCLES // 2
    deadline = time.monotonic() + 30
    while slot(url)[2] is not None and time.monotonic() < deadline:  # a killed sync's query ends on its own
        time.sleep(0.1)
    with psycopg.connect(url) as db:
        left = db.execute("SELECT count(*) FROM pg_stat_activity WHERE application_name LIKE 'millpond sync%'")
        assert left.fetchone() == (0,) and slot(url)[2] is None
    with duckdb.connect(str(tmp_path / "data/warehouse.duckdb"), read_only=True) as wh:
        temps = wh.sql("SELECT count(*) FROM information_schema.tables WHERE table_name LIKE '_mp_tmp_%'").fetchall()
    assert temps == [(0,)]
