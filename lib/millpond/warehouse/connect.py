"""Connecting to the warehouse through Ibis, whatever the engine.

The URL comes from ``millpond.yml`` (default ``duckdb://data/warehouse.duckdb``) and
may be any Ibis URL, e.g. ``postgres://user:${secret:pg_password}@host/db``. Secret
placeholders are expanded here, inside the process that connects, and nowhere else.
"""

from __future__ import annotations

import weakref
from pathlib import Path
from typing import TYPE_CHECKING

from millpond.errors import MillpondError
from millpond.warehouse.lease import Lease

if TYPE_CHECKING:
    from ibis.backends import BaseBackend

    from millpond.workspace import Workspace


COMPILED_SQL_FILE = "compiled-sql.sqlite"

_OPEN_FILES: weakref.WeakSet = weakref.WeakSet()
"""DuckDB file backends :func:`connect` opened in this process and not yet collected."""


def close_open_files() -> None:
    """Close every DuckDB file backend still open, so its write-ahead log is checkpointed
    (``millpond.quick_exit.exit_quickly``: a process that skips its teardown would leave it)."""
    for backend in list(_OPEN_FILES):
        try:
            backend.disconnect()
        except Exception:  # noqa: BLE001, S110 - closed already, or broken: nothing to save
            pass


def connect(workspace: Workspace) -> BaseBackend:
    """An Ibis backend on the workspace's warehouse (no lease taken: see :class:`Warehouse`)."""
    import ibis

    url = workspace.warehouse_url(resolve_secrets=True)
    db_file = workspace.duckdb_file()
    if db_file is not None:
        db_file.parent.mkdir(parents=True, exist_ok=True)
        config = workspace.spec.resources.duckdb_config(workspace.root)
        if "temp_directory" in config:
            Path(config["temp_directory"]).mkdir(parents=True, exist_ok=True)
        backend = ibis.duckdb.connect(str(db_file), **config)
        _OPEN_FILES.add(backend)
        return _with_compile_cache(backend, workspace)
    from millpond.engines.spark_server import is_spark_url

    if is_spark_url(url):
        from millpond.engines.spark_support import connect as connect_spark

        return connect_spark(workspace)
    try:
        backend = ibis.connect(url)
    except Exception as exc:
        from millpond.secrets import redact

        shown = workspace.warehouse_url()
        raise MillpondError(f"cannot connect to warehouse {shown}: {redact(str(exc), workspace.secret_env()).splitlines()[0]}") from None
    return _with_compile_cache(backend, workspace)


def _with_compile_cache(backend: BaseBackend, workspace: Workspace) -> BaseBackend:
    """``backend``, compiling through the workspace's cache of compiled SQL
    (:mod:`millpond.warehouse.compile_cache`)."""
    from millpond.warehouse.compile_cache import CompiledSqlCache, cache_compiles

    cache_compiles(backend, CompiledSqlCache(workspace.meta_dir / COMPILED_SQL_FILE))
    return backend


class Warehouse:
    """The connection of one process, opened lazily under the lease when it is a DuckDB file.

    ``hold()`` opens (waiting for the lease) and ``pause()`` closes and releases;
    between the two the same Ibis backend object stays valid, so expressions built
    before a pause still run after the next ``hold()``.
    """

    def __init__(self, workspace: Workspace, holder: str):
        self.workspace = workspace
        db_file = workspace.duckdb_file()
        self.lease = Lease(db_file, holder) if db_file is not None else None
        self._backend: BaseBackend | None = None
        self._connected = False
        self.on_wait = None

    @property
    def is_duckdb(self) -> bool:
        return self.lease is not None

    def hold(self) -> BaseBackend:
        """The backend, connected (and the lease held for DuckDB)."""
        if self._backend is not None and self._connected:
            return self._backend
        if self.lease is not None:
            self.lease.acquire(on_wait=self.on_wait)
        try:
            if self._backend is None:
                self._backend = connect(self.workspace)
            else:
                self._backend._memtables = weakref.WeakSet()  # the new connection has none registered
                self._backend.reconnect()
        except BaseException:
            if self.lease is not None:
                self.lease.release()
            raise
        self._connected = True
        return self._backend

    def pause(self) -> None:
        """Close the connection and give the lease back (DuckDB only; a no-op elsewhere)."""
        if self.lease is None or not self._connected:
            return
        try:
            self._backend.disconnect()
        finally:
            self._connected = False
            self.lease.release()

    def close(self) -> None:
        if self._backend is not None and self._connected:
            try:
                self._backend.disconnect()
            finally:
                self._connected = False
                if self.lease is not None:
                    self.lease.release()
