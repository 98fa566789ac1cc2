"""Baselines for the stream benchmark: a plain DuckDB ``GROUP BY`` (the floor) and bytewax's own
windowing operators, over the same event log, for tumbling, hopping and session windows.

The event log (``generate_events``): ``--events`` rows in ``--files`` Parquet files
``events-00000.parquet`` ... in arrival order (``event_id`` 0..n-1), each with a ``key``
(``--keys`` distinct, zipf-ish), an ``amount`` and an event time ``ts``: event ``i`` is due at
``2024-01-01 + i * 10 ms`` (1,000,000 events span 2.8 hours of event time) and its ``ts`` is that
less a jitter of 0..2 s, so a watermark 5 s behind the largest ``ts`` seen (per key, as bytewax
keeps it) sees no late event. A ``manifest.json`` beside the files tells their events, keys and
first and last ``ts``.

Per window and key, the events and the sum of ``amount``, where the windows are:

- ``tumbling``: 1 minute, aligned to the epoch: ``[minute, minute + 1 min)``;
- ``hopping``: 5 minutes sliding by 1 minute, aligned to the epoch: each event is in the 5 windows
  ``[start, start + 5 min)`` with ``start <= ts < start + 5 min``;
- ``session``: per key, sorted by ``ts``, a new session starts where ``ts - previous ts >= 30 s``;
  ``window_start`` is its first ``ts``, ``window_end`` its last ``ts`` + 30 s.

Results have the columns ``key``, ``window_start``, ``window_end`` (timestamp[us], UTC),
``events`` (int64) and ``amount`` (float64).

A. the floor (``duckdb_floor``): one query in a fresh in-memory DuckDB over
   ``read_parquet('<folder>/events-*.parquet')``; the query's seconds (Parquet read, aggregate,
   result fetched as Arrow), not the files' writing;
B. bytewax (``run_bytewax``): ``benchmarks/stream_bytewax_flow.py`` run by the python of
   bytewax's own venv (``--bytewax-venv``, created and filled from the package index on first use,
   never ``.venv``): a source reading the same files in arrival order, ``fold_window`` with
   bytewax's ``TumblingWindower`` / ``SlidingWindower`` / ``SessionWindower`` and an
   ``EventClock`` 5 s behind; the seconds of the dataflow run as the flow times it. By default a
   cluster of 2 processes of 1 worker on loopback (``--bytewax-processes 2``), each process's
   source reading the keys bytewax routes to its own worker (``--bytewax-shard bytewax``), so no
   item crosses between them: on this 2-core machine 1.3-1.8x faster than ``run_main``'s single
   worker (``--bytewax-processes 1``); 2 worker threads in one process (``--bytewax-workers 2``)
   are no faster than 1 (the GIL), and 2 processes whose sources shard the keys otherwise
   (``--bytewax-shard number``) pickle half the items to the other over loopback, 3x slower.

``--check`` runs each once on ``--events`` (200,000 by default there) and asserts that the two
agree row for row (sorted; ``amount`` to 1e-6 relative). Otherwise each window is timed
``--repeat`` times, alternating floor and bytewax, and the medians printed with their ratio.
``run_bytewax``, ``duckdb_floor``, ``generate_events`` and ``bytewax_python`` are what the stream
benchmark imports to print its figures beside these.

    .venv/bin/python benchmarks/stream_baselines.py --events 200000 --check
    .venv/bin/python benchmarks/stream_baselines.py [--events 1000000] [--files 20] [--keys 1000] [--repeat 3]
        [--windows tumbling hopping session] [--bytewax-processes 2] [--bytewax-workers 1]
        [--bytewax-shard bytewax|number]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

HERE = Path(__file__).resolve().parent
FLOW = HERE / "stream_bytewax_flow.py"
BYTEWAX_VENV = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "millpond-bench" / "bytewax-venv"
# 0.21.1 is the newest bytewax on the package index (Nov 2024); the flow uses its 0.21 windowing API.
BYTEWAX_REQUIREMENTS = ["bytewax>=0.21.1,<0.22", "pyarrow>=16"]
# Measured on the 2-core machine at 1,000,000 events (medians of 3): 2 processes of 1 worker each,
# each source reading the keys bytewax routes to its own worker, beat run_main's single worker by
# 1.3-1.8x; 2 worker threads in one process share the GIL (no faster than run_main); 2 processes
# whose sources shard the keys otherwise pickle half the items to the other process over loopback
# and are 3x slower than run_main.
BYTEWAX_PROCESSES = 2
BYTEWAX_WORKERS = 1
BYTEWAX_SHARD = "bytewax"

WINDOWS = ("tumbling", "hopping", "session")
START = datetime(2024, 1, 1)
STEP_US = 10_000  # event time between two arrivals: 10 ms
MAX_JITTER_US = 2_000_000  # each ts is its due time less 0..2 s
COLUMNS = ["key", "window_start", "window_end", "events", "amount"]

_SOURCE = "read_parquet('{folder}/events-*.parquet')"
_EPOCH = "TIMESTAMP '1970-01-01'"
FLOOR_SQL = {
    "tumbling": f"""
        SELECT key, window_start, window_start + INTERVAL 1 minute AS window_end,
               count(*) AS events, sum(amount) AS amount
        FROM (SELECT key, amount, time_bucket(INTERVAL 1 minute, ts, {_EPOCH}) AS window_start FROM {_SOURCE})
        GROUP BY key, window_start
    """,
    "hopping": f"""
        SELECT key, window_start, window_start + INTERVAL 5 minute AS window_end,
               count(*) AS events, sum(amount) AS amount
        FROM (
            SELECT key, amount, time_bucket(INTERVAL 1 minute, ts, {_EPOCH}) - to_minutes(back) AS window_start
            FROM {_SOURCE}, range(5) AS hops(back)
        )
        GROUP BY key, window_start
    """,
    # ties in ts are ordered by event_id in both windows, so a session's first row is the one flagged
    "session": f"""
        WITH flagged AS (
            SELECT key, ts, amount, event_id,
                   CASE WHEN ts - lag(ts) OVER (PARTITION BY key ORDER BY ts, event_id) < INTERVAL 30 seconds
                        THEN 0 ELSE 1 END AS starts
            FROM {_SOURCE}
        ), numbered AS (
            SELECT key, ts, amount,
                   sum(starts) OVER (PARTITION BY key ORDER BY ts, event_id ROWS UNBOUNDED PRECEDING) AS session
            FROM flagged
        )
        SELECT key, min(ts) AS window_start, max(ts) + INTERVAL 30 seconds AS window_end,
               count(*) AS events, sum(amount) AS amount
        FROM numbered
        GROUP BY key, session
    """,
}


def key_names(keys: int) -> list[str]:
    """The keys' names: ``k0000``, ``k0001``, ... (wider past 10,000 keys)."""
    width = max(4, len(str(keys - 1)))
    return [f"k{i:0{width}d}" for i in range(keys)]


