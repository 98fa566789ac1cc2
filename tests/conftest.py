"""Fixtures shared by the whole suite: one fresh warehouse per test, on each backend.

- ``duckdb_con`` (function): a fresh in-memory Ibis DuckDB backend;
- ``postgres_server`` (session): a running :class:`ThrowawayPostgres`, started on
  first use only;
- ``redis_server`` (session): a running :class:`ThrowawayRedis` (Debian's ``redis-server``),
  the broker of the stream tests, started on first use only;
- ``pg_con`` (function): an Ibis PostgreSQL backend on a new, empty database;
- ``con`` (function, parametrized): ``duckdb_con`` then ``pg_con``, with ids
  ``duckdb`` and ``postgres``;
- ``shop_reference`` (session): the reference workspace with the shop pipeline run
  once, for tests that only read it (lineage, the docs site).

Backend-agnostic tests take ``con`` and so run on both engines. Tests that need
PostgreSQL carry the ``postgres`` marker (added automatically), so
``pytest -m "not postgres"`` leaves them out. When PostgreSQL is missing they
skip, except in CI (``CI=true``) where they fail: see ``support/components.py``.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import ibis
import pytest

from millpond.environment import restored
from support.components import require_component
from support.postgres import PostgresUnavailable, ThrowawayPostgres
from support.redis_server import RedisUnavailable, ThrowawayRedis

_NEEDS_POSTGRES = {"postgres_server", "pg_con"}

# One fork server per test process (and per `millpond` it starts), gone when it ends: no daemon
# outlives the suite. tests/lib/run/test_keep_warm.py turns the shared daemon on where it tests it.
os.environ["MILLPOND_KEEP_WARM"] = "0"
# Tests (and the notebooks nbval runs) build in production unless they choose an environment:
# a notebook run outside `millpond run` otherwise builds in the person's own
# (tests/lib/run/test_environments.py clears this where it tests that).
os.environ["MILLPOND_ENV"] = "prod"


@pytest.fixture(autouse=True)
def _environment_restored() -> Iterator[None]:
    """An environment one test chose (``mp.stage()`` in-process, ``main(["--env", ...])``) ends with it."""
    with restored():
        yield


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if _NEEDS_POSTGRES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.postgres)


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[ThrowawayPostgres]:
    """A throwaway PostgreSQL server for the session, started only if a test asks for it."""
    server = ThrowawayPostgres()
    try:
        server.start()
    except PostgresUnavailable as missing:
        require_component("PostgreSQL", str(missing))
    with server:
        yield server


@pytest.fixture(scope="session")
def redis_server() -> Iterator[ThrowawayRedis]:
    """A throwaway Redis server for the session, started only if a test asks for it."""
    server = ThrowawayRedis()
    try:
        server.start()
    except RedisUnavailable as missing:
        require_component("Redis", str(missing))
    with server:
        yield server


@pytest.fixture
def pg_con(postgres_server: ThrowawayPostgres) -> Iterator[ibis.BaseBackend]:
    """An Ibis PostgreSQL backend on a database of its own, dropped after the test."""
    name = f"test_{uuid.uuid4().hex[:16]}"
    postgres_server.fresh_database(name)
    con = ibis.postgres.connect(**postgres_server.connect_kwargs(name))
    try:
        yield con
    finally:
        con.disconnect()
        postgres_server.drop_database(name)


@pytest.fixture
def duckdb_con() -> Iterator[ibis.BaseBackend]:
    """A fresh in-memory Ibis DuckDB backend."""
    con = ibis.duckdb.connect()
    try:
        yield con
    finally:
        con.disconnect()


@pytest.fixture(
    params=[
        pytest.param("duckdb", id="duckdb"),
        pytest.param("postgres", id="postgres", marks=pytest.mark.postgres),
    ]
)
def con(request: pytest.FixtureRequest) -> ibis.BaseBackend:
    """A fresh warehouse on each backend: the test runs once per engine."""
    return request.getfixturevalue(f"{'pg' if request.param == 'postgres' else 'duckdb'}_con")


@pytest.fixture(scope="session")
def shop_reference(tmp_path_factory):
    """The reference workspace after one shop run; read it, never change it."""
    from support.reference import build_reference_workspace

    return build_reference_workspace(tmp_path_factory.mktemp("shop-reference") / "workspace", pipelines=("shop",))
