"""Connecting to the warehouse through Ibis, whatever the engine.

The URL comes from ``millpond.yml`` (default ``duckdb://data/warehouse.duckdb``) and
may be any Ibis URL, e.g. ``postgres://user:${secret:pg_password}@host/db``. Secret
placeholders are expanded here, inside the process that connects, and nowhere else.
"""

from __future__ import annotations

import threading
import weakref
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from millpond.engines import engine_class, shown_url
from millpond.errors import MillpondError
from millpond.secrets import redact
from millpond.warehouse.lease import Lease

if TYPE_CHECKING:
    from collections.abc import Callable

    from ibis.backends import BaseBackend

    from millpond.workspace import Workspace


COMPILED_SQL_FILE = "compiled-sql.sqlite"

_OPEN_FILES: weakref.WeakSet = weakref.WeakSet()
"""Backends on a warehouse file that :func:`connect` opened in this process and not yet collected."""


def close_open_files() -> None:
    """Close every backend on a warehouse file still open, so its write-ahead log is checkpointed
    (``millpond.quick_exit.exit_quickly``: a process that skips its teardown would leave it)."""
    for backend in list(_OPEN_FILES):
        try:
            backend.disconnect()
        except Exception:  # noqa: BLE001, S110 - closed already, or broken: nothing to save
            pass


def connect(workspace: Workspace) -> BaseBackend:
    """An Ibis backend on the workspace's warehouse (no lease taken: see :class:`Warehouse`)."""
    url = workspace.warehouse_url(resolve_secrets=True)
    engine = engine_class(url)
    try:
        backend = engine.open(url, workspace)
    except MillpondError:
        raise
    except Exception as exc:
        shown = shown_url(workspace.warehouse_url())
        said = redact(str(exc), workspace.secret_env()).splitlines()[0] if str(exc).strip() else type(exc).__name__
        literal = urlsplit(url).password if "://" in url else None  # written in the URL itself
        said = said.replace(literal, "***") if literal else said
        raise MillpondError(f"cannot connect to warehouse {shown}: {said}") from None
    if engine.database_file(url) is not None:
        _OPEN_FILES.add(backend)
    return _with_compile_cache(backend, workspace) if engine.caches_compiles else backend


def _with_compile_cache(backend: BaseBackend, workspace: Workspace) -> BaseBackend:
    """``backend``, compiling through the workspace's cache of compiled SQL
    (:mod:`millpond.warehouse.compile_cache`)."""
    from millpond.warehouse.compile_cache import CompiledSqlCache, cache_compiles  # Ibis: off the catalog's path

    cache_compiles(backend, CompiledSqlCache(workspace.meta_dir / COMPILED_SQL_FILE))
    return backend


class Warehouse:
    """The connection of one process, opened lazily under the lease when the warehouse is a file.

    ``hold()`` opens (waiting for the lease) and ``pause()`` closes and releases;
    between the two the same Ibis backend object stays valid, so expressions built
    before a pause still run after the next ``hold()``.
    """

    def __init__(self, workspace: Workspace, holder: str):
        self.workspace = workspace
        db_file = workspace.warehouse_file()
        self.lease = Lease(db_file, holder) if db_file is not None else None
        """The lease of the warehouse file (``None`` on a server, which needs none)."""
        self._backend: BaseBackend | None = None
        self._connected = False
        self.on_wait: Callable[[str], None] | None = None
        """Told who holds the lease while this connection waits for it."""

    @property
    def is_file(self) -> bool:
        """Whether the warehouse is one file, shared under the lease."""
        return self.lease is not None

    def hold(self) -> BaseBackend:
        """The backend, connected (and the lease held for a file)."""
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

    def hold_unless(self, stop: threading.Event) -> bool:
        """Hold the warehouse, waiting for a file's lease as long as it takes (breaking one a
        kernel of a run that is gone holds); ``False`` when ``stop`` is set first."""
        lease = self.lease
        while lease is not None and not lease.try_acquire():
            lease.break_orphaned()
            if stop.wait(0.1):
                return False
        self.hold()
        return True

    def pause(self) -> None:
        """Close the connection and give the lease back (a file only; a no-op on a server)."""
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
