"""The engine layer: everything that differs between warehouse backends, behind one protocol.

Each backend is one :class:`~millpond.engines.base.Engine` subclass in its own module,
registered here by the name its Ibis backend reports (``con.name``). The rest of millpond
asks :func:`engine_for` and never names a backend itself. A new engine is one module and
one :func:`register` line (``docs/engines.md`` lists what an engine provides).

>>> import ibis
>>> engine_for(ibis.duckdb.connect()).dialect
'duckdb'
>>> sorted(ENGINES)
['duckdb', 'postgres', 'pyspark']
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from millpond.engines.base import Engine
from millpond.errors import MillpondError

if TYPE_CHECKING:
    from ibis.backends import BaseBackend

ENGINES: dict[str, str] = {}
"""Backend name to ``module:class`` of its engine (imported when first used)."""



def register(name: str, target: str) -> None:
    """Register the engine class ``target`` (``"module:Class"``) for Ibis backends named ``name``."""
    ENGINES[name] = target


register("duckdb", "millpond.engines.duckdb:DuckDBEngine")
register("postgres", "millpond.engines.postgres:PostgresEngine")
register("pyspark", "millpond.engines.pyspark:SparkEngine")


def engine_for(con: BaseBackend) -> Engine:
    """The engine of the Ibis backend ``con`` (one per connection, kept on it: backends
    compare equal by database, so two connections to one file must not share a cache key)."""
    engine = con.__dict__.get("_millpond_engine")
    if engine is None or engine.con is not con:
        target = ENGINES.get(con.name)
        if target is None:
            raise MillpondError(f"no millpond engine for the {con.name!r} backend (engines: {', '.join(sorted(ENGINES))})")
        import importlib

        module, cls = target.split(":")
        engine = getattr(importlib.import_module(module), cls)(con)
        con.__dict__["_millpond_engine"] = engine
    return engine


def described_table(con: BaseBackend, table: str, database: str):
    """The Ibis table ``database.table`` of ``con`` (:meth:`Engine.describe`)."""
    return engine_for(con).describe(table, database)


def create_table_as(con: BaseBackend, name: str, expr, database: str):
    """Create ``database.name`` holding ``expr``'s rows on ``con`` and return it (:meth:`Engine.create_table_as`)."""
    return engine_for(con).create_table_as(name, expr, database)


__all__ = ["ENGINES", "Engine", "create_table_as", "described_table", "engine_for", "register"]
