"""A stream over a PostgreSQL table's changes (the ``postgres_cdc`` log), against the session's
throwaway server: windows equal the source database's own GROUP BY, the slot moves only after
the warehouse commit, and a crash in between counts nothing twice."""

from __future__ import annotations

import pytest

from millpond.errors import MillpondError
from millpond.run.streaming import run_stream
from millpond.streams.cdc_log import CdcLog
from support.cdc import PASSWORD, execute, slot, source_database, source_rows
from support.streams import query, stream_workspace

pytestmark = pytest.mark.postgres


@pytest.fixture(autouse=True)
def _password(monkeypatch):
    monkeypatch.setenv("CRM_PASSWORD", PASSWORD)


def cdc_stream_workspace(tmp_path, url, slot_name: str):
    execute(url, "CREATE TABLE t (id serial PRIMARY KEY, k text, amount numeric(10, 2), ts timestamp, note text)")
    streams = {
        "orders": {
            "source": {"kind": "postgres_cdc", "source": "crm", "slot": slot_name},
            "transform": "cdc_transforms:inserts",
            "time": "ts",
            "keys": ["k"],
            "window": {"type": "tumbling", "size": "1m"},
            "aggregates": {"events": "count", "amount": "sum(amount)"},
            "watermark": {"delay": "30s"},
            "sink": "gold.orders_per_minute",
            "max_batch": 500,
        }
    }
    ws = stream_workspace(tmp_path, streams, {"name": "c", "secrets": {"crm_password": {"env": "CRM_PASSWORD"}}})
    pipeline = ws.root / "pipelines" / "live.yml"
    import yaml

    spec = yaml.safe_load(pipeline.read_text())
    spec["sources"] = {
        "crm": {
            "kind": "postgres_cdc",
            "target": "bronze.t",
            "options": {"url": url, "table": "public.t", "primary_key": ["id"]},
            "secrets": {"password": "secret:crm_password"},
        }
    }
    pipeline.write_text(yaml.safe_dump(spec, sort_keys=False))
    (ws.root / "lib").mkdir(exist_ok=True)
    (ws.root / "lib" / "cdc_transforms.py").write_text(
        "def inserts(changes):\n    return changes.filter(changes._op == 'insert')\n"
    )
    return ws


def insert(url, first: int, count: int) -> None:
    rows = ", ".join(
        f"('k{i % 4}', {i % 97}.25, TIMESTAMP '2024-05-01 10:00:00' + {i} * INTERVAL '2 seconds', NULL)"
        for i in range(first, first + count)
    )
    execute(url, f"INSERT INTO t (k, amount, ts, note) VALUES {rows}")


BY_MINUTE = "SELECT k, date_trunc('minute', ts), count(*), sum(amount) FROM t GROUP BY 1, 2"


def test_a_tables_inserts_windowed_equal_the_source_databases_own_group_by(tmp_path, postgres_server):
    url = source_database(postgres_server)
    name = "s_" + url.rsplit("/", 1)[1]  # slots are the server's, not the database's: one of its own
    ws = cdc_stream_workspace(tmp_path, url, name)
    run_stream(ws, "orders")  # makes its slot: the stream's log starts here
    for first in range(0, 3000, 300):
        insert(url, first, 300)
        execute(url, f"UPDATE t SET note = 'seen' WHERE id % 7 = {first % 7}")  # changes the transform leaves out
        if first % 900 == 0:
            run_stream(ws, "orders")
    run_stream(ws, "orders")
    live = query(ws, "SELECT k, window_start, events, amount FROM gold.orders_per_minute_live")
    assert sorted((k, s, n, float(a)) for k, s, n, a in live) == sorted(
        (k, s, n, float(a)) for k, s, n, a in source_rows(url, BY_MINUTE)
    )
    closed = query(ws, "SELECT count(*) FROM gold.orders_per_minute")[0][0]
    assert closed > 90  # the watermark closed all but the last minute or so
    (offset,) = query(ws, "SELECT source_offset FROM _millpond.stream_offsets WHERE stream = 'orders'")[0]
    assert slot(url, name)[0] == offset  # the slot moved to what the warehouse holds


def test_a_crash_between_the_commit_and_the_slot_advance_counts_nothing_twice(tmp_path, postgres_server, monkeypatch):
    url = source_database(postgres_server)
    name = "s_" + url.rsplit("/", 1)[1]  # slots are the server's, not the database's: one of its own
    ws = cdc_stream_workspace(tmp_path, url, name)
    run_stream(ws, "orders")
    insert(url, 0, 400)

    def crash(self, offsets):
        raise MillpondError("killed after the commit, before the slot moved")

    with monkeypatch.context() as patched:
        patched.setattr(CdcLog, "committed", crash)
        with pytest.raises(MillpondError, match="killed after the commit"):
            run_stream(ws, "orders")
    stored = query(ws, "SELECT source_offset FROM _millpond.stream_offsets WHERE stream = 'orders'")[0][0]
    assert slot(url, name)[0] != stored  # behind: the crash came before the advance
    insert(url, 400, 100)
    run_stream(ws, "orders")
    assert query(ws, "SELECT sum(events) FROM gold.orders_per_minute_live") == [(500,)]
    assert query(ws, "SELECT events FROM _millpond.stream_progress WHERE stream = 'orders'") == [(500,)]


def test_a_dropped_slot_ends_the_stream_in_one_line(tmp_path, postgres_server):
    url = source_database(postgres_server)
    name = "s_" + url.rsplit("/", 1)[1]  # slots are the server's, not the database's: one of its own
    ws = cdc_stream_workspace(tmp_path, url, name)
    run_stream(ws, "orders")
    insert(url, 0, 10)
    run_stream(ws, "orders")
    execute(url, f"SELECT pg_drop_replication_slot('{name}')")
    with pytest.raises(MillpondError, match=f"replication slot {name}: it is gone; the changes since"):
        run_stream(ws, "orders")
