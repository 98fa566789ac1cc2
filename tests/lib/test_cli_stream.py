"""``millpond stream run | replay | status``: a line per micro-batch, SIGTERM commits and stops,
a replay equals the live run row for row, hostile input answers in one line."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest

from millpond.cli import main
from support.stream_oracle import fixed_windows
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

# what a replay must give again, row for row: sums of doubles to 9 decimals (the batches add them
# in another order), and without _emitted_at or _revision (when and in how many corrections a
# window reached its value depends on the batches; the value does not)
ALL_OUTPUTS = (
    "SELECT * EXCLUDE (_emitted_at, _revision) REPLACE (round(amount, 9) AS amount) FROM gold.clicks ORDER BY ALL",
    "SELECT * FROM gold.clicks_late ORDER BY ALL",
    "SELECT * REPLACE (round(amount, 9) AS amount) FROM _millpond.stream_clicks_state ORDER BY ALL",
    "SELECT * FROM _millpond.stream_offsets ORDER BY ALL",
)


def cli(tmp_path, capsys, *args: str) -> tuple[int, str, str]:
    code = main(["stream", *args, "-C", str(tmp_path)])
    out, err = capsys.readouterr()
    return code, out, err


def test_run_once_prints_a_line_per_batch_and_status_shows_the_stream(tmp_path, capsys):
    ws = stream_workspace(tmp_path, {"clicks": stream_spec(max_batch=500)})
    append_events(ws.root / "data" / "stream", "e.jsonl", disordered_events(1, 1200))
    code, out, _ = cli(tmp_path, capsys, "run", "clicks", "--once")
    lines = out.splitlines()
    assert code == 0 and len(lines) == 4, out  # 500 + 500 + 200, then where it stopped
    assert lines[0].startswith("clicks: 500 events, ") and "late" in lines[0]
    assert lines[-1].startswith("clicks: caught up, committed; 1,200 events in 3 batches")
    code, out, _ = cli(tmp_path, capsys, "status")
    assert code == 0 and out.startswith("clicks -> gold.clicks: idle; 3 batches, 1,200 events"), out
    code, out, _ = cli(tmp_path, capsys, "status", "--json")
    (row,) = json.loads(out)
    assert (row["stream"], row["events"], row["batches"], row["running"]) == ("clicks", 1200, 3, None)
    assert row["windows"] == len(windows_in(ws, "gold.clicks")) and row["open_windows"] > 0


def test_sigterm_commits_the_batch_in_hand_and_the_next_run_goes_on_from_there(tmp_path):
    events = disordered_events(2, 6000)
    ws = stream_workspace(tmp_path, {"clicks": stream_spec(max_batch=40)})
    append_events(ws.root / "data" / "stream", "e.jsonl", events)
    command = [sys.executable, "-m", "millpond.cli", "stream", "run", "clicks", "-C", str(tmp_path)]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    while not process.stdout.readline().startswith("clicks: 40 events"):  # working
        assert process.poll() is None
    process.send_signal(signal.SIGTERM)
    out, err = process.communicate(timeout=60)
    assert process.returncode == 0 and "Traceback" not in err, err
    assert "clicks: stopped, committed;" in out.splitlines()[-1]
    done = query(ws, "SELECT events FROM _millpond.stream_progress")[0][0]
    assert 0 < done < len(events)  # stopped part way, at a committed batch
    assert main(["stream", "run", "clicks", "--once", "-q", "-C", str(tmp_path)]) == 0
    expected = fixed_windows(events, size=60 * SECOND, slide=60 * SECOND, delay=5 * SECOND, lateness=10 * SECOND)
    assert windows_in(ws, "gold.clicks") == rounded(expected.closed)
    assert query(ws, "SELECT events FROM _millpond.stream_progress") == [(len(events),)]


def test_a_replay_equals_the_live_run_row_for_row(tmp_path, capsys):
    ws = stream_workspace(tmp_path, {"clicks": stream_spec("hopping", late="correct", max_batch=700)})
    folder = ws.root / "data" / "stream"
    events = disordered_events(3, 4000)
    for n, start in enumerate(range(0, len(events), 1000)):  # live: the log arrives in four goes
        append_events(folder, f"e{n}.jsonl", events[start : start + 1000])
        assert main(["stream", "run", "clicks", "--once", "-q", "-C", str(tmp_path)]) == 0
    live = [query(ws, sql) for sql in ALL_OUTPUTS]
    code, out, _ = cli(tmp_path, capsys, "replay", "clicks")
    assert code == 0 and "replayed 4,000 events" in out, out
    assert [query(ws, sql) for sql in ALL_OUTPUTS] == live
    leftovers = query(ws, "SELECT count(*) FROM information_schema.tables WHERE table_name LIKE '%__replay%'")
    assert leftovers == [(0,)]
    assert query(ws, "SELECT count(*) FROM _millpond.stream_progress WHERE stream <> 'clicks'") == [(0,)]

    # --from: only the windows from then on are rebuilt; earlier ones stay as they are
    cut = query(ws, "SELECT min(window_start) + INTERVAL 20 minute FROM gold.clicks")[0][0]
    query_write(ws, f"UPDATE gold.clicks SET events = -1 WHERE window_start < TIMESTAMP '{cut}'")
    query_write(ws, "DELETE FROM gold.clicks WHERE window_start >= TIMESTAMP '" + str(cut) + "'")
    code, out, _ = cli(tmp_path, capsys, "replay", "clicks", "--from", cut.isoformat())
    assert code == 0, out
    after = query(ws, f"SELECT count(*) FROM gold.clicks WHERE window_start >= TIMESTAMP '{cut}'")
    assert after == query_live_count(live[0], cut)
    assert query(ws, f"SELECT DISTINCT events FROM gold.clicks WHERE window_start < TIMESTAMP '{cut}'") == [(-1,)]


def query_write(ws, sql: str) -> None:
    import duckdb

    con = duckdb.connect(str(ws.warehouse_file()))
    try:
        con.execute(sql)
    finally:
        con.close()


def query_live_count(rows: list[tuple], cut) -> list[tuple]:
    return [(sum(1 for r in rows if r[1] >= cut),)]


@pytest.mark.parametrize(
    ("args", "spec", "expected"),
    [
        (["run", "nope"], {}, "no stream 'nope' declared under streams: in pipelines/ (declared: clicks)"),
        (["dance", "clicks"], {}, "stream dance: expected one of run, replay, status"),
        (["run"], {}, "stream run: name the stream"),
        (
            ["run", "clicks"],
            {"window": {"type": "hopping", "size": "5m", "slide": "2m"}},
            "pipelines/live.yml: streams: clicks: window",
        ),
        (["run", "clicks"], {"aggregates": {"n": "median(amount)"}}, "is not an aggregate"),
        (["run", "clicks"], {"window": {"type": "session", "gap": "1m"}, "late": "correct"}, "late: correct needs"),
        (["run", "clicks"], {"transform": "nowhere:thing"}, "transform nowhere:thing: cannot import nowhere"),
        (
            ["run", "clicks"],
            {"time": "nope"},
            "stream clicks: time: the events have no column nope (they have k, ts, amount)",
        ),
        (["replay", "clicks", "--from", "yesterday"], {}, "--from 'yesterday' is not a time"),
    ],
    ids=["unknown", "action", "no-name", "hop", "aggregate", "correct-session", "transform", "time", "from"],
)
def test_hostile_input_answers_in_one_line(tmp_path, capsys, args, spec, expected):
    ws = stream_workspace(tmp_path, {"clicks": {**stream_spec(), **spec}})
    append_events(ws.root / "data" / "stream", "e.jsonl", disordered_events(1, 20))
    code, out, err = cli(tmp_path, capsys, *args, "--once") if args[0] == "run" else cli(tmp_path, capsys, *args)
    assert code == 2 and len(err.strip().splitlines()) == 1 and expected in err, err
    assert "Traceback" not in out + err


def test_hostile_files_become_rows_with_reasons_not_crashes(tmp_path, capsys):
    """Malformed JSON, a field of the wrong type, binary garbage, a JSON array, a 5 MB line and a
    half-written last line: the good events count, each bad line is kept with its file, byte
    offset and reason, and the half line waits for its newline."""
    ws = stream_workspace(tmp_path, {"clicks": stream_spec()})
    folder = ws.root / "data" / "stream"
    append_events(folder, "a.jsonl", disordered_events(1, 5))
    with open(folder / "a.jsonl", "ab") as handle:
        handle.write(b'{"k": "x", "ts": \n')
        handle.write(b'{"k": "x", "ts": "2024-01-01T00:00:00", "amount": "much"}\n')
        handle.write(os.urandom(3000).replace(b"\n", b" ") + b"\n")
        handle.write(b"[1, 2, 3]\n")
        handle.write(b'{"k": "' + b"y" * 5_000_000 + b'", "ts": "2024-01-01T00:00:00", "amount": 1}\n')
        handle.write(b'{"k": "half", "ts": "2024-01-01')
    started = time.monotonic()
    code, out, err = cli(tmp_path, capsys, "run", "clicks", "--once")
    assert code == 0 and time.monotonic() - started < 60, err
    reasons = query(ws, "SELECT reason, source_partition, detail FROM gold.clicks_late ORDER BY source_offset::BIGINT")
    assert [r[0] for r in reasons] == ["malformed"] * 4
    assert all(r[1] == "data/stream/a.jsonl" and r[2].startswith("line at byte ") for r in reasons)
    assert query(ws, "SELECT sum(events) FROM gold.clicks_live") == [(6,)]  # 5 + the 5 MB line's event
    with open(folder / "a.jsonl", "ab") as handle:
        handle.write(b'", "amount": 2}\n')
    assert main(["stream", "run", "clicks", "--once", "-q", "-C", str(tmp_path)]) == 0
    assert query(ws, "SELECT sum(events) FROM gold.clicks_live") == [(7,)]
