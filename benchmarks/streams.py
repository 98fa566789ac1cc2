"""Streams: events per second through each window type with exactly-once commits, beside the
floor (a plain DuckDB ``GROUP BY`` over the same events) and bytewax (its own windowing
operators, in its own venv), in one run; then the latency from an event's arrival to its
committed window, at a steady rate.

1. **Throughput.** The event log of ``benchmarks/stream_baselines.py`` (``--events`` in
   ``--files`` Parquet files, ``--keys`` keys, event times 10 ms apart less up to 2 s of
   disorder) is processed by a millpond stream per window type (tumbling 1 min; hopping 5 min
   sliding by 1 min; session, gap 30 s; ``count`` and ``sum(amount)`` per key; watermark 5 s
   behind) into a DuckDB file: micro-batches of ``--batch`` events, each committed in one
   transaction with its windows, state and offsets. Timed: ``millpond stream run --once`` in
   process, from opening the warehouse to the last commit. The result (the closed windows and
   the open ones, ``<sink>_live``) must equal the floor's row for row. The floor and bytewax
   are timed as ``stream_baselines.py`` times them, on the same files, alternating.
2. **Latency.** A writer process adds events to a Redis stream (Debian's ``redis-server``,
   started here on a free port) at ``--rate`` events/s in chunks every 10 ms, noting when each
   chunk went in; ``millpond stream run`` follows it (tumbling, 1 min) for ``--seconds``. A
   chunk's latency is from its arrival to the end of the commit of the micro-batch that took
   its last event (its windows, open or closed, are then in ``<sink>_live``). Printed: p50,
   p99 and max over the chunks after the first second.

    .venv/bin/python benchmarks/streams.py [--events 1000000] [--files 20] [--keys 1000] [--batch 500000]
        [--repeat 3] [--windows tumbling hopping session] [--rate 50000] [--seconds 20] [--skip-latency]
"""

from __future__ import annotations

import argparse
import multiprocessing
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import duckdb
import pyarrow as pa
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))
from stream_baselines import (  # noqa: E402 - beside this file
    COLUMNS,
    WINDOWS,
    bytewax_python,
    bytewax_version,
    differences,
    duckdb_floor,
    generate_events,
    run_bytewax,
)

from millpond.run.streaming import run_stream  # noqa: E402
from millpond.workspace import Workspace  # noqa: E402

KEYS = [f"k{i:04d}" for i in range(1000)]
SPECS = {
    "tumbling": {"type": "tumbling", "size": "1m"},
    "hopping": {"type": "hopping", "size": "5m", "slide": "1m"},
    "session": {"type": "session", "gap": "30s"},
}


def workspace(root: Path, events: Path | None, batch: int, redis_url: str | None = None) -> Workspace:
    """A workspace with a stream per window over the Parquet log (or one over Redis)."""
    streams = {}
    for window, spec in SPECS.items():
        source = {"kind": "files", "path": "data/stream/events-*.parquet"}
        if redis_url:
            source = {
                "kind": "redis",
                "url": redis_url,
                "streams": ["events"],
                "columns": {"key": "string", "ts": "timestamp", "amount": "float64"},
            }
        streams[window] = {
            "source": source,
            "time": "ts",
            "keys": ["key"],
            "window": spec,
            "aggregates": {"events": "count", "amount": "sum(amount)"},
            "watermark": {"delay": "5s"},
            "sink": f"gold.{window}",
            "max_batch": batch,
        }
    root.mkdir(parents=True)
    (root / "millpond.yml").write_text("name: bench\n")
    (root / "pipelines").mkdir()
    pipeline = {"name": "bench", "stages": [{"name": "none", "notebook": "none.ipynb"}], "streams": streams}
    (root / "pipelines" / "bench.yml").write_text(yaml.safe_dump(pipeline, sort_keys=False))
    (root / "data").mkdir()
    if events is not None:
        (root / "data" / "stream").symlink_to(events)
    return Workspace.find(root)


def millpond_round(folder: Path, window: str, batch: int) -> tuple[float, int, pa.Table]:
    """Seconds of one ``stream run --once`` over the log, its commits, and its windows."""
    with tempfile.TemporaryDirectory(prefix="millpond-stream-bench-") as tmp:
        ws = workspace(Path(tmp) / "ws", folder, batch)
        t0 = time.perf_counter()
        done = run_stream(ws, window)
        seconds = time.perf_counter() - t0
        con = duckdb.connect(str(ws.warehouse_file()), read_only=True)
        try:
            live = con.execute(f"SELECT {', '.join(COLUMNS)} FROM gold.{window}_live").to_arrow_table()
        finally:
            con.close()
    return seconds, done.batches, live.cast(pa.schema([(c, t) for c, t in zip(COLUMNS, _types(), strict=True)]))


def _types():
    return [pa.string(), pa.timestamp("us"), pa.timestamp("us"), pa.int64(), pa.float64()]


