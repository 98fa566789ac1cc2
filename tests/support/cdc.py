"""What the ``postgres_cdc`` tests share: a workspace declaring the source ``crm`` on a table of
the session's throwaway server, and rows read from both sides (expected rows always come
from the source database itself)."""

from __future__ import annotations

import uuid
from pathlib import Path

import duckdb
import psycopg

from millpond.workspace import Workspace
from support.workspaces import make_workspace

PASSWORD = "cdc-s3cret-pw-7d1"


def source_database(server) -> str:
    """A fresh database of ``server``, as a ``postgresql://`` URL."""
    return server.fresh_database(f"cdc_{uuid.uuid4().hex[:12]}").replace("postgres://", "postgresql://")


def cdc_workspace(
    root: Path, url: str, table: str = "public.t", key: tuple[str, ...] = ("id",), **options
) -> Workspace:
    """A workspace whose source ``crm`` follows ``table`` into ``bronze.t`` (its password a secret)."""
    source = {
        "kind": "postgres_cdc",
        "target": "bronze.t",
        "options": {"url": url, "table": table, "primary_key": list(key), **options},
        "secrets": {"password": "secret:crm_password"},
    }
    make_workspace(
        root,
        {"k": {"sources": {"crm": source}, "stages": []}},
        {"name": "k", "secrets": {"crm_password": {"env": "CRM_PASSWORD"}}},
    )
    return Workspace(root)


def execute(url: str, *statements: str) -> None:
    """Run each statement in a transaction of its own."""
    with psycopg.connect(url, autocommit=True) as db:
        for sql in statements:
            db.execute(sql)


def source_rows(url: str, sql: str) -> list[tuple]:
    with psycopg.connect(url) as db:
        return sorted(tuple(r) for r in db.execute(sql).fetchall())


def target_rows(root: Path, sql: str) -> list[tuple]:
    """Rows of ``sql`` on the workspace's DuckDB warehouse, opened read-only (``t`` is ``bronze.t``)."""
    with duckdb.connect(str(root / "data/warehouse.duckdb"), read_only=True) as con:
        con.execute("SET search_path = 'bronze'")
        return sorted(tuple(r) for r in con.execute(sql).fetchall())


def stored_lsn(root: Path) -> str:
    """The LSN the warehouse holds for source ``crm``."""
    import json

    [(state,)] = target_rows(root, "SELECT state FROM _millpond.load_state WHERE source = 'crm'")
    return json.loads(state)["lsn"]


def slot(url: str, name: str = "millpond_crm") -> tuple | None:
    """``(confirmed_flush_lsn, restart_lsn, active_pid)`` of the slot, as text; ``None`` when there is none."""
    with psycopg.connect(url) as db:
        return db.execute(
            "SELECT confirmed_flush_lsn::text, restart_lsn::text, active_pid FROM pg_replication_slots"
            " WHERE slot_name = %s",
            (name,),
        ).fetchone()
