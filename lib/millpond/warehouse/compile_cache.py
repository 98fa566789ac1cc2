"""Compiled SQL kept across runs, so an unchanged expression is not compiled again.

Ibis compiles an expression in Python: 3 to 30 ms for a gold table, about 55 ms for
the gold checks' one counting query, some 0.25 s in a run of the shop's gold stages
whose queries run in less. The expressions are the same from run to run while the
code is, so :func:`cache_compiles` keeps every compiled statement in a small SQLite
file beside the metadata store (``data/.millpond/compiled-sql.sqlite``), keyed by
:func:`expression_key`, a digest of the expression's whole structure. An unchanged
expression costs the digest (0.1 to 0.6 ms) and one lookup; any change to it, to
Ibis or to sqlglot gives another key, so a stale statement cannot be found.

What the key cannot vouch for is not cached: an expression over in-memory data, one
holding a value of a type the key does not know, or a compile with ``params``. The
file is a cache: deleting it costs one compile per expression, and if it cannot be
read or written the backend compiles as before. Statements not used for 30 days are
dropped.

>>> import ibis, tempfile, pathlib
>>> con = ibis.duckdb.connect()
>>> cache = CompiledSqlCache(pathlib.Path(tempfile.mkdtemp()) / "compiled-sql.sqlite")
>>> cache_compiles(con, cache)
>>> t = ibis.table({"a": "int64"}, name="t")
>>> first = con.compile(t.filter(t.a > 1))
>>> con.compile(t.filter(t.a > 1)) == first, cache.hits, cache.misses
(True, 1, 1)
"""

from __future__ import annotations

import datetime as dt
import decimal
import enum
import hashlib
import logging
import os
import sqlite3
import threading
import time
import uuid
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import ibis
import ibis.expr.operations as ops
import ibis.expr.types as ir
import sqlglot
from ibis.backends import BaseBackend
from ibis.common.grounds import Concrete

from millpond.engines import ENGINES, engine_for

__all__ = ["CompiledSqlCache", "cache_compiles", "expression_key"]

logger = logging.getLogger(__name__)

KEEP_UNUSED_DAYS = 30
_PLAIN = (
    str,
    int,
    float,
    bool,
    type(None),
    bytes,
    decimal.Decimal,
    dt.date,
    dt.time,
    dt.timedelta,
    uuid.UUID,
    enum.Enum,
)
_UDF_ATTRS = ("__func_name__", "__udf_namespace__", "__input_type__", "__config__", "dtype")


class _NoKey(Exception):
    """The expression holds something the key cannot describe exactly."""


def expression_key(expr: ir.Expr, *, dialect: str, limit: Any = None) -> str | None:
    """A digest of ``expr``'s structure and everything else its compiled SQL depends on,
    or None when the expression holds a value the key cannot describe exactly.

    Examples
    --------
    >>> import ibis
    >>> t = ibis.table({"a": "int64", "b": "string"}, name="t")
    >>> k = expression_key(t.filter(t.a > 1), dialect="duckdb")
    >>> k == expression_key(t.filter(t.a > 1), dialect="duckdb")
    True
    >>> k == expression_key(t.filter(t.a > 2), dialect="duckdb")
    False
    >>> expression_key(ibis.memtable({"a": [1]}), dialect="duckdb") is None
    True
    """
    tokens: dict[int, str] = {}
    references: dict[tuple[str, int], int] = {}  # a reference's number -> its order of appearance here

    def token(value: Any) -> str:
        if isinstance(value, Concrete):
            if isinstance(value, ops.InMemoryTable):  # registered under a random name each time
                raise _NoKey("in-memory data")
            found = tokens.get(id(value))
            if found is None:
                parts = _concrete_parts(value, token)
                if isinstance(value, ops.Reference):  # view() numbers by a process-wide counter; SQL aliases do not
                    number = (type(value).__name__, value.identifier)
                    parts[-1] = f"ref:{references.setdefault(number, len(references))}"
                found = tokens[id(value)] = _digest(parts)
            return found
        if isinstance(value, BaseBackend):  # the table's source: the SQL names the table, not the connection
            return "backend"
        if isinstance(value, _PLAIN):
            return f"{type(value).__qualname__}:{value!r}"
        if isinstance(value, (tuple, list)):
            return "(" + ",".join(map(token, value)) + ")"
        if isinstance(value, Mapping):
            return "{" + ",".join(f"{token(k)}:{token(v)}" for k, v in value.items()) + "}"
        if isinstance(value, frozenset):
            return "{" + ",".join(sorted(map(token, value))) + "}"
        raise _NoKey(type(value).__qualname__)

    try:
        body = token(expr.op())
    except (_NoKey, RecursionError):
        return None
    context = (
        dialect,
        type(expr).__name__,
        repr(limit),
        repr(ibis.options.sql.fuse_selects),
        ibis.__version__,
        sqlglot.__version__,
    )
    return _digest([*context, body])