def throughput(args, folder: Path) -> list[str]:
    python = bytewax_python()
    print(f"bytewax {bytewax_version(python)} in its own venv; DuckDB {duckdb.__version__}", flush=True)
    summary = []
    for window in args.windows:
        ours, floors, theirs = [], [], []
        for _ in range(args.repeat):
            seconds, commits, live = millpond_round(folder, window, args.batch)
            ours.append(seconds)
            seconds, floor = duckdb_floor(folder, window)
            floors.append(seconds)
            seconds, result = run_bytewax(python, folder, window)
            theirs.append(seconds)
        m, f, b = (statistics.median(x) for x in (ours, floors, theirs))
        n = args.events
        print(
            f"{window:<9} millpond {n / m:>11,.0f} events/s ({m:.3f} s, {commits} commits)   floor {n / f:>11,.0f}"
            f" ({f:.3f} s)   bytewax {n / b:>9,.0f} ({b:.3f} s)   millpond/floor {f / m:.2f}x   "
            f"millpond/bytewax {b / m:.1f}x",
            flush=True,
        )
        print("          rounds: millpond " + " ".join(f"{s:.3f}" for s in ours), flush=True)
        for problem in differences(floor, live) + [f"bytewax: {p}" for p in differences(floor, result)]:
            print(f"  ! {problem}")
            summary.append(f"{window}: results DIFFER")
        summary.append(f"{window} {n / m:,.0f} events/s ({f / m:.2f}x floor, {b / m:.1f}x bytewax)")
    return summary


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _writer(url: str, rate: int, seconds: float, marks, ready) -> None:
    """Add ``rate`` events/s to the Redis stream in chunks every 10 ms; note each chunk's last id
    and when it went in."""
    import redis

    client = redis.Redis.from_url(url)
    chunk = max(1, rate // 100)
    ready.wait()
    start = time.time()
    sent = 0
    while time.time() - start < seconds:
        due = start + sent / rate
        if time.time() < due:
            time.sleep(due - time.time())
        pipe = client.pipeline(transaction=False)
        now = time.time()
        ts = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(now)) + f".{int(now * 1e6) % 1_000_000:06d}"
        for i in range(chunk):  # a chunk's events happen at the moment it is written
            pipe.xadd("events", {"key": KEYS[(sent + i) % 1000], "ts": ts, "amount": "1.5"})
        ids = pipe.execute()
        marks.put((ids[-1].decode(), now))
        sent += chunk
    marks.put(None)


def latency(args) -> str:
    binary = shutil.which("redis-server")
    if binary is None:
        raise SystemExit("redis-server not found: apt-get install redis-server")
    port = _free_port()
    server = subprocess.Popen(
        [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
        stdout=subprocess.DEVNULL,
    )
    try:
        url = f"redis://127.0.0.1:{port}/0"
        time.sleep(0.5)
        with tempfile.TemporaryDirectory(prefix="millpond-stream-latency-") as tmp:
            ws = workspace(Path(tmp) / "ws", None, args.rate, url)
            context = multiprocessing.get_context("spawn")
            marks, ready = context.Queue(), context.Event()
            writer = context.Process(target=_writer, args=(url, args.rate, args.seconds, marks, ready))
            writer.start()
            commits: list[tuple[tuple[int, int], float]] = []
            stop = threading.Event()

            def committed(step) -> None:
                position = step.offsets.get("events")
                if position:
                    commits.append((_id(position), time.time()))

            ready.set()
            timer = threading.Timer(args.seconds + 2, stop.set)
            timer.start()
            done = run_stream(ws, "tumbling", follow=True, interval=0.01, stop=stop, on_step=committed)
            chunks = []
            while (mark := marks.get()) is not None:  # drained before the join: a full pipe blocks the writer
                chunks.append(mark)
            writer.join()
    finally:
        server.terminate()
        server.wait()
    latencies = []
    first = chunks[0][1] if chunks else 0
    for last_id, arrived in chunks:
        took = next((at for position, at in commits if position >= _id(last_id)), None)
        if took is not None and arrived - first >= 1.0:
            latencies.append(took - arrived)
    latencies.sort()
    if not latencies:
        return "latency: no chunk was committed"
    p50, p99 = latencies[len(latencies) // 2], latencies[int(len(latencies) * 0.99)]
    rate = done.events / done.seconds if done.seconds else 0
    line = (
        f"latency at {args.rate:,} events/s for {args.seconds:.0f} s (Redis, tumbling 1 min, {done.batches} commits, "
        f"{done.events:,} events, {rate:,.0f} events/s overall): p50 {p50 * 1000:.0f} ms, p99 {p99 * 1000:.0f} ms, "
        f"max {latencies[-1] * 1000:.0f} ms over {len(latencies)} chunks"
    )
    print(line, flush=True)
    return line


def _id(entry: str) -> tuple[int, int]:
    ms, _, seq = entry.partition("-")
    return int(ms), int(seq or 0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--files", type=int, default=20)
    parser.add_argument("--keys", type=int, default=1000)
    parser.add_argument("--batch", type=int, default=500_000, help="events a micro-batch takes at most")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--windows", nargs="+", choices=WINDOWS, default=list(WINDOWS))
    parser.add_argument("--rate", type=int, default=50_000, help="latency: events/s written")
    parser.add_argument("--seconds", type=float, default=20.0, help="latency: how long")
    parser.add_argument("--skip-latency", action="store_true")
    parser.add_argument("--skip-throughput", action="store_true")
    args = parser.parse_args()
    summary = []
    folder = Path(tempfile.mkdtemp(prefix="millpond-stream-events-"))
    try:
        if not args.skip_throughput:
            generate_events(folder, args.events, args.files, args.keys, seed=42)
            print(f"{args.events:,} events in {args.files} Parquet files, {args.keys} keys; batches of {args.batch:,}")
            summary += throughput(args, folder)
        if not args.skip_latency:
            summary.append(latency(args))
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    print("\n" + "\n".join(summary))


if __name__ == "__main__":
    main()
