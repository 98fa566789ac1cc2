"""Change data capture from PostgreSQL: ``millpond sync`` against the engine's floor, and under a
steady writer.

Starts a throwaway PostgreSQL server (tests/support/postgres.py: wal_level = logical, loopback),
fills ``public.orders`` with ``--rows`` rows and copies it into a DuckDB warehouse with
``millpond sync orders`` (a ``postgres_cdc`` source). Then, each round on a fresh database:

A. backlog: ``--backlog`` changes are committed with no sync running (transactions of ``--tx``
   changes: half inserts, 40 % updates, 10 % deletes), then one ``sync`` pass applies them
   (decoded, netted by key, written to DuckDB with the LSN, the slot advanced): changes/s.
   The floor, side by side: the same changes read raw from a second slot by
   ``pg_logical_slot_peek_binary_changes`` into Python (no decoding, no apply), and the ratio;
B. steady: a writer process commits ``--rate`` changes/s for ``--seconds`` (``synchronous_commit =
   on``, as a production source) while ``millpond sync orders --follow`` runs (in a child, timed
   inside): the changes it applied per second, and the lag of each transaction it applied
   (its commit in the warehouse less its commit in the source, the same clock), p50 and p99.

After each round the warehouse is checked against the source (rows, sum of a column).

    .venv/bin/python benchmarks/cdc.py [--rows 100000] [--backlog 500000] [--rate 40000] [--seconds 20] [--repeat 3]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import duckdb
import psycopg
import yaml

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))
from support.postgres import ThrowawayPostgres  # noqa: E402

SYNC = textwrap.dedent(
    """
    import json, os, signal, sys, threading, time
    os.environ["MILLPOND_ENV"] = "prod"
    from millpond.run.sync import sync_source
    from millpond.workspace import Workspace
    follow = sys.argv[2] == "follow"
    stop, lags, steps = threading.Event(), [], []
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    def record(step):
        lags.extend(step.committed_at - commit for commit in step.commits)
        steps.append((step.committed_at, step.changes))
    print("ready", flush=True)
    t0 = time.perf_counter()
    done = sync_source(Workspace(sys.argv[1]), "orders", follow=follow, interval=0.05, stop=stop, on_step=record)
    print(json.dumps({"seconds": time.perf_counter() - t0, "changes": done.changes, "lags": lags, "steps": steps}))
    """
)
WRITER = textwrap.dedent(
    """
    import sys, time, psycopg
    url, rate, tx, seconds, first = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4]), int(sys.argv[5])
    ins, upd = tx // 2, tx * 2 // 5
    dele = tx - ins - upd
    with psycopg.connect(url, autocommit=True) as db:
        db.execute("SET synchronous_commit = on")
        start, n, next_id = time.perf_counter(), 0, first
        while time.perf_counter() - start < seconds:
            db.execute(
                f"BEGIN; INSERT INTO orders SELECT g, g % 1000, 'placed', 1.00, now() FROM generate_series({next_id}, {next_id + ins - 1}) g;"
                f" UPDATE orders SET status = 'shipped', amount = amount + 1 WHERE id BETWEEN {next_id} AND {next_id + upd - 1};"
                f" DELETE FROM orders WHERE id BETWEEN {next_id - 10 * tx} AND {next_id - 10 * tx + dele - 1}; COMMIT"
            )
            next_id += ins
            n += 1
            pause = start + n * tx / rate - time.perf_counter()
            if pause > 0:
                time.sleep(pause)
    print(n * tx / (time.perf_counter() - start))
    """
)


def workspace(root: Path, url: str) -> None:
    (root / "pipelines").mkdir(parents=True, exist_ok=True)
    (root / "millpond.yml").write_text("name: cdc\n")
    source = {
        "kind": "postgres_cdc",
        "target": "bronze.orders",
        "options": {"url": url, "table": "public.orders", "primary_key": ["id"], "batch": 100_000},
    }
    (root / "pipelines/cdc.yml").write_text(yaml.safe_dump({"sources": {"orders": source}, "stages": []}))


def run_json(cmd: list[str]) -> dict:
    done = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, "MILLPOND_ENV": "prod"})
    if done.returncode != 0:
        raise SystemExit(f"{cmd} failed:\n{done.stdout[-2000:]}{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def wait_flushed(db: psycopg.Connection) -> None:
    end = db.execute("SELECT pg_current_wal_insert_lsn()").fetchone()[0]
    while db.execute("SELECT pg_current_wal_flush_lsn() >= %s", (end,)).fetchone()[0] is not True:
        time.sleep(0.01)


def backlog(db: psycopg.Connection, rows: int, changes: int, tx: int) -> int:
    """``changes`` changes after the first ``rows`` rows; the next free id."""
    ins, upd = tx // 2, tx * 2 // 5
    next_id = rows + 1
    for _ in range(changes // tx):
        db.execute(
            f"BEGIN; INSERT INTO orders SELECT g, g % 1000, 'placed', 1.00, now() FROM generate_series({next_id}, {next_id + ins - 1}) g;"
            f" UPDATE orders SET status = 'shipped', amount = amount + 1 WHERE id BETWEEN {next_id - ins} AND {next_id - ins + upd - 1};"
            f" DELETE FROM orders WHERE id BETWEEN {next_id - 20 * tx} AND {next_id - 20 * tx + tx - ins - upd - 1}; COMMIT"
        )
        next_id += ins
    return next_id


def floor(db: psycopg.Connection) -> tuple[int, float]:
    """Changes the raw peek of slot ``floor`` returns, and its seconds (fetched into Python)."""
    t0 = time.perf_counter()
    cur = db.cursor(binary=True)
    rows = cur.execute(
        "SELECT data FROM pg_logical_slot_peek_binary_changes('floor', NULL, NULL,"
        " 'proto_version', '1', 'publication_names', 'millpond_orders')"
    ).fetchall()
    seconds = time.perf_counter() - t0
    return sum(1 for (data,) in rows if data[:1] in (b"I", b"U", b"D")), seconds


def check(url: str, root: Path) -> None:
    sql = "SELECT count(*), sum(amount), sum(id) FROM {}"
    with psycopg.connect(url) as db:
        want = db.execute(sql.format("orders")).fetchone()
    with duckdb.connect(str(root / "data/warehouse.duckdb"), read_only=True) as wh:
        got = wh.execute(sql.format("bronze.orders")).fetchone()
    assert tuple(want) == tuple(got), (want, got)


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(p * len(ordered)))] if ordered else float("nan")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--backlog", type=int, default=500_000)
    parser.add_argument("--tx", type=int, default=200, help="changes per transaction")
    parser.add_argument("--rate", type=int, default=40_000, help="changes/s the steady writer commits")
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    figures: dict[str, list[float]] = {k: [] for k in ("sync", "floor", "written", "applied", "p50", "p99", "max")}
    with ThrowawayPostgres(database="bench") as pg:
        for round_ in range(args.repeat):
            url = pg.fresh_database(f"cdc_{round_}").replace("postgres://", "postgresql://")
            root = Path(tempfile.mkdtemp(prefix="millpond-cdc-"))
            workspace(root, url)
            with psycopg.connect(url, autocommit=True) as db:
                db.execute(
                    "CREATE TABLE orders (id bigint PRIMARY KEY, customer_id integer, status text, "
                    "amount numeric(12, 2), updated_at timestamptz)"
                )
                db.execute(
                    "INSERT INTO orders SELECT g, g % 1000, 'placed', 1.00, now() "
                    f"FROM generate_series(1, {args.rows}) g"
                )
                run_json([sys.executable, "-c", SYNC, str(root), "once"])  # the full copy
                db.execute("SELECT pg_create_logical_replication_slot('floor', 'pgoutput')")
                next_id = backlog(db, args.rows, args.backlog, args.tx)
                wait_flushed(db)
                raw, raw_seconds = floor(db)
                db.execute("SELECT pg_drop_replication_slot('floor')")
            applied = run_json([sys.executable, "-c", SYNC, str(root), "once"])
            assert applied["changes"] == raw, (applied["changes"], raw)
            check(url, root)
            figures["sync"].append(applied["changes"] / applied["seconds"])
            figures["floor"].append(raw / raw_seconds)
            follower = subprocess.Popen(
                [sys.executable, "-c", SYNC, str(root), "follow"],
                stdout=subprocess.PIPE,
                text=True,
                env={**os.environ, "MILLPOND_ENV": "prod"},
            )
            assert follower.stdout is not None and follower.stdout.readline().strip() == "ready"
            time.sleep(1.0)
            start = time.time()
            written = subprocess.run(
                [sys.executable, "-c", WRITER, url, str(args.rate), str(args.tx), str(args.seconds), str(next_id + 1)],
                capture_output=True,
                text=True,
                check=True,
            )
            time.sleep(2.0)
            follower.send_signal(signal.SIGTERM)
            out, _ = follower.communicate(timeout=120)
            steady = json.loads(out.strip().splitlines()[-1])
            check(url, root)
            during = [changes for at, changes in steady["steps"] if at >= start]
            figures["written"].append(float(written.stdout.strip()))
            figures["applied"].append(sum(during) / args.seconds)
            figures["p50"].append(percentile(steady["lags"], 0.50))
            figures["p99"].append(percentile(steady["lags"], 0.99))
            figures["max"].append(max(steady["lags"], default=float("nan")))
            shutil.rmtree(root, ignore_errors=True)
            pg.drop_database(f"cdc_{round_}")
    med = {k: statistics.median(v) for k, v in figures.items()}
    print(
        f"public.orders ({args.rows:,} rows) into DuckDB on loopback, {os.cpu_count()} cores; median of {args.repeat}"
    )
    print(
        f"  backlog of {args.backlog:,} changes ({args.tx} a transaction)   millpond sync {med['sync']:>9,.0f} changes/s"
        f"   raw peek (floor) {med['floor']:>9,.0f} changes/s   ratio {med['sync'] / med['floor']:.2f}x"
    )
    print(
        f"  steady writer {med['written']:>9,.0f} changes/s for {args.seconds:.0f} s       applied {med['applied']:>9,.0f} changes/s"
        f"   lag p50 {med['p50']:.2f} s   p99 {med['p99']:.2f} s   max {med['max']:.2f} s"
    )
    print(
        "  (lag: a transaction's commit in the warehouse less its commit in the source; raw peek: no decoding, no apply)"
    )


if __name__ == "__main__":
    main()
