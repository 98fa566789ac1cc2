"""Which tables exist in the warehouse, asked without importing Ibis when possible."""

from __future__ import annotations

import json
import os
from pathlib import Path

from millpond.engines import engine_class
from millpond.environment import active_env, tables_of
from millpond.project import project_of
from millpond.warehouse.lease import Lease
from millpond.warehouse.sql import fetch
from millpond.workspace import Workspace

_QUERY = (
    "SELECT table_schema || '.' || table_name FROM information_schema.tables "
    "WHERE table_schema NOT IN ('information_schema', 'pg_catalog')"
)
"""Every table and view of a server warehouse (a warehouse file: ``Engine.file_tables``)."""


def existing_tables(workspace: Workspace) -> set[str]:
    """``{"layer.table", ...}`` for every table and view of this process's environment
    (:func:`~millpond.environment.active_env`) in the warehouse.

    For a warehouse file the answer is kept in ``<meta>/warehouse_tables.json`` with the
    file's signature (size, modification and change times of the file and of its
    write-ahead log): while the signature is the same, no table can have been created or
    dropped, so a no-change run answers without importing the engine or waiting for the lease.
    """
    url = workspace.warehouse_url()
    engine = engine_class(url)
    db_file = engine.database_file(url)
    if db_file is not None:
        if not db_file.exists():
            return set()
        cache = workspace.meta_dir / "warehouse_tables.json"
        signature = _signature(db_file, engine.companion_suffixes)
        try:
            cached = json.loads(cache.read_text())
            if cached["signature"] == signature:
                return tables_of(cached["tables"], active_env())
        except (OSError, ValueError, KeyError, TypeError):
            pass
        with Lease(db_file, "the runner checking products"):
            signature = _signature(db_file, engine.companion_suffixes)
            tables = engine.file_tables(db_file)
        _write_atomically(cache, json.dumps({"signature": signature, "tables": sorted(tables)}))
        return tables_of(tables, active_env())

    con = project_of(workspace).connect()
    try:
        return tables_of({row[0] for row in fetch(con, _QUERY)}, active_env())
    finally:
        con.disconnect()


def _signature(db_file: Path, suffixes: tuple[str, ...]) -> list[list[int] | None]:
    """What changes whenever the engine writes the file or its companions (``suffixes``:
    a write-ahead log)."""
    found = []
    for path in (db_file, *(db_file.with_name(db_file.name + suffix) for suffix in suffixes)):
        try:
            st = path.stat()
        except FileNotFoundError:
            found.append(None)
            continue
        found.append([st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns])
    return found


def _write_atomically(path: Path, text: str) -> None:
    temporary = path.with_name(f".{path.name}.{os.getpid()}")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        temporary.write_text(text)
        os.replace(temporary, path)
    except OSError:  # a cache: failing to write it only costs time next run
        temporary.unlink(missing_ok=True)
