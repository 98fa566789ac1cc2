"""The Lambda serving view: the batch layer's complete windows up to its boundary, the stream's
after it; every window from exactly one layer, every event counted once, at the boundary too.
The batch layer is rebuilt with the stream's own logic over history (``streams.batch.windowed``),
and that twin equals the stream's output."""

from __future__ import annotations

from datetime import datetime, timedelta

import ibis
import pytest

from millpond.pipeline.streams import declared_stream
from millpond.run.streaming import run_stream
from millpond.streams.batch import windowed
from support.streams import BASE, SECOND, append_events, iso, query, stream_spec, stream_workspace

MINUTE = 60 * SECOND
START = BASE - BASE % MINUTE  # a whole minute


def events_over(minutes: int) -> list:
    """An event a second for each key, in order, and one more exactly at each whole minute."""
    out = []
    for s in range(minutes * 60):
        out += [("a", START + s * SECOND, 1.0), ("b", START + s * SECOND + SECOND // 2, 2.0)]
    return out


def build_history(ws, events: list, cut: datetime, window: str = "tumbling") -> None:
    spec, _ = declared_stream(ws, "clicks")
    con = ibis.duckdb.connect(str(ws.warehouse_file()))
    con.raw_sql("CREATE SCHEMA IF NOT EXISTS gold")
    try:
        table = ibis.memtable(
            {"k": [e[0] for e in events], "ts": [iso(e[1]) for e in events], "amount": [e[2] for e in events]}
        )
        con.create_table("clicks_history", windowed(table, spec, complete_through=cut), database="gold", overwrite=True)
    finally:
        con.disconnect()


@pytest.mark.parametrize("window", ["tumbling", "hopping", "session"])
def test_the_serving_view_takes_each_window_from_one_layer_and_counts_each_event_once(tmp_path, window):
    serving = {"view": "gold.clicks_serving", "batch": "gold.clicks_history"}
    ws = stream_workspace(tmp_path, {"clicks": stream_spec(window, serving=serving, max_batch=500)})
    events = events_over(20)
    if window == "session":  # sessions need silences: one key pauses 90 s around the boundary
        events = [e for e in events if not (e[0] == "a" and 540 * SECOND <= e[1] - START < 630 * SECOND)]
    append_events(ws.root / "data" / "stream", "e.jsonl", events)
    cut = datetime(1970, 1, 1) + timedelta(microseconds=START + 10 * MINUTE)  # an event of b lands at cut + 0.5 s
    build_history(ws, events, cut, window)
    run_stream(ws, "clicks")  # the speed layer: it has the whole history too, and the view must not double it

    boundary = query(ws, "SELECT max(window_end) FROM gold.clicks_history")[0][0]
    assert boundary <= cut
    rows = query(ws, "SELECT k, window_start, window_end, events, amount, layer FROM gold.clicks_serving")
    windows = [(k, s, e) for k, s, e, *_ in rows]
    assert len(windows) == len(set(windows))  # each window once
    assert all((layer == "batch") == (e <= boundary) for _, _, e, _, _, layer in rows)
    assert {layer for *_, layer in rows} == {"batch", "speed"}
    speed_only = query(ws, "SELECT k, window_start, window_end, events FROM gold.clicks_live ORDER BY ALL")
    batch_only = query(ws, "SELECT k, window_start, window_end, events FROM gold.clicks_history ORDER BY ALL")
    by_layer = {"batch": batch_only, "speed": [r for r in speed_only if r[2] > boundary]}
    for layer, expected in by_layer.items():
        assert sorted(r[:4] for r in rows if r[5] == layer) == expected

    if window == "tumbling":  # each event once: the view's windows add up to every event, to the one
        assert sum(r[3] for r in rows) == len(events)
        assert sum(r[4] for r in rows) == pytest.approx(sum(e[2] for e in events))
        across = [r for r in rows if r[1] == cut - timedelta(minutes=1) or r[1] == cut]
        assert sorted((r[1] == cut, r[5]) for r in across) == [(False, "batch")] * 2 + [(True, "speed")] * 2


@pytest.mark.parametrize("window", ["tumbling", "hopping", "session"])
def test_the_batch_twin_equals_what_the_stream_commits(tmp_path, window):
    """Same logic, two ways: the stream's closed windows equal ``windowed`` over the same events
    (in order, so none is late) where the batch twin's windows are complete."""
    ws = stream_workspace(tmp_path, {"clicks": stream_spec(window, max_batch=333)})
    events = events_over(12)
    if window == "session":
        events = [e for e in events if (e[1] - START) // MINUTE % 3 != 1]  # a minute's silence every three
    append_events(ws.root / "data" / "stream", "e.jsonl", events)
    run_stream(ws, "clicks")
    build_history(ws, events, datetime(2100, 1, 1))
    closed = query(ws, "SELECT k, window_start, window_end, events, amount FROM gold.clicks ORDER BY ALL")
    twin = query(
        ws,
        "SELECT h.k, h.window_start, h.window_end, h.events, h.amount FROM gold.clicks_history h "
        "JOIN gold.clicks USING (k, window_start) ORDER BY ALL",
    )
    assert closed == twin and len(closed) > 5
