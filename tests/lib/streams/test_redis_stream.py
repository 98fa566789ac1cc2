"""The ``redis`` log: Redis Streams (Debian's redis-server, started by the tests), each key a
partition; windows equal the oracle's, offsets are entry ids, a bad entry is kept with its id,
and the URL's password never shows."""

from __future__ import annotations

import json

import pytest
import redis

from millpond.cli import main
from millpond.run.streaming import run_stream
from support.stream_oracle import fixed_windows
from support.streams import SECOND, disordered_events, iso, query, rounded, stream_spec, stream_workspace, windows_in

COLUMNS = {"k": "string", "ts": "timestamp", "amount": "float64"}


def redis_spec(url: str, keys: list[str], **overrides) -> dict:
    return stream_spec(
        "tumbling", source={"kind": "redis", "url": url, "streams": keys, "columns": COLUMNS}, **overrides
    )


@pytest.fixture
def client(redis_server):
    found = redis.Redis.from_url(redis_server.url)
    found.flushdb()
    yield found
    found.close()


def add(client, key: str, events) -> list[str]:
    pipe = client.pipeline()
    for k, t, amount in events:
        pipe.xadd(key, {"k": k, "ts": iso(t), "amount": str(amount)})
    return [i.decode() for i in pipe.execute()]


def test_a_redis_stream_is_windowed_as_the_oracle_says_and_resumes_from_its_entry_id(tmp_path, redis_server, client):
    events = disordered_events(3, 3000)
    ws = stream_workspace(tmp_path, {"clicks": redis_spec(redis_server.url, ["events"], max_batch=250)})
    add(client, "events", events[:1700])
    run_stream(ws, "clicks")
    ids = add(client, "events", events[1700:])
    run_stream(ws, "clicks")
    expected = fixed_windows(events, size=60 * SECOND, slide=60 * SECOND, delay=5 * SECOND, lateness=10 * SECOND)
    assert windows_in(ws, "gold.clicks") == rounded(expected.closed)
    assert windows_in(ws, "_millpond.stream_clicks_state") == rounded(expected.open)
    assert query(ws, "SELECT count(*) FROM gold.clicks_late") == [(len(expected.late),)]
    offsets = query(ws, "SELECT source_partition, source_offset FROM _millpond.stream_offsets")
    assert offsets == [("events", ids[-1])]


def test_each_key_is_a_partition_with_its_own_offset(tmp_path, redis_server, client):
    in_order = [(k, t, a) for k, t, a in sorted(disordered_events(4, 1200), key=lambda e: e[1])]
    ws = stream_workspace(
        tmp_path, {"clicks": redis_spec(redis_server.url, ["a", "b"], max_batch=100, watermark={"delay": "10m"})}
    )
    first = add(client, "a", in_order[::2])
    second = add(client, "b", in_order[1::2])
    run_stream(ws, "clicks")
    offsets = dict(query(ws, "SELECT source_partition, source_offset FROM _millpond.stream_offsets"))
    assert offsets == {"a": first[-1], "b": second[-1]}
    total = query(ws, "SELECT sum(events) FROM gold.clicks_live")
    assert total == [(len(in_order),)]


def test_an_entry_that_does_not_convert_is_kept_with_its_id_and_reason(tmp_path, redis_server, client):
    ws = stream_workspace(tmp_path, {"clicks": redis_spec(redis_server.url, ["events"])})
    good = add(client, "events", disordered_events(5, 10))
    bad = client.xadd("events", {"k": "a", "ts": "2024-01-01T00:00:00", "amount": "lots"}).decode()
    no_time = client.xadd("events", {"k": "a", "amount": "1"}).decode()
    run_stream(ws, "clicks")
    late = query(ws, "SELECT source_offset, reason, detail FROM gold.clicks_late ORDER BY source_offset")
    assert [(o, r) for o, r, _ in late] == [(bad, "malformed"), (no_time, "no_event_time")]
    assert "amount" in late[0][2] and "lots" in late[0][2]
    assert query(ws, "SELECT sum(events) FROM gold.clicks_live") == [(len(good),)]


def test_an_unreachable_redis_is_one_line_without_its_password(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("EVENTS_URL", "redis://:hunter2-secret@127.0.0.1:1/0")
    spec = redis_spec("", ["events"])
    spec["source"].pop("url")
    spec["secrets"] = {"url": "secret:events_url"}
    stream_workspace(tmp_path, {"clicks": spec}, {"name": "t", "secrets": {"events_url": {"env": "EVENTS_URL"}}})
    code = main(["stream", "run", "clicks", "--once", "-C", str(tmp_path)])
    out, err = capsys.readouterr()
    assert code == 2 and len(err.strip().splitlines()) == 1, err
    assert "hunter2" not in out + err and "Traceback" not in out + err
    assert "redis" in err
    assert json.dumps(spec)  # the declaration names only the reference
