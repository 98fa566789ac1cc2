"""Windows on event time: what a stream commits equals an event-at-a-time oracle over its log,
whatever the micro-batches; ties at the watermark are kept; late events are kept with their
reason or correct their window; the state holds only open windows."""

from __future__ import annotations

import json
import random
from collections import Counter

import pytest
import yaml

from millpond.run.streaming import run_stream
from support.stream_oracle import fixed_windows, session_windows
from support.streams import (
    BASE,
    SECOND,
    SIZES,
    append_events,
    disordered_events,
    iso,
    query,
    rounded,
    stream_spec,
    stream_workspace,
    windows_in,
)

DELAY, LATENESS = 5 * SECOND, 10 * SECOND


def oracle(window: str, events: list, late: str = "keep"):
    if window == "session":
        return session_windows(events, gap=30 * SECOND, delay=DELAY, lateness=LATENESS)
    size, slide = SIZES[window]
    return fixed_windows(events, size=size, slide=slide, delay=DELAY, lateness=LATENESS, correct=late == "correct")


def set_batch(ws, spec: dict, size: int) -> None:
    path = ws.root / "pipelines" / "live.yml"
    pipeline = yaml.safe_load(path.read_text())
    pipeline["streams"]["clicks"] = {**spec, "max_batch": size}
    path.write_text(yaml.safe_dump(pipeline, sort_keys=False))


def late_in(ws) -> Counter:
    rows = query(ws, "SELECT event, epoch_us(window_start), reason FROM gold.clicks_late")
    return Counter((json.loads(e)["k"], json.loads(e)["ts"], json.loads(e)["amount"], s, r) for e, s, r in rows)


@pytest.mark.parametrize(
    ("window", "late", "seed"),
    [
        ("tumbling", "keep", 1),
        ("tumbling", "correct", 2),
        ("hopping", "keep", 3),
        ("hopping", "correct", 4),
        ("session", "keep", 5),
        ("session", "keep", 6),
    ],
)
def test_the_windows_equal_an_event_at_a_time_oracle_whatever_the_batches(tmp_path, window, late, seed):
    rng = random.Random(seed)
    events = disordered_events(seed, 2400, pauses=0.01 if window == "session" else 0.0)
    spec = stream_spec(window, late=late)
    ws = stream_workspace(tmp_path, {"clicks": spec})
    folder = ws.root / "data" / "stream"
    done = 0
    while done < len(events):  # events land in chunks; the processor runs between them, in batches of any size
        chunk = rng.choice([1, 13, 150, 400])
        append_events(folder, f"e{done // 800:03d}.jsonl", events[done : min(done + chunk, (done // 800 + 1) * 800)])
        done = min(done + chunk, (done // 800 + 1) * 800)
        if rng.random() < 0.5:
            set_batch(ws, spec, rng.choice([1, 7, 64, 500, 5000]))
            run_stream(ws, "clicks", max_batches=rng.choice([1, 2, 50]))
    set_batch(ws, spec, 300)
    run_stream(ws, "clicks")

    expected = oracle(window, events, late)
    assert windows_in(ws, "gold.clicks") == rounded(expected.closed)
    assert windows_in(ws, "_millpond.stream_clicks_state") == rounded(expected.open)
    late_expected = Counter((events[i][0], iso(events[i][1]), events[i][2], s, "late") for i, s in expected.late)
    assert late_in(ws) == late_expected
    assert expected.late, "the log must have late events for this test to mean anything"
    total = query(ws, "SELECT events, late FROM _millpond.stream_progress WHERE stream = 'clicks'")
    assert total == [(len(events), len(expected.late))]


def test_with_corrections_the_windows_equal_a_plain_group_by_of_every_event(tmp_path):
    """``late: correct``: no event is lost to lateness, so the closed and open windows together
    are DuckDB's own GROUP BY of the files (a second engine, none of the stream's code)."""
    events = disordered_events(11, 3000)
    ws = stream_workspace(tmp_path, {"clicks": stream_spec("tumbling", late="correct", max_batch=97)})
    append_events(ws.root / "data" / "stream", "e.jsonl", events)
    run_stream(ws, "clicks")
    live = query(ws, "SELECT k, window_start, events, round(amount, 6) FROM gold.clicks_live")
    by_duckdb = query(
        ws,
        f"SELECT k, time_bucket(INTERVAL 1 minute, ts::TIMESTAMP), count(*), round(sum(amount), 6) "
        f"FROM read_json('{ws.root}/data/stream/e.jsonl', columns = {{k: 'VARCHAR', ts: 'VARCHAR', amount: 'DOUBLE'}}) "
        "GROUP BY ALL",
    )
    assert sorted(live) == sorted(by_duckdb)
    corrected = query(ws, "SELECT count(*), max(_revision) FROM gold.clicks WHERE _revision > 0")
    assert corrected[0][0] > 0 and corrected[0][1] >= 1
    assert query(ws, "SELECT count(*) FROM gold.clicks_late WHERE NOT corrected") == [(0,)]


def test_an_event_exactly_at_the_watermark_is_kept_and_one_before_it_is_late(tmp_path):
    """No delay, no lateness: after an event at 60 s the watermark is 60 s, so [0 s, 60 s) has
    closed; another event at 60 s counts in [60 s, 120 s) (apache/spark#56043 lost it), one at
    59.999999 s is late, and so is one at 30 s. Hand-computed."""
    spec = stream_spec("tumbling", watermark={"delay": 0, "allowed_lateness": 0})
    ws = stream_workspace(tmp_path, {"clicks": spec})
    m = 60 * SECOND
    append_events(
        ws.root / "data" / "stream",
        "e.jsonl",
        [
            ("a", BASE - BASE % m, 1.0),
            ("a", BASE - BASE % m + m, 2.0),
            ("a", BASE - BASE % m + m, 4.0),
            ("a", BASE - BASE % m + m - 1, 8.0),
            ("a", BASE - BASE % m + m // 2, 16.0),
        ],
    )
    run_stream(ws, "clicks")
    start = BASE - BASE % m
    assert windows_in(ws, "gold.clicks") == {("a", start, start + m): [1, 1.0]}
    assert windows_in(ws, "_millpond.stream_clicks_state") == {("a", start + m, start + 2 * m): [2, 6.0]}
    assert sorted(
        r[0]
        for r in query(
            ws, "SELECT amount FROM gold.clicks_late, (SELECT json_extract(event, '$.amount')::DOUBLE AS amount) "
        )
    ) == [8.0, 16.0]


def test_the_state_holds_only_open_windows_and_shrinks_as_they_close(tmp_path):
    ws = stream_workspace(tmp_path, {"clicks": stream_spec("hopping")})
    folder = ws.root / "data" / "stream"
    start = BASE - BASE % (60 * SECOND)
    append_events(folder, "a.jsonl", [(f"k{i}", start + i * SECOND, 1.0) for i in range(20)])
    run_stream(ws, "clicks")
    state = "SELECT count(*) FROM _millpond.stream_clicks_state"
    assert query(ws, state) == [(20 * 5,)]  # every key in the 5 hopping windows over its minute, all open
    append_events(folder, "b.jsonl", [("z", start + 10 * 60 * SECOND, 1.0)])  # ten minutes on: all of them close
    run_stream(ws, "clicks")
    assert query(ws, state) == [(5,)]  # only z's five windows
    assert query(ws, "SELECT count(*), sum(events) FROM gold.clicks") == [(100, 100)]
