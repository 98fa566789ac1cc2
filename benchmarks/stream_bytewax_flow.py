"""bytewax's windowing over the stream benchmark's event log: run by the python of bytewax's own
venv (see benchmarks/stream_baselines.py, which runs it), never imported by ``.venv``.

Reads ``FOLDER/events-*.parquet`` in file order and row order (= arrival order), record batch by
record batch as the source's batches, each row a ``(key, (ts, amount))`` item (already keyed, as a
keyed topic's source gives them), and runs ``bytewax.operators.windowing.fold_window`` (count and
sum of ``amount``) with an ``EventClock`` on ``ts`` 5 s behind and the window's windower; the
closed windows become rows ``key, window_start, window_end, events, amount`` written to ``--out``
(Parquet, the floor's columns). Prints one JSON line: ``events``, ``seconds`` (the dataflow's run:
``run_main``, or ``cluster_main`` from the last process's start to the last one's end; neither
the imports nor the output's writing) and ``late`` (events the windows dropped as late: 0 for
this log).

What had to be aligned with the floor's definitions (bytewax 0.21.1):

- tumbling and hopping: ``align_to`` the epoch (UTC), so windows start on whole minutes; bytewax's
  windows are ``[open, close)`` as the floor's, and the window id gives the start
  (``epoch + id * 1 min``; ``SlidingWindower`` puts an event in the windows starting in
  ``(ts - length, ts]``, as the floor);
- session: bytewax joins an event to a session when it is at most ``gap`` from it (``<= gap``);
  the floor starts a new session at ``>= 30 s``; timestamps are whole microseconds, so
  ``gap = 30 s - 1 us`` is the same rule. Its session's bounds (first and last ``ts``) are kept in
  the fold's state; ``window_end`` is the last ``ts`` + 30 s;
- the clock: ``EventClock`` keeps its watermark per key, as the largest ``ts`` less 5 s plus the
  *system* time since that event; replaying a log faster than real time, the system part only
  makes the watermark less deterministic, so ``now_getter`` is frozen (the watermark is the
  largest ``ts`` of the key less 5 s) and ``to_system_utc`` returns None (windows close on later
  items and at the end of input, not on wall-clock wake-ups); ``--clock system`` keeps bytewax's
  defaults;
- ``ordered=False``: count and sum do not depend on the order of the items in a window, so they
  are folded as they arrive instead of queued in timestamp order (``reduce_window``'s choice);
- more than one worker (``--workers`` threads per process, ``--processes`` processes on
  loopback): each worker's source reads one shard of the keys from every file, so each key's
  events still arrive in log order (as from a topic partitioned by key) and the per-key watermark
  sees no late event. ``--shard bytewax`` (the default) gives each worker the keys whose state
  bytewax keeps on that worker (``bytewax_worker``: its routing hash, reproduced), so no item is
  exchanged; ``--shard number`` takes ``int(key[1:]) % workers``, and bytewax then sends about
  half the items to the other worker (pickled, over loopback between processes).

    ~/.cache/millpond-bench/bytewax-venv/bin/python benchmarks/stream_bytewax_flow.py --events FOLDER
        --window tumbling|hopping|session --out OUT.parquet [--processes 1] [--workers 1]
        [--clock frozen|system] [--ordered] [--batch 10000] [--shard bytewax|number]
"""

from __future__ import annotations

import argparse
import json
import socket
import subprocess
import sys
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import bytewax.operators as op
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from bytewax.dataflow import Dataflow
from bytewax.inputs import DynamicSource, StatelessSourcePartition
from bytewax.operators.windowing import (
    EventClock,
    SessionWindower,
    SlidingWindower,
    TumblingWindower,
    fold_window,
)
from bytewax.testing import TestingSink, cluster_main, run_main

EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
MINUTE = timedelta(minutes=1)
HOP_LENGTH = timedelta(minutes=5)
GAP = timedelta(seconds=30)
DELAY = timedelta(seconds=5)
# the windows' bounds are aware datetimes in timezone.utc (bytewax's UTC, like EPOCH and the items'
# ts), written as naive UTC timestamp[us] through this type
UTC_US = pa.timestamp("us", tz="+00:00")
COLUMNS = ["key", "window_start", "window_end", "events", "amount"]

READ = {"events": 0}  # rows this process's sources gave


