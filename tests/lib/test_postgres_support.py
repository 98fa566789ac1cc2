"""The test warehouses: ``con`` on both engines, isolation, the throwaway server's lifecycle."""

from __future__ import annotations

import socket

import ibis
import pytest

from support.components import require_component
from support.postgres import PostgresUnavailable, ThrowawayPostgres


def _accepts_connections(host: str, port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(1)
        return sock.connect_ex((host, port)) == 0


def test_con_creates_and_reads_back_a_table(con):
    orders = ibis.memtable({"order_id": [1, 2, 3], "amount": [9.5, 20.0, 0.5]})

    con.create_table("orders", orders)

    result = con.table("orders").order_by("order_id").to_pyarrow().to_pylist()
    assert result == [
        {"order_id": 1, "amount": 9.5},
        {"order_id": 2, "amount": 20.0},
        {"order_id": 3, "amount": 0.5},
    ]
    assert con.table("orders").amount.sum().execute() == pytest.approx(30.0)


@pytest.mark.parametrize("attempt", ["first", "second"])
def test_each_test_starts_with_an_empty_warehouse(con, attempt):
    # Both attempts create the same table: if warehouses were shared, the
    # second one (whichever runs later) would find it already there.
    assert con.list_tables() == []

    con.create_table("probe", ibis.memtable({"attempt": [attempt]}))

    assert con.table("probe").to_pyarrow().to_pylist() == [{"attempt": attempt}]


def test_pg_con_gets_a_database_of_its_own(pg_con, postgres_server):
    assert pg_con.current_catalog.startswith("test_")
    assert pg_con.current_catalog != postgres_server.database


def test_server_url_works_with_ibis_connect(postgres_server):
    assert postgres_server.url == (f"postgres://postgres@127.0.0.1:{postgres_server.port}/millpond_test")
    con = ibis.connect(postgres_server.url)
    try:
        assert con.current_catalog == "millpond_test"
    finally:
        con.disconnect()


def test_fresh_database_returns_the_url_of_an_empty_database(postgres_server):
    url = postgres_server.fresh_database("fresh_database_probe")
    con = ibis.connect(url)
    try:
        assert con.current_catalog == "fresh_database_probe"
        assert con.list_tables() == []
    finally:
        con.disconnect()
        postgres_server.drop_database("fresh_database_probe")


@pytest.mark.parametrize("name", ["Upper", "has-dash", "1starts_with_digit", "x" * 64, ""])
def test_fresh_database_rejects_names_that_need_quoting(postgres_server, name):
    with pytest.raises(ValueError, match="Invalid database name"):
        postgres_server.fresh_database(name)


@pytest.mark.postgres
def test_throwaway_server_is_stopped_and_removed_even_after_an_error():
    server = ThrowawayPostgres(database="lifecycle")
    try:
        server.start()
    except PostgresUnavailable as missing:
        require_component("PostgreSQL", str(missing))
    with pytest.raises(RuntimeError, match="boom"):
        with server:
            directory, port = server.directory, server.port
            assert (directory / "data" / "postmaster.pid").exists()
            assert _accepts_connections("127.0.0.1", port)
            raise RuntimeError("boom")

    assert not directory.exists()
    assert not _accepts_connections("127.0.0.1", port)
    with pytest.raises(RuntimeError, match="not running"):
        server.url


def test_a_missing_component_fails_in_ci(monkeypatch):
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="PostgreSQL is not available: no initdb"):
        require_component("PostgreSQL", "no initdb")


def test_a_missing_component_skips_outside_ci(monkeypatch):
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception, match="PostgreSQL is not available: no initdb"):
        require_component("PostgreSQL", "no initdb")
