"""``millpond watch``'s library (:mod:`millpond.run.watch`): runs started by files landing, a
schedule and a stream's output; never two at once, nor beside another process's run; missed
ticks reported, with one catch-up run. Real runs of a small workspace whose stages log when
they start and end (tests/support/watch_workspace.py)."""

from __future__ import annotations

import subprocess
import sys
import threading
from datetime import datetime, timedelta

import duckdb
from croniter import croniter

from millpond.run.watch import Missed, Ran, Triggered, Waiting, Watching, now, state_file, watch_pipeline
from millpond.run.watch_triggers import WatchState
from millpond.warehouse.lease import Lease
from support.watch_workspace import land, logged_stage, run_log, wait_for, watch_workspace


def _watch(ws, react=None, limit: float = 90.0, events: list | None = None, **options) -> list:
    """The events of ``watch_pipeline`` on pipeline ``p`` (appended to ``events``), run here (the
    runner's thread); ``react(event, stop)`` sees each as it comes. ``limit`` seconds stop it
    whatever happens."""
    events = [] if events is None else events
    stop = threading.Event()
    guard = threading.Timer(limit, stop.set)
    guard.start()

    def on_event(event) -> None:
        events.append(event)
        if react is not None:
            react(event, stop)

    try:
        watch_pipeline(ws, "p", stop=stop, on_event=on_event, **options)
    finally:
        guard.cancel()
    return events


def _later(action, *args) -> None:
    threading.Thread(target=action, args=args, daemon=True).start()


def _of(events: list, kind: type) -> list:
    return [e for e in events if isinstance(e, kind)]


def _stop_after(seconds: float, stop: threading.Event) -> None:
    """Time for one more run to start, should one (wrongly) come."""
    timer = threading.Timer(seconds, stop.set)
    timer.daemon = True
    timer.start()


def test_a_burst_of_files_makes_one_run(tmp_path):
    ws = watch_workspace(tmp_path)

    def react(event, stop):
        if isinstance(event, Watching):
            _later(lambda: land(tmp_path, 20, within=0.5))
        elif isinstance(event, Ran):
            _stop_after(2.0, stop)

    events = _watch(ws, react, debounce=1.0)
    triggers = _of(events, Triggered)
    assert len(triggers) == 1 and len(triggers[0].files) == 20, events
    assert triggers[0].files[0] == "data/raw/events/e000.jsonl"
    assert [r.status for r in _of(events, Ran)] == ["success"]
    assert [what for _, what, _ in run_log(tmp_path)] == ["start", "end"]


def test_files_landing_during_a_run_make_exactly_one_follow_up_run(tmp_path):
    ws = watch_workspace(tmp_path, nap=2.0)

    def during_the_run():
        assert wait_for(lambda: run_log(tmp_path), 60)  # the stage has started
        land(tmp_path, 6, within=0.5, prefix="late")

    def react(event, stop):
        if isinstance(event, Watching):
            _later(lambda: land(tmp_path, 1))
        elif isinstance(event, Triggered) and len(_of(events, Triggered)) == 1:
            _later(during_the_run)
        elif isinstance(event, Ran) and len(_of(events, Ran)) == 2:
            _stop_after(2.0, stop)

    events: list = []
    _watch(ws, react, debounce=0.3, limit=120, events=events)
    triggers, runs = _of(events, Triggered), _of(events, Ran)
    assert [len(t.files) for t in triggers] == [1, 6], events
    assert [r.status for r in runs] == ["success", "success"]
    log = run_log(tmp_path)
    assert [what for _, what, _ in log] == ["start", "end", "start", "end"]
    assert log[2][2] >= log[1][2]  # the follow-up started after the first run ended


def test_a_schedule_runs_and_the_ticks_missed_during_a_long_run_are_reported(tmp_path):
    ws = watch_workspace(tmp_path, nap=2.5)
    events = _watch(ws, cron="* * * * * *", max_runs=2)  # every second
    assert isinstance(events[0], Watching) and events[0].next_tick is not None
    triggers, missed = _of(events, Triggered), _of(events, Missed)
    assert triggers[0].tick is not None and not triggers[0].catch_up and not triggers[0].files
    assert len(missed) == 1 and missed[0].ticks.count >= 2, events  # the run took 2.5 s and more
    assert missed[0].why == "while a run was in progress"
    assert missed[0].ticks.first > triggers[0].tick
    assert triggers[1].catch_up and events.index(missed[0]) < events.index(triggers[1])
    assert len(_of(events, Ran)) == 2
    assert [what for _, what, _ in run_log(tmp_path)] == ["start", "end"]  # the catch-up found nothing new