class _ShardPartition(StatelessSourcePartition):
    """One worker's rows: every file in order, its record batches as batches of keyed items."""

    def __init__(self, files: list[Path], keep: pa.Array | None, batch: int):
        self._batches = self._read(files, keep, batch)

    @staticmethod
    def _read(files: list[Path], keep: pa.Array | None, batch: int):
        for path in files:
            for rb in pq.ParquetFile(path).iter_batches(batch_size=batch, columns=["key", "amount", "ts"]):
                if keep is not None:
                    rb = rb.filter(pc.is_in(rb.column("key"), value_set=keep))
                READ["events"] += rb.num_rows
                # EPOCH + timedelta(0, 0, us): exact, and 10x faster than to_pylist() of a tz-aware column
                stamps = [EPOCH + timedelta(0, 0, us) for us in rb.column("ts").cast(pa.int64()).to_pylist()]
                yield list(zip(rb.column("key").to_pylist(), zip(stamps, rb.column("amount").to_pylist())))

    def next_batch(self) -> list:
        return next(self._batches)  # StopIteration at the end: the input is complete


_MASK = (1 << 64) - 1


def _rotl(x: int, bits: int) -> int:
    return ((x << bits) | (x >> (64 - bits))) & _MASK


def siphash13(data: bytes) -> int:
    """SipHash-1-3 with zero keys: Rust's ``DefaultHasher::default()``."""
    v0, v1, v2, v3 = 0x736F6D6570736575, 0x646F72616E646F6D, 0x6C7967656E657261, 0x7465646279746573

    def sip_round() -> None:
        nonlocal v0, v1, v2, v3
        v0 = (v0 + v1) & _MASK
        v1 = _rotl(v1, 13) ^ v0
        v0 = _rotl(v0, 32)
        v2 = (v2 + v3) & _MASK
        v3 = _rotl(v3, 16) ^ v2
        v0 = (v0 + v3) & _MASK
        v3 = _rotl(v3, 21) ^ v0
        v2 = (v2 + v1) & _MASK
        v1 = _rotl(v1, 17) ^ v2
        v2 = _rotl(v2, 32)

    end = len(data) - len(data) % 8
    for i in range(0, end, 8):
        word = int.from_bytes(data[i : i + 8], "little")
        v3 ^= word
        sip_round()
        v0 ^= word
    word = int.from_bytes(data[end:], "little") | ((len(data) & 0xFF) << 56)
    v3 ^= word
    sip_round()
    v0 ^= word
    v2 ^= 0xFF
    for _ in range(3):
        sip_round()
    return v0 ^ v1 ^ v2 ^ v3


def bytewax_worker(key: str, worker_count: int) -> int:
    """The worker bytewax 0.21 routes a key's state to: ``StateKey(String)`` hashed by Rust's
    ``DefaultHasher`` (a ``str`` hashes as its bytes then 0xff), modulo the workers (src/operators.rs
    ``stateful_batch``, src/timely.rs ``partition``); checked against ``inspect_debug``'s worker."""
    return siphash13(key.encode() + b"\xff") % worker_count


class ParquetLog(DynamicSource):
    """The event log, each worker reading its shard of the keys."""

    def __init__(self, folder: Path, batch: int, shard: str):
        self.files = sorted(folder.glob("events-*.parquet"))
        self.keys = json.loads((folder / "manifest.json").read_text())["keys"]
        self.batch = batch
        self.shard = shard

    def build(self, step_id: str, worker_index: int, worker_count: int) -> _ShardPartition:
        keep = None
        if worker_count > 1:
            width = max(4, len(str(self.keys - 1)))
            names = [f"k{i:0{width}d}" for i in range(self.keys)]
            if self.shard == "bytewax":
                keep = pa.array([key for key in names if bytewax_worker(key, worker_count) == worker_index])
            else:
                keep = pa.array(names[worker_index::worker_count])
        return _ShardPartition(self.files, keep, self.batch)


def _count_sum(acc: list, value: tuple) -> list:
    acc[0] += 1
    acc[1] += value[1]
    return acc


def _merge_count_sum(a: list, b: list) -> list:
    return [a[0] + b[0], a[1] + b[1]]


def _count_sum_bounds(acc: list, value: tuple) -> list:
    ts = value[0]
    acc[0] += 1
    acc[1] += value[1]
    if acc[2] is None or ts < acc[2]:
        acc[2] = ts
    if acc[3] is None or ts > acc[3]:
        acc[3] = ts
    return acc


def _merge_bounds(a: list, b: list) -> list:
    return [a[0] + b[0], a[1] + b[1], min(a[2], b[2]), max(a[3], b[3])]


def _ts(value: tuple) -> datetime:
    return value[0]