def _concrete_parts(value: Concrete, token) -> list[str]:
    cls = type(value)
    parts = [f"{cls.__module__}.{cls.__qualname__}"]
    if hasattr(cls, "__func_name__"):  # a UDF: its class carries the function's name and types
        parts += [token(getattr(cls, attr, None)) for attr in _UDF_ATTRS]
    parts += [token(arg) for arg in value.__args__]
    return parts


def _digest(parts: list[str]) -> str:
    return hashlib.blake2b("\x1f".join(parts).encode(), digest_size=16).hexdigest()


class CompiledSqlCache:
    """Compiled statements by key, in a SQLite file; every failure reads as a miss.

    ``hits`` and ``misses`` count this process's lookups.
    """

    def __init__(self, path: Path):
        self.path = Path(path)
        self.hits = self.misses = 0
        self._db: sqlite3.Connection | None = None
        self._pid = 0
        self._lock = threading.Lock()
        self._broken = False
        self._pruned = False

    def get(self, key: str) -> str | None:
        row = self._run("SELECT sql, used FROM compiled WHERE key = ?", (key,))
        if row is None:
            self.misses += 1
            return None
        self.hits += 1
        sql, used = row
        if used < time.time() - 86_400:  # refreshed once a day, so pruning keeps it
            self._run("UPDATE compiled SET used = ? WHERE key = ?", (time.time(), key))
        return sql

    def put(self, key: str, sql: str) -> None:
        self._run("INSERT OR REPLACE INTO compiled (key, sql, used) VALUES (?, ?, ?)", (key, sql, time.time()))
        if not self._pruned:
            self._pruned = True
            self._run("DELETE FROM compiled WHERE used < ?", (time.time() - KEEP_UNUSED_DAYS * 86_400,))

    def _run(self, sql: str, args: tuple):
        if self._broken:
            return None
        try:
            with self._lock:
                db = self._connection()
                return db.execute(sql, args).fetchone()  # autocommit: each write is its own transaction
        except sqlite3.Error as exc:  # a cache: compile as if it were empty
            logger.debug("compiled-SQL cache %s unusable: %s", self.path, exc)
            self._broken = True
            return None

    def _connection(self) -> sqlite3.Connection:
        if self._db is None or self._pid != os.getpid():  # never use a connection across a fork
            self.path.parent.mkdir(parents=True, exist_ok=True)
            db = sqlite3.connect(self.path, timeout=2, isolation_level=None, check_same_thread=False)
            db.execute("PRAGMA journal_mode = WAL")
            db.execute("PRAGMA synchronous = OFF")
            db.execute(
                "CREATE TABLE IF NOT EXISTS compiled (key TEXT PRIMARY KEY, sql TEXT NOT NULL, "
                "used REAL NOT NULL) WITHOUT ROWID"
            )
            self._db, self._pid = db, os.getpid()
        return self._db


def cache_compiles(backend: BaseBackend, cache: CompiledSqlCache) -> None:
    """Make ``backend.compile`` look ``cache`` up first (DuckDB and PostgreSQL; others unchanged).

    Everything Ibis runs goes through ``compile``: builds, ``execute``, ``to_pyarrow``,
    ``count``. The wrapper is an attribute of this backend object only.
    """

    if backend.name not in ENGINES or not engine_for(backend).caches_compiles or "compile" in vars(backend):
        return
    compile_now = backend.compile
    dialect = backend.name

    def compile(expr: ir.Expr, /, *, limit=None, params=None, pretty: bool = False, **kwargs) -> str:
        if params or kwargs:
            return compile_now(expr, limit=limit, params=params, pretty=pretty, **kwargs)
        if limit == "default":
            limit = ibis.options.sql.default_limit
        key = expression_key(expr, dialect=dialect, limit=(limit, pretty))
        sql = cache.get(key) if key is not None else None
        if sql is None:
            sql = compile_now(expr, limit=limit, pretty=pretty)
            if key is not None:
                cache.put(key, sql)
        else:
            backend._log(sql)
        return sql

    compile.cache = cache
    backend.compile = compile
