"""Exactly once under SIGKILL: a stream processor killed at random points, over and over, while
events keep landing, still commits what one event-at-a-time pass over the log gives (an
independent oracle): no window lost or doubled, every event counted once, every late event kept
once; and nothing is left running, holding a lock or staged."""

from __future__ import annotations

import multiprocessing
import os
import random
import signal
import time

from millpond.run.streaming import run_stream
from millpond.warehouse.lease import Lease
from support.stream_oracle import fixed_windows, session_windows
from support.streams import (
    SECOND,
    append_events,
    disordered_events,
    query,
    rounded,
    stream_spec,
    stream_workspace,
    windows_in,
)

CYCLES = 100


def _follow(root: str, name: str) -> None:
    from millpond.workspace import Workspace

    run_stream(Workspace.find(root), name, follow=True, interval=0.01)


def committed(ws, name: str) -> int:
    """Events stream ``name`` has committed (none before its warehouse or tables exist)."""
    if not ws.warehouse_file().exists():
        return 0
    tables = query(ws, "SELECT count(*) FROM information_schema.tables WHERE table_name = 'stream_progress'")
    if not tables[0][0]:
        return 0
    found = query(ws, f"SELECT max(events) FROM _millpond.stream_progress WHERE stream = '{name}'")
    return found[0][0] or 0


def test_a_stream_killed_100_times_commits_each_event_exactly_once(tmp_path):
    rng = random.Random(20261204)
    events = disordered_events(7, 8000, pauses=0.004)
    spec = {"max_batch": 37}
    streams = {
        "clicks": stream_spec("tumbling", late="correct", **spec),
        "visits": stream_spec("session", sink="gold.visits", **spec),
    }
    ws = stream_workspace(tmp_path, streams)
    folder = ws.root / "data" / "stream"
    context = multiprocessing.get_context("fork")
    landed, behind = 0, 0
    for cycle in range(CYCLES):
        name = "clicks" if cycle % 2 else "visits"
        child = context.Process(target=_follow, args=(str(ws.root), name))
        child.start()
        deadline = time.monotonic() + rng.uniform(0.0, 0.3)  # from before its first batch to well into its work
        while time.monotonic() < deadline and landed < len(events):  # events land while it works
            upto = min(landed + rng.randrange(0, 40), len(events))
            append_events(folder, f"e{landed // 3000:02d}.jsonl", events[landed:upto])
            landed = upto
            time.sleep(0.01)
        os.kill(child.pid, signal.SIGKILL)
        child.join(10)
        assert child.exitcode == -signal.SIGKILL
        counted = committed(ws, name)
        assert counted <= landed
        behind += counted < landed  # killed with work in hand
    assert behind >= CYCLES // 2, f"only {behind} of {CYCLES} kills found a backlog"
    append_events(folder, f"e{landed // 3000:02d}.jsonl", events[landed:])
    for name in streams:
        run_stream(ws, name)

    clicks = fixed_windows(
        events, size=60 * SECOND, slide=60 * SECOND, delay=5 * SECOND, lateness=10 * SECOND, correct=True
    )
    visits = session_windows(events, gap=30 * SECOND, delay=5 * SECOND, lateness=10 * SECOND)
    assert windows_in(ws, "gold.clicks") == rounded(clicks.closed)
    assert windows_in(ws, "_millpond.stream_clicks_state") == rounded(clicks.open)
    assert windows_in(ws, "gold.visits") == rounded(visits.closed)
    assert windows_in(ws, "_millpond.stream_visits_state") == rounded(visits.open)
    assert query(ws, "SELECT count(*) FROM gold.clicks_late") == [(len(clicks.late),)]
    assert query(ws, "SELECT count(*) FROM gold.visits_late") == [(len(visits.late),)]
    counted = query(ws, "SELECT stream, events FROM _millpond.stream_progress ORDER BY stream")
    assert counted == [("clicks", len(events)), ("visits", len(events))]  # each event counted once, by each

    staged = query(ws, "SELECT count(*) FROM information_schema.tables WHERE table_name LIKE '_mp_tmp_%'")
    assert staged == [(0,)]
    for name in streams:  # nobody holds a stream's lock or the warehouse
        lock = Lease(ws.meta_dir / f"stream_{name}_prod")
        assert lock.try_acquire()
        lock.release()
    warehouse = Lease(ws.warehouse_file())
    assert warehouse.try_acquire()
    warehouse.release()
    assert not multiprocessing.active_children()


def _replay(root: str) -> None:
    from millpond.run.streaming import replay_stream
    from millpond.workspace import Workspace

    replay_stream(Workspace.find(root), "clicks")


def test_a_replay_killed_at_random_points_leaves_the_outputs_as_they_were(tmp_path):
    """The swap is one transaction: a replay killed before it leaves the live outputs as they
    were, whatever it had built; the next replay drops what the killed one left and swaps in."""
    rng = random.Random(5)
    ws = stream_workspace(tmp_path, {"clicks": stream_spec("hopping", late="correct", max_batch=400)})
    append_events(ws.root / "data" / "stream", "e.jsonl", disordered_events(9, 3000))
    run_stream(ws, "clicks")
    outputs = ("gold.clicks", "gold.clicks_late", "_millpond.stream_clicks_state", "_millpond.stream_offsets")
    before = [
        query(
            ws,
            f"SELECT * EXCLUDE (_emitted_at) FROM {t} ORDER BY ALL"
            if t == "gold.clicks"
            else f"SELECT * FROM {t} ORDER BY ALL",
        )
        for t in outputs
    ]
    context = multiprocessing.get_context("fork")
    for _ in range(8):
        child = context.Process(target=_replay, args=(str(ws.root),))
        child.start()
        time.sleep(rng.uniform(0.0, 0.5))
        os.kill(child.pid, signal.SIGKILL)
        child.join(10)
        assert query(ws, "SELECT sum(events) FROM gold.clicks") == [(sum(r[3] for r in before[0]),)]
    _replay(str(ws.root))
    after = [
        query(
            ws,
            f"SELECT * EXCLUDE (_emitted_at, _revision) REPLACE (round(amount, 9) AS amount) FROM {t} ORDER BY ALL"
            if t == "gold.clicks"
            else f"SELECT * FROM {t} ORDER BY ALL",
        )
        for t in outputs
    ]
    expected = [[tuple(r[:-1]) for r in before[0]], *before[1:]]
    expected[0] = [(*r[:4], round(r[4], 9)) for r in expected[0]]
    assert after == expected
    left = query(ws, "SELECT count(*) FROM information_schema.tables WHERE table_name LIKE '%__replay%'")
    assert left == [(0,)]