def generate_events(folder: Path, events: int, files: int, keys: int, seed: int) -> Path:
    """Write the event log into ``folder`` (its earlier ``events-*.parquet`` removed) and
    ``manifest.json``; the folder. The same arguments write the same rows."""
    folder.mkdir(parents=True, exist_ok=True)
    for old in folder.glob("events-*.parquet"):
        old.unlink()
    rng = np.random.default_rng(seed)
    event_id = np.arange(events, dtype=np.int64)
    due = np.datetime64(START, "us") + event_id * np.timedelta64(STEP_US, "us")
    ts = due - rng.integers(0, MAX_JITTER_US + 1, events).astype("timedelta64[us]")
    weights = 1.0 / np.arange(1, keys + 1) ** 1.0  # zipf-ish: k0000 the hottest
    key_index = rng.choice(keys, size=events, p=weights / weights.sum())
    amount = np.round(rng.lognormal(3.0, 1.0, events), 2)
    names = pa.array(key_names(keys), pa.string())
    table = pa.table(
        {
            "event_id": pa.array(event_id, pa.int64()),
            "key": names.take(pa.array(key_index)),
            "amount": pa.array(amount, pa.float64()),
            "ts": pa.array(ts, pa.timestamp("us")),
        }
    )
    bounds = np.linspace(0, events, files + 1).astype(int)
    for number, (lo, hi) in enumerate(zip(bounds[:-1], bounds[1:])):
        pq.write_table(table.slice(lo, hi - lo), folder / f"events-{number:05d}.parquet")
    manifest = {
        "events": events,
        "files": files,
        "keys": keys,
        "seed": seed,
        "first_ts": str(ts.min()) if events else None,
        "last_ts": str(ts.max()) if events else None,
        "step_us": STEP_US,
        "max_jitter_us": MAX_JITTER_US,
    }
    (folder / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
    return folder


# (key, seconds after START) in arrival order: each window's edges, met exactly
EDGES = [
    ("k0000", 0.0),
    ("k0000", 30.0),  # exactly 30 s after the last: a new session
    ("k0001", 10.0),
    ("k0001", 10.0),  # a tie
    ("k0000", 59.999999),  # 29.999999 s: the same session
    ("k0000", 60.0),  # a minute's first microsecond
    ("k0001", 40.0),  # 30 s after the tie: a new session
    ("k0000", 58.0),  # 2 s late: the previous minute, the same session
    ("k0002", 299.999999),  # the last microsecond of the first 5-minute windows
    ("k0002", 300.0),  # the first of the next
    ("k0000", 120.0),
    ("k0000", 149.999999),
    ("k0000", 179.999999),  # exactly 30 s after the last
    ("k0002", 298.5),  # 1.5 s late, the day's first windows and the same session
]


def edge_events(folder: Path) -> Path:
    """A small hand-made log (``EDGES``) in one file, for ``--check``: window edges met exactly."""
    folder.mkdir(parents=True, exist_ok=True)
    for old in folder.glob("events-*.parquet"):
        old.unlink()
    start = np.datetime64(START, "us")
    ts = [start + np.timedelta64(round(seconds * 1_000_000), "us") for _, seconds in EDGES]
    table = pa.table(
        {
            "event_id": pa.array(range(len(EDGES)), pa.int64()),
            "key": pa.array([key for key, _ in EDGES], pa.string()),
            "amount": pa.array([1.25 * (i + 1) for i in range(len(EDGES))], pa.float64()),
            "ts": pa.array(ts, pa.timestamp("us")),
        }
    )
    pq.write_table(table, folder / "events-00000.parquet")
    manifest = {"events": len(EDGES), "files": 1, "keys": 3, "first_ts": str(min(ts)), "last_ts": str(max(ts))}
    (folder / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
    return folder


def duckdb_floor(folder: Path, window: str) -> tuple[float, pa.Table]:
    """The floor: seconds of one DuckDB query over the Parquet files, and its result."""
    sql = FLOOR_SQL[window].format(folder=Path(folder).resolve())
    con = duckdb.connect()
    try:
        t0 = time.perf_counter()
        result = con.execute(sql).to_arrow_table()
        seconds = time.perf_counter() - t0
    finally:
        con.close()
    return seconds, result.select(COLUMNS)


def bytewax_python(venv: Path = BYTEWAX_VENV) -> Path:
    """``python`` of bytewax's own venv, created and installed there on first use."""
    python = venv / "bin" / "python"
    if not python.exists() or subprocess.run([str(python), "-c", "import bytewax, pyarrow"]).returncode != 0:
        print(f"installing {', '.join(BYTEWAX_REQUIREMENTS)} into {venv} (once)", flush=True)
        venv.parent.mkdir(parents=True, exist_ok=True)
        for cmd, what in (
            ([sys.executable, "-m", "venv", "--clear", str(venv)], "creating the bytewax venv"),
            ([str(python), "-m", "pip", "install", "--quiet", *BYTEWAX_REQUIREMENTS], "installing bytewax"),
        ):
            done = subprocess.run(cmd, capture_output=True, text=True)
            if done.returncode != 0:
                raise SystemExit(f"{what} failed ({done.returncode}): {' '.join(cmd)}\n{done.stderr[-3000:]}")
    return python


def bytewax_version(python: Path) -> str:
    done = subprocess.run(
        [str(python), "-c", "import importlib.metadata as m; print(m.version('bytewax'))"],
        capture_output=True,
        text=True,
        check=True,
    )
    return done.stdout.strip()


def run_bytewax(
    python: Path,
    folder: Path,
    window: str,
    processes: int = BYTEWAX_PROCESSES,
    workers: int = BYTEWAX_WORKERS,
    shard: str = BYTEWAX_SHARD,
) -> tuple[float, pa.Table]:
    """bytewax's seconds for the dataflow over the files in ``folder`` (as the flow times its run:
    neither the interpreter's start nor the output's writing), and its result."""
    with tempfile.TemporaryDirectory(prefix="millpond-bytewax-") as tmp:
        out = Path(tmp) / "out.parquet"
        cmd = [str(python), str(FLOW), "--events", str(folder), "--window", window, "--out", str(out)]
        cmd += ["--processes", str(processes), "--workers", str(workers), "--shard", shard]
        done = subprocess.run(cmd, capture_output=True, text=True)
        if done.returncode != 0:
            raise SystemExit(f"bytewax failed ({done.returncode}): {' '.join(cmd)}\n{done.stderr[-4000:]}")
        figures = json.loads(done.stdout.strip().splitlines()[-1])
        if figures["late"]:
            raise SystemExit(f"bytewax found {figures['late']} late events in {folder} ({window})")
        return figures["seconds"], pq.read_table(out).select(COLUMNS)


def differences(floor: pa.Table, theirs: pa.Table, rtol: float = 1e-6) -> list[str]:
    """How two results differ once sorted (``amount`` to ``rtol`` relative); empty when equal."""
    order = [("key", "ascending"), ("window_start", "ascending"), ("window_end", "ascending")]
    a, b = floor.sort_by(order), theirs.sort_by(order)
    if a.schema != b.schema:
        return [f"schemas differ:\n{a.schema}\n--\n{b.schema}"]
    if a.num_rows != b.num_rows:
        return [f"{a.num_rows:,} rows in the floor, {b.num_rows:,} in bytewax"]
    found = []
    for name in ("key", "window_start", "window_end", "events"):
        unequal = np.flatnonzero(a[name].to_numpy() != b[name].to_numpy())
        if len(unequal):
            row = int(unequal[0])
            found.append(f"{name}: {len(unequal):,} rows differ, first at {row}: {a.slice(row, 1).to_pylist()[0]}")
            found.append(f"{' ' * len(name)}  bytewax: {b.slice(row, 1).to_pylist()[0]}")
    x, y = a["amount"].to_numpy(), b["amount"].to_numpy()
    off = np.flatnonzero(np.abs(x - y) > rtol * np.maximum(np.abs(x), np.abs(y)))
    if len(off):
        found.append(f"amount: {len(off):,} rows differ by more than {rtol:g} relative, e.g. {x[off[0]]} {y[off[0]]}")
    return found


def check_edges(python: Path, folder: Path, processes: int, workers: int, shard: str) -> bool:
    """The floor and bytewax on ``EDGES``; whether they agree."""
    edge_events(folder)
    agree = True
    for window in WINDOWS:
        _, floor = duckdb_floor(folder, window)
        _, theirs = run_bytewax(python, folder, window, processes, workers, shard)
        found = differences(floor, theirs)
        agree = agree and not found
        print(f"edges    {window:<9} {floor.num_rows:>3} windows: " + ("equal" if not found else "DIFFER"))
        for line in found:
            print(f"  ! {line}")
    return agree


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=None, help="events (default 1,000,000; 200,000 with --check)")
    parser.add_argument("--files", type=int, default=20)
    parser.add_argument("--keys", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--windows", nargs="+", choices=WINDOWS, default=list(WINDOWS))
    parser.add_argument("--repeat", type=int, default=3, help="timed rounds per window (not with --check)")
    parser.add_argument("--check", action="store_true", help="one round each, asserting the results agree")
    parser.add_argument("--bytewax-venv", type=Path, default=BYTEWAX_VENV, help=f"default {BYTEWAX_VENV}")
    parser.add_argument("--bytewax-processes", type=int, default=BYTEWAX_PROCESSES)
    parser.add_argument("--bytewax-workers", type=int, default=BYTEWAX_WORKERS, help="worker threads per process")
    parser.add_argument(
        "--bytewax-shard",
        choices=["bytewax", "number"],
        default=BYTEWAX_SHARD,
        help="with more than one worker: each source reads the keys bytewax routes to its worker, or "
        "int(key[1:]) %% workers (then items cross between workers)",
    )
    args = parser.parse_args()
    events = args.events or (200_000 if args.check else 1_000_000)
    mode = (args.bytewax_processes, args.bytewax_workers, args.bytewax_shard)

    python = bytewax_python(args.bytewax_venv)
    folder = Path(tempfile.mkdtemp(prefix="millpond-stream-events-"))
    try:
        agree = check_edges(python, folder / "edges", *mode) if args.check else True
        t0 = time.perf_counter()
        generate_events(folder, events, args.files, args.keys, args.seed)
        manifest = json.loads((folder / "manifest.json").read_text())
        print(
            f"{events:,} events in {args.files} files, {args.keys} keys, ts {manifest['first_ts']} .. "
            f"{manifest['last_ts']} (written in {time.perf_counter() - t0:.1f} s); DuckDB {duckdb.__version__}, "
            f"bytewax {bytewax_version(python)} ({args.bytewax_processes} process(es) x {args.bytewax_workers} "
            f"worker(s), shard {args.bytewax_shard}); {os.cpu_count()} cores"
        )
        rounds = 1 if args.check else args.repeat
        summary = []
        for window in args.windows:
            floor_s, bytewax_s = [], []
            for _ in range(rounds):
                seconds, floor = duckdb_floor(folder, window)
                floor_s.append(seconds)
                seconds, theirs = run_bytewax(python, folder, window, *mode)
                bytewax_s.append(seconds)
            f, b = statistics.median(floor_s), statistics.median(bytewax_s)
            line = (
                f"{window:<9} floor {events / f:>12,.0f} events/s ({f:6.3f} s)   bytewax {events / b:>10,.0f} "
                f"events/s ({b:6.3f} s)   bytewax / floor time {b / f:6.1f}x   {floor.num_rows:,} windows"
            )
            if rounds > 1:
                line += "\n          rounds: floor " + " ".join(f"{s:.3f}" for s in floor_s)
                line += "; bytewax " + " ".join(f"{s:.3f}" for s in bytewax_s)
            print(line, flush=True)
            found = differences(floor, theirs)
            agree = agree and not found
            for problem in found:
                print(f"  ! {problem}")
            if args.check and not found:
                print(f"  equal row for row: {floor.num_rows:,} windows, {pc.sum(floor['events'])} (event, window)s")
            summary.append(f"{window} {events / f:,.0f} / {events / b:,.0f}")
        print(f"\nevents/s, floor / bytewax (median of {rounds}): " + "; ".join(summary))
        print("the results agree" if agree else "the results DIFFER")
        if not agree:
            sys.exit(1)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
