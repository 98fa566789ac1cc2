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

import difflib
import functools
import importlib
import importlib.metadata
import re
from typing import TYPE_CHECKING

from millpond.engines.base import Engine
from millpond.errors import MillpondError

if TYPE_CHECKING:
    from ibis.backends import BaseBackend

ENGINES: dict[str, str] = {}
"""Backend name to ``module:class`` of its engine (imported when first used)."""
SCHEMES: dict[str, str] = {}
"""Warehouse URL scheme to backend name."""
DEFAULT_URL = "duckdb://data/warehouse.duckdb"
"""The warehouse of a workspace that names none: the embedded default, a file in ``data/``."""


def register(name: str, target: str, schemes: tuple[str, ...] = ()) -> None:
    """Register the engine class ``target`` (``"module:Class"``) for Ibis backends named
    ``name`` and warehouse URLs of ``schemes`` (``name`` itself by default)."""
    ENGINES[name] = target
    for scheme in schemes or (name,):
        SCHEMES[scheme] = name


register("duckdb", "millpond.engines.duckdb:DuckDBEngine")
register("postgres", "millpond.engines.postgres:PostgresEngine", ("postgres", "postgresql"))
register("pyspark", "millpond.engines.pyspark:SparkEngine", ("pyspark", "sc"))


def _engine_class(name: str) -> type[Engine]:
    module, cls = ENGINES[name].split(":")
    return getattr(importlib.import_module(module), cls)


def engine_class(url: str) -> type[Engine]:
    """The engine class of a warehouse URL, by its scheme; :class:`Engine` (any Ibis URL,
    standard SQL) for a scheme no engine registered.

    >>> engine_class("duckdb://data/w.duckdb").name, engine_class("sc://host:15002").name
    ('duckdb', 'pyspark')
    >>> engine_class("duckdb://data/w.duckdb").database_file("duckdb:///ws/w.duckdb")
    PosixPath('/ws/w.duckdb')
    """
    scheme = url.split("://", 1)[0]
    name = SCHEMES.get(scheme)
    if name is not None:
        return _engine_class(name)
    if "://" not in url or scheme not in _ibis_backends():
        known = sorted(set(SCHEMES) | _ibis_backends())
        close = difflib.get_close_matches(scheme, known, n=1)
        hint = f" (did you mean {close[0]}://?)" if close else ""
        raise MillpondError(
            f"warehouse URL {shown_url(url)}: no engine for {scheme!r}{hint}; "
            f"use one of {', '.join(s + '://' for s in known)}"
        )
    return Engine


@functools.lru_cache(maxsize=1)
def _ibis_backends() -> frozenset[str]:
    """The names of the Ibis backends installed (each answers URLs of its name)."""
    return frozenset(entry.name for entry in importlib.metadata.entry_points(group="ibis.backends"))


def shown_url(url: str) -> str:
    """``url`` fit to show: a password written in it masked.

    >>> shown_url("postgres://me:s3cret@db/shop"), shown_url("duckdb://data/w.duckdb")
    ('postgres://me:***@db/shop', 'duckdb://data/w.duckdb')
    """
    return re.sub(r"(://[^:/@?#]*:)[^@/]*@", r"\1***@", url, count=1)


def scratch():
    """A private in-memory backend of the default engine (:meth:`Engine.scratch`)."""
    return engine_class(DEFAULT_URL).scratch()


def engine_for(con: BaseBackend) -> Engine:
    """The engine of the Ibis backend ``con`` (one per connection, kept on it: backends
    compare equal by database, so two connections to one file must not share a cache key)."""
    engine = con.__dict__.get("_millpond_engine")
    if engine is None or engine.con is not con:
        target = ENGINES.get(con.name)
        if target is None:
            raise MillpondError(
                f"no millpond engine for the {con.name!r} backend (engines: {', '.join(sorted(ENGINES))})"
            )
        engine = _engine_class(con.name)(con)
        con.__dict__["_millpond_engine"] = engine
    return engine


def described_table(con: BaseBackend, table: str, database: str):
    """The Ibis table ``database.table`` of ``con`` (:meth:`Engine.describe`)."""
    return engine_for(con).describe(table, database)


def create_table_as(con: BaseBackend, name: str, expr, database: str):
    """Create ``database.name`` holding ``expr``'s rows on ``con`` and return it (:meth:`Engine.create_table_as`)."""
    return engine_for(con).create_table_as(name, expr, database)


__all__ = [
    "DEFAULT_URL",
    "ENGINES",
    "SCHEMES",
    "Engine",
    "create_table_as",
    "described_table",
    "engine_class",
    "engine_for",
    "register",
    "scratch",
]
