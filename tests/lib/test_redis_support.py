"""The throwaway Redis server the stream tests use: a real ``redis-server`` whose streams work,
private to the session, gone when stopped."""

from __future__ import annotations

import socket

import redis

from support.redis_server import ThrowawayRedis


def test_the_session_server_keeps_a_stream_for_a_consumer_group(redis_server):
    client = redis.Redis.from_url(redis_server.url)
    ids = [client.xadd("test:clicks", {"n": str(n)}) for n in range(3)]
    client.xgroup_create("test:clicks", "readers", id="0")
    [(_, delivered)] = client.xreadgroup("readers", "one", {"test:clicks": ">"}, count=2)
    assert [entry_id for entry_id, _ in delivered] == ids[:2]  # in order, only as many as asked
    assert client.xack("test:clicks", "readers", *ids[:2]) == 2
    [(_, rest)] = client.xreadgroup("readers", "one", {"test:clicks": ">"})
    assert [fields for _, fields in rest] == [{b"n": b"2"}]
    client.delete("test:clicks")


def test_a_stopped_server_leaves_no_port_and_no_directory():
    server = ThrowawayRedis().start()
    port, directory = server.port, server.directory
    assert redis.Redis.from_url(server.url).ping()
    server.stop()
    assert not directory.exists()
    with socket.socket() as sock:
        sock.settimeout(1)
        assert sock.connect_ex(("127.0.0.1", port)) != 0