def build_flow(
    folder: Path, window: str, clock_kind: str, ordered: bool, batch: int, shard: str, out: list, late: list
) -> Dataflow:
    flow = Dataflow(f"stream_{window}")
    keyed = op.input("events", flow, ParquetLog(folder, batch, shard))
    if clock_kind == "frozen":
        clock = EventClock(_ts, wait_for_system_duration=DELAY, now_getter=lambda: EPOCH, to_system_utc=lambda _: None)
    else:
        clock = EventClock(_ts, wait_for_system_duration=DELAY)

    if window == "session":
        # bytewax joins at distance <= gap; the floor splits at >= 30 s: the same on whole microseconds
        windower = SessionWindower(gap=GAP - timedelta(microseconds=1))
        windowed = fold_window(
            "fold", keyed, clock, windower, lambda: [0, 0.0, None, None], _count_sum_bounds, _merge_bounds, ordered
        )

        def row(item):
            key, (_, (events, amount, first, last)) = item
            return key, first, last + GAP, events, amount
    else:
        length = MINUTE if window == "tumbling" else HOP_LENGTH
        windower = (
            TumblingWindower(length=MINUTE, align_to=EPOCH)
            if window == "tumbling"
            else SlidingWindower(length=HOP_LENGTH, offset=MINUTE, align_to=EPOCH)
        )
        windowed = fold_window("fold", keyed, clock, windower, lambda: [0, 0.0], _count_sum, _merge_count_sum, ordered)

        def row(item):
            key, (window_id, (events, amount)) = item
            start = EPOCH + window_id * MINUTE
            return key, start, start + length, events, amount

    op.output("out", op.map("row", windowed.down, row), TestingSink(out))
    op.output("late", windowed.late, TestingSink(late))
    return flow


def write_rows(rows: list[tuple], path: Path) -> None:
    columns = list(zip(*rows)) if rows else [[] for _ in COLUMNS]
    naive = pa.timestamp("us")
    table = pa.table(
        {
            "key": pa.array(columns[0], pa.string()),
            "window_start": pa.array(columns[1], UTC_US).cast(naive),
            "window_end": pa.array(columns[2], UTC_US).cast(naive),
            "events": pa.array(columns[3], pa.int64()),
            "amount": pa.array(columns[4], pa.float64()),
        }
    )
    pq.write_table(table, path)


def free_ports(count: int) -> list[int]:
    sockets = [socket.socket() for _ in range(count)]
    for s in sockets:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in sockets]
    for s in sockets:
        s.close()
    return ports


def run_cluster(args: argparse.Namespace) -> dict:
    """Start ``--processes`` copies of this script as one cluster on loopback; their figures."""
    addresses = ";".join(f"127.0.0.1:{port}" for port in free_ports(args.processes))
    children = []
    for proc_id in range(args.processes):
        cmd = [sys.executable, __file__, *sys.argv[1:], "--proc-id", str(proc_id), "--addresses", addresses]
        children.append(subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True))
    figures = []
    for child in children:
        stdout, _ = child.communicate()
        if child.returncode != 0:
            raise SystemExit(f"bytewax process failed ({child.returncode})")
        figures.append(json.loads(stdout.strip().splitlines()[-1]))
    parts = [Path(f"{args.out}.part-{i}") for i in range(args.processes)]
    pq.write_table(pa.concat_tables([pq.read_table(p) for p in parts]), args.out)
    for part in parts:
        part.unlink()
    return {
        "events": sum(f["events"] for f in figures),
        # every process waits in cluster_main for the others: the run is from the last start
        "seconds": max(f["end"] for f in figures) - max(f["start"] for f in figures),
        "late": sum(f["late"] for f in figures),
        "processes": args.processes,
        "workers": args.workers,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=Path, required=True, help="the folder of events-*.parquet")
    parser.add_argument("--window", choices=["tumbling", "hopping", "session"], required=True)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--processes", type=int, default=1)
    parser.add_argument("--workers", type=int, default=1, help="worker threads per process")
    parser.add_argument("--clock", choices=["frozen", "system"], default="frozen")
    parser.add_argument("--ordered", action="store_true", help="fold in timestamp order (bytewax's default)")
    parser.add_argument("--batch", type=int, default=10_000, help="rows per source batch")
    parser.add_argument(
        "--shard",
        choices=["bytewax", "number"],
        default="bytewax",
        help="with more than one worker, each worker's source reads the keys bytewax routes to it (no item "
        "crosses to another worker) or those of int(key[1:]) %% workers",
    )
    parser.add_argument("--proc-id", type=int, default=None, help=argparse.SUPPRESS)
    parser.add_argument("--addresses", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.processes > 1 and args.proc_id is None:
        print(json.dumps(run_cluster(args)))
        return

    out: list[tuple] = []
    late: list = []
    flow = build_flow(args.events, args.window, args.clock, args.ordered, args.batch, args.shard, out, late)
    start = time.time()
    if args.processes == 1 and args.workers == 1:
        run_main(flow)
    else:
        addresses = args.addresses.split(";") if args.addresses else None
        cluster_main(flow, addresses or [], args.proc_id or 0, worker_count_per_proc=args.workers)
    end = time.time()
    write_rows(out, Path(f"{args.out}.part-{args.proc_id}") if args.proc_id is not None else args.out)
    print(json.dumps({"events": READ["events"], "seconds": end - start, "start": start, "end": end, "late": len(late)}))


if __name__ == "__main__":
    main()