def test_ticks_missed_while_no_watcher_ran_are_counted_and_make_one_catch_up_run(tmp_path):
    ws = watch_workspace(tmp_path)
    last = now() - timedelta(hours=2)
    WatchState(state_file(ws, "p"), last_tick=last).save()
    every_quarter = "*/15 * * * *"
    events = _watch(ws, cron=every_quarter, max_runs=1)
    [missed] = _of(events, Missed)
    assert missed.ticks.count == 8 and missed.why == "while the watcher was not running"
    [trigger] = _of(events, Triggered)
    assert trigger.catch_up and trigger.tick is None
    assert len(_of(events, Ran)) == 1
    kept = WatchState.load(state_file(ws, "p")).last_tick  # the next watch starts from the latest tick
    assert kept == missed.ticks.last and kept <= now() < kept + timedelta(minutes=15)
    assert missed.ticks.first == croniter(every_quarter, last).get_next(datetime)


HOLD = """
import sys, time
from millpond.run.lock import RunLock
lock = RunLock(sys.argv[1], "run 20240101T000000-abcd of p")
lock.acquire()
print("held", flush=True)
sys.stdin.readline()
time.sleep(0.5)
open(sys.argv[2], "w").write(str(time.time()))
lock.release()
"""


def test_a_run_of_another_process_is_waited_for_never_overlapped(tmp_path):
    ws = watch_workspace(tmp_path)
    released = tmp_path / "released"
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD, str(ws.meta_dir), str(released)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "held"

        def react(event, stop):
            if isinstance(event, Watching):
                _later(lambda: land(tmp_path, 1))
            elif isinstance(event, Waiting):  # the other run ends half a second later
                holder.stdin.write("done\n")
                holder.stdin.flush()
            elif isinstance(event, Ran):
                stop.set()

        events = _watch(ws, react, debounce=0.2)
    finally:
        holder.wait(timeout=30)
    [waiting] = _of(events, Waiting)
    assert "waiting for another run to finish (run 20240101T000000-abcd of p" in waiting.text
    assert [r.status for r in _of(events, Ran)] == ["success"]
    [(_, _, started), _] = run_log(tmp_path)
    assert started >= float(released.read_text())


def _progress(ws, emitted: int, batches: int) -> None:
    """The stream ``clicks``'s row of ``_millpond.stream_progress``, written as a stream would:
    under the warehouse lease."""
    with Lease(ws.warehouse_file(), "the stream clicks"):
        con = duckdb.connect(str(ws.warehouse_file()))
        try:
            con.execute("CREATE SCHEMA IF NOT EXISTS _millpond")
            con.execute(
                "CREATE TABLE IF NOT EXISTS _millpond.stream_progress (stream VARCHAR, batches BIGINT, "
                "events BIGINT, late BIGINT, emitted BIGINT, watermark TIMESTAMP, committed_at TIMESTAMP)"
            )
            con.execute("DELETE FROM _millpond.stream_progress WHERE stream = 'clicks'")
            con.execute(
                "INSERT INTO _millpond.stream_progress VALUES ('clicks', ?, ?, 0, ?, now(), now())",
                [batches, 10 * batches, emitted],
            )
        finally:
            con.close()


def test_a_stream_s_new_output_runs_only_the_stage_declared_on_it(tmp_path):
    ws = watch_workspace(tmp_path, more=[logged_stage(tmp_path, "react", on_stream="clicks")])

    def seen(counts) -> bool:
        return WatchState.load(state_file(ws, "p")).streams == {"clicks": counts}

    def first_output():
        assert wait_for(lambda: seen((0, 0)), 30)  # looked at: no progress table yet, nothing emitted
        _progress(ws, emitted=1, batches=1)

    def more_output():
        _progress(ws, emitted=1, batches=2)  # a batch that closed no window: nothing new
        assert wait_for(lambda: seen((1, 2)), 30)
        _progress(ws, emitted=3, batches=3)

    def react(event, stop):
        if isinstance(event, Watching):
            _later(first_output)
        elif isinstance(event, Ran) and len(_of(events, Ran)) == 1:
            _later(more_output)
        elif isinstance(event, Ran):
            _stop_after(1.5, stop)

    events: list = []
    _watch(ws, react, limit=120, events=events)
    triggers = _of(events, Triggered)
    assert [t.streams for t in triggers] == [(("clicks", "1 new window"),), (("clicks", "2 new windows"),)], events
    assert all(t.stages == ("react",) and not t.files for t in triggers)
    assert [r.stages for r in _of(events, Ran)] == [{"react": "success"}, {"react": "success"}]
    assert [(stage, what) for stage, what, _ in run_log(tmp_path)] == [("react", "start"), ("react", "end")] * 2
    assert WatchState.load(state_file(ws, "p")).streams == {"clicks": (3, 3)}
