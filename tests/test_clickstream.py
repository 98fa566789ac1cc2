"""End to end: the shop's clickstream as streams (``pipelines/clickstream.yml``) over the sample
data's event files, then ``millpond run clickstream``: the batch layer's history, the serving view
and the live notebook; the quality report's section on streams.

Expected values come from elsewhere: DuckDB's own ``GROUP BY`` over the raw files, the
event-at-a-time oracle over the same log (``support.stream_oracle``) and the generator's manifest.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest

from millpond.cli import main
from millpond.run.runner import RunOptions, run_pipeline
from shop.manifest import read_manifest
from support.reference import build_reference_workspace
from support.stream_oracle import session_windows
from support.workspaces import query

pytestmark = pytest.mark.slow

KNOWN = ("page_view", "add_to_cart", "checkout", "purchase")
MINUTE = 60_000_000


@pytest.fixture(scope="module")
def clickstream(tmp_path_factory):
    ws = build_reference_workspace(tmp_path_factory.mktemp("clickstream") / "workspace", run=False)
    for stream in ("clickstream_funnel", "clickstream_sessions"):
        assert main(["stream", "run", stream, "--once", "-q", "-C", str(ws.root)]) == 0
    result = run_pipeline(ws, "clickstream", RunOptions(jobs=1))
    assert result.exit_code == 0, result.stages
    assert main(["stream", "run", "clickstream_funnel", "--once", "-q", "-C", str(ws.root)]) == 0  # the serving view
    return ws


def raw_events(ws) -> list[dict]:
    """The log as the stream reads it: the files in name order, their lines in order."""
    rows = []
    for path in sorted(Path(ws.root, "data/raw/events").glob("*.jsonl")):
        rows += [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    return rows


def test_the_funnel_with_corrections_equals_duckdbs_group_by_of_the_raw_files(clickstream):
    live = query(
        clickstream, "SELECT window_start, events, views, carts, checkouts, purchases FROM gold.clickstream_funnel_live"
    )
    raw = query(
        clickstream,
        f"""SELECT time_bucket(INTERVAL 1 hour, event_ts::TIMESTAMP) AS hour, count(*),
                   count(*) FILTER (kind = 'page_view'), count(*) FILTER (kind = 'add_to_cart'),
                   count(*) FILTER (kind = 'checkout'), count(*) FILTER (kind = 'purchase')
            FROM (SELECT lower(trim(event_type)) AS kind, event_ts
                  FROM read_json('{clickstream.root}/data/raw/events/*.jsonl', columns = {{event_type: 'VARCHAR', event_ts: 'VARCHAR'}}))
            WHERE kind IN {KNOWN} AND event_ts IS NOT NULL GROUP BY hour""",
    )
    assert sorted(live) == sorted(raw)
    late = query(
        clickstream, "SELECT reason, corrected, count(*) FROM gold.clickstream_funnel_late GROUP BY ALL ORDER BY ALL"
    )
    manifest = read_manifest(clickstream.path("data/raw"))
    assert ("no_event_time", False, manifest.dirt["events"]["missing_event_ts"]) in late
    corrected = [n for reason, fixed, n in late if reason == "late" and fixed]
    assert corrected and corrected[0] > 0  # the events that arrived days late corrected their hours


def test_the_sessions_equal_the_oracles_over_the_same_log(clickstream):
    events = []
    for row in raw_events(clickstream):
        kind = (row.get("event_type") or "").strip().lower()
        if kind in KNOWN and row.get("event_ts"):
            moment = dt.datetime.fromisoformat(row["event_ts"])
            micros = (moment - dt.datetime(1970, 1, 1)) // dt.timedelta(microseconds=1)
            events.append((row["session_id"], micros, 1.0 if kind == "purchase" else 0.0))
    expected = session_windows(events, gap=30 * MINUTE, delay=10_000_000, lateness=10 * MINUTE)
    got = query(
        clickstream,
        "SELECT session_id, epoch_us(window_start), epoch_us(window_end), events, purchases, final "
        "FROM gold.clickstream_sessions_live",
    )
    assert {(k, s, e): [n, float(p)] for k, s, e, n, p, final in got if final} == expected.closed
    assert {(k, s, e): [n, float(p)] for k, s, e, n, p, final in got if not final} == expected.open
    assert query(clickstream, "SELECT count(*) FROM gold.clickstream_sessions_late WHERE reason = 'late'") == [
        (len(expected.late),)
    ]


def test_the_serving_view_takes_history_up_to_its_boundary_and_the_stream_after(clickstream):
    boundary = dt.datetime(2024, 1, 16)
    assert query(clickstream, "SELECT max(window_end) FROM gold.clickstream_funnel_history") == [(boundary,)]
    layers = query(
        clickstream,
        "SELECT layer, min(window_end), max(window_end), count(*), count(DISTINCT window_start) "
        "FROM gold.clickstream_funnel_serving GROUP BY layer ORDER BY layer",
    )
    (batch, _, batch_last, batch_rows, batch_hours), (speed, speed_first, _, speed_rows, speed_hours) = layers
    assert (batch, speed) == ("batch", "speed")
    assert batch_last == boundary and speed_first == boundary + dt.timedelta(hours=1)
    assert batch_rows == batch_hours and speed_rows == speed_hours  # an hour once
    served = query(clickstream, "SELECT sum(events), sum(purchases) FROM gold.clickstream_funnel_serving")
    live = query(clickstream, "SELECT sum(events), sum(purchases) FROM gold.clickstream_funnel_live")
    assert served == live  # the batch layer's hours hold what the stream's do: nothing lost, nothing twice


def test_the_live_notebook_ran_and_the_quality_report_has_a_section_on_streams(clickstream, tmp_path):
    executed = list(Path(clickstream.root, "data/runs").glob("*/show_live_clickstream*.ipynb"))
    assert executed, "the live notebook's executed copy"
    assert main(["report", "--output", str(tmp_path / "q.html"), "-C", str(clickstream.root)]) == 0
    html = (tmp_path / "q.html").read_text()
    assert "Streams" in html and "clickstream_funnel" in html and "gold.clickstream_sessions" in html
    assert "Late events by reason" in html


def test_a_replay_of_the_funnel_gives_the_same_hours(clickstream):
    sql = "SELECT * EXCLUDE (_emitted_at, _revision) FROM gold.clickstream_funnel ORDER BY ALL"
    before = query(clickstream, sql)
    assert main(["stream", "replay", "clickstream_funnel", "-C", str(clickstream.root)]) == 0
    assert query(clickstream, sql) == before
