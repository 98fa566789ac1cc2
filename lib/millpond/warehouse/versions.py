"""Versions of materialized tables: every build is a version, older ones stay readable.

Each build of a ``table`` or ``incremental`` table through ``ctx.materialize`` records a
version (1, 2, 3 ... per table) in the metadata store: run, stage, time, rows, schema, a
content hash and the warehouse table that holds its rows (its *location*):

- the live table holds the latest version;
- a **table** swap keeps the table it replaces by renaming it into a snapshot instead of
  dropping it, at no cost (DuckDB: ``<layer>._mp_v_<table>__v<N>_<hex>``, as DuckDB cannot
  move a table to another schema; PostgreSQL: ``_mp_versions.<layer>__<table>__v<N>_<hex>``);
- an **incremental** table changes in place, so its previous rows are copied into the
  snapshot first (one full copy per build; dropped again when the build changed nothing);
- a build whose content hash (row count, an order-independent sum of row hashes and the
  schema) equals the live table's shares its storage: identical rebuilds cost no space.

``retain`` (a stage's ``tables: {T: {retain: N}}``, else ``versions: {retain: N}`` in
``millpond.yml``, default 3) versions are kept, the live one included; older snapshots
are dropped and their records marked expired. On PostgreSQL the views reading a table
are recreated on the new table inside the swap's transaction, so none keeps reading (by
its OID) a snapshot. Reading old versions: :func:`version_table`; restoring one:
:func:`rollback`; comparing two: :mod:`millpond.warehouse.version_diff`.
"""

from __future__ import annotations

import contextlib
import contextvars
import datetime as dt
import hashlib
import json
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from millpond.engines import described_table, engine_for
from millpond.errors import MillpondError
from millpond.store.metadata import TableVersion
from millpond.warehouse.sql import drop_statement, existing_kind, fetch, quote, run_in_transaction, split_name

if TYPE_CHECKING:
    import ibis.expr.types as ir
    from ibis.backends import BaseBackend

    from millpond.store.metadata import MetadataStore
    from millpond.warehouse.materialized import Materialized

VERSIONED_KINDS = ("table", "incremental")


@dataclass
class Keeping:
    """What the table swap of one build does with the table it replaces, and what it did."""

    target: tuple[str, str]
    """The ``(schema, table)`` being built; swaps of other tables are left alone."""
    keep: bool
    """Keep the replaced rows as a snapshot (``retain`` >= 2 and the live table is the latest version)."""
    version: int | None
    """The live table's version number (names its snapshot)."""
    previous_hash: str | None
    content_hash: str | None = None
    snapshot: str | None = None
    """Where the replaced rows went (``schema.table``), if kept."""
    unchanged: bool = False
    """The new content equals the live table's: the earlier versions share the new live table."""
    replaced: bool = False
    """The live table was replaced (dropped, or changed in place) without keeping its rows."""


KEEPING: contextvars.ContextVar[Keeping | None] = contextvars.ContextVar("millpond_keeping", default=None)


# -- where snapshots live and how a table is hashed ------------------------------------
def snapshot_location(con: BaseBackend, schema: str, table: str, version: int | None) -> tuple[str, str]:
    """A fresh ``(schema, name)`` for a snapshot of ``schema.table`` holding ``version``.

    >>> import ibis
    >>> snapshot_location(ibis.duckdb.connect(), "gold", "orders", 3)[1][:17]
    '_mp_v_orders__v3_'
    """
    return engine_for(con).snapshot_location(schema, table, version)


def _snapshot_pattern(con: BaseBackend, schema: str, table: str) -> tuple[str, re.Pattern]:
    """The schema and name pattern of every snapshot of ``schema.table``."""
    return engine_for(con).snapshot_pattern(schema, table)


def content_hash(con: BaseBackend, schema: str, table: str) -> str:
    """A hash of a table's rows as a multiset, and of its schema: equal hashes, same content.

    One scan: the row count and the sum of one 64-bit hash per row (order does not matter).

    >>> import ibis
    >>> con = ibis.duckdb.connect()
    >>> _ = con.create_table("a", ibis.memtable({"x": [1, 2]}))
    >>> _ = con.create_table("b", ibis.memtable({"x": [2, 1]}))
    >>> content_hash(con, "main", "a") == content_hash(con, "main", "b")
    True
    """
    sql = engine_for(con).content_hash_sql(schema, table)
    count, total = fetch(con, sql)[0]
    types = [[c, str(t)] for c, t in described_table(con, table, schema).schema().items()]
    return hashlib.sha256(json.dumps([count, str(total), types]).encode()).hexdigest()[:32]


# -- the swap ------------------------------------------------------------------------
def swap_statements(con: BaseBackend, schema: str, table: str, temp: str, old: str | None) -> list[str]:
    """The statements of one transaction that put ``schema.temp`` in place of ``schema.table``.

    The replaced table (``old`` is its kind, or ``None``) is dropped, or renamed into a
    snapshot while a build that keeps versions is active (:func:`keeping_versions`); on
    PostgreSQL the views reading it are recreated on the new table.
    """
    plan = KEEPING.get()
    plan = plan if plan is not None and plan.target == (schema, table) else None
    move_in = f"ALTER TABLE {quote(con, schema, temp)} RENAME TO {quote(con, table)}"
    if plan is not None:
        plan.content_hash = content_hash(con, schema, temp)
    if old is None:
        return [move_in]
    views = engine_for(con).dependent_views(schema, table) if old == "table" else []
    keep = plan is not None and old == "table" and plan.keep and plan.content_hash != plan.previous_hash
    if plan is not None:
        plan.unchanged = old == "table" and plan.previous_hash is not None and plan.content_hash == plan.previous_hash
        plan.replaced = not keep and not plan.unchanged
    if not keep:
        return [drop_statement(con, old, schema, table), move_in, *engine_for(con).recreate_views(views)]
    snap_schema, snap = snapshot_location(con, schema, table, plan.version)
    plan.snapshot = f"{snap_schema}.{snap}"
    statements = [f"DROP VIEW IF EXISTS {quote(con, s, n)} CASCADE" for s, n, kind, _ in views if kind == "v"]
    statements += [
        f"DROP MATERIALIZED VIEW IF EXISTS {quote(con, s, n)} CASCADE" for s, n, kind, _ in views if kind == "m"
    ]
    statements.append(f"ALTER TABLE {quote(con, schema, table)} RENAME TO {quote(con, snap)}")
    if snap_schema != schema:
        statements += [
            f"CREATE SCHEMA IF NOT EXISTS {quote(con, snap_schema)}",
            f"ALTER TABLE {quote(con, schema, snap)} SET SCHEMA {quote(con, snap_schema)}",
        ]
    return [*statements, move_in, *engine_for(con).recreate_views(views)]


@contextlib.contextmanager
def keeping_versions(
    con: BaseBackend, store: MetadataStore, name: str, kind: str, *, retain: int, full_refresh: bool = False
) -> Iterator[Keeping | None]:
    """Around one ``materialize`` call: makes its table swap keep the replaced table as a
    snapshot, or, for an incremental build in place, copies the live rows first.

    Yields the :class:`Keeping` to pass to :func:`record_version` (``None`` for a kind
    that has no versions, e.g. a view).
    """
    if kind not in VERSIONED_KINDS:
        yield None
        return
    schema, table = split_name(name)
    latest = latest_version(store, name)
    is_live = latest is not None and latest.location == name and existing_kind(con, schema, table) == "table"
    plan = Keeping(
        target=(schema, table),
        keep=retain >= 2 and is_live,
        version=latest.version if is_live else None,
        previous_hash=latest.content_hash if is_live else None,
    )
    copied = None
    if kind == "incremental" and plan.keep and not full_refresh:
        copied = snapshot_location(con, schema, table, plan.version)
        run_in_transaction(
            con,
            [
                f"CREATE SCHEMA IF NOT EXISTS {quote(con, copied[0])}",
                f"CREATE TABLE {quote(con, *copied)} AS SELECT * FROM {quote(con, schema, table)}",
            ],
        )
    token = KEEPING.set(plan)
    try:
        yield plan
    except BaseException:
        if copied:
            _drop_quietly(con, *copied)
        raise
    finally:
        KEEPING.reset(token)
    if plan.content_hash is None:  # changed in place (incremental): hash the result
        plan.content_hash = content_hash(con, schema, table)
        plan.unchanged = plan.previous_hash is not None and plan.content_hash == plan.previous_hash
        if copied and not plan.unchanged:
            plan.snapshot = f"{copied[0]}.{copied[1]}"
        else:
            plan.replaced = not plan.unchanged
    if copied and plan.snapshot != f"{copied[0]}.{copied[1]}":
        _drop_quietly(con, *copied)


def _drop_quietly(con: BaseBackend, schema: str, table: str) -> None:
    try:
        run_in_transaction(con, [f"DROP TABLE IF EXISTS {quote(con, schema, table)}"])
    except Exception:  # noqa: S110 - the original error matters more; pruning sweeps orphans
        pass


# -- records and retention -----------------------------------------------------------
def latest_version(store: MetadataStore, name: str) -> TableVersion | None:
    versions = store.table_versions(name)
    return versions[-1] if versions else None


def record_version(
    con: BaseBackend,
    store: MetadataStore,
    result: Materialized,
    plan: Keeping | None,
    *,
    retain: int,
    run_id: str | None = None,
    stage: str | None = None,
    unique_key: list[str] | None = None,
    note: str | None = None,
) -> TableVersion | None:
    """Record the build ``result`` as the table's next version, then apply retention.

    A view replacing a table ends the table's versions held by the live table.
    """
    if plan is None:
        latest = latest_version(store, result.name)
        if latest is not None and latest.location == result.name:
            store.expire_versions(
                result.name,
                [v.version for v in store.table_versions(result.name) if v.location == result.name],
                f"replaced by a {result.kind}",
            )
        return None
    version = store.add_version(
        TableVersion(
            table_name=result.name,
            version=0,
            kind=result.kind,
            built_at=time.time(),
            rows=result.rows,
            schema=result.schema,
            content_hash=plan.content_hash,
            location=result.name,
            run_id=run_id,
            stage=stage,
            unique_key=list(unique_key) if unique_key else None,
            note=note,
        ),
        previous_moved_to=plan.snapshot,
        previous_replaced=plan.replaced,
    )
    prune(con, store, result.name, retain)
    return version


def prune(con: BaseBackend, store: MetadataStore, name: str, retain: int) -> list[int]:
    """Expire the versions older than the latest ``retain`` and drop the snapshots no kept
    version uses, and any snapshot of the table no record knows (left by a crash).
    Returns the versions expired now."""
    versions = store.table_versions(name)
    if not versions:
        return []
    cutoff = versions[-1].version - retain
    expiring = [v for v in versions if v.version <= cutoff and v.location is not None]
    if expiring:
        store.expire_versions(name, [v.version for v in expiring], f"expired (retain {retain})")
    used = {v.location for v in versions if v.version > cutoff and v.location is not None}
    schema, table = split_name(name)
    snap_schema, pattern = _snapshot_pattern(con, schema, table)
    present = fetch(
        con,
        "SELECT table_name FROM information_schema.tables "
        f"WHERE table_schema = '{snap_schema}' AND table_type LIKE '%TABLE%'",
    )
    unused = [n for (n,) in present if pattern.fullmatch(n) and f"{snap_schema}.{n}" not in used]
    if unused:
        run_in_transaction(con, [f"DROP TABLE IF EXISTS {quote(con, snap_schema, n)}" for n in unused])
    return [v.version for v in expiring]


# -- reading and restoring ------------------------------------------------------------
def find_version(store: MetadataStore, name: str, version: int | None = None, as_of: Any = None) -> TableVersion:
    """The record of ``version``, or of the latest version built at or before ``as_of``
    (a datetime or an ISO string; naive means UTC); a one-line error if it is not kept."""
    versions = store.table_versions(name)
    if not versions:
        raise MillpondError(f"{name} has no recorded versions; build it with ctx.materialize first")
    if version is not None and as_of is not None:
        raise MillpondError(f"{name}: give version= or as_of=, not both")
    if as_of is not None:
        moment = _timestamp(as_of)
        before = [v for v in versions if v.built_at <= moment]
        if not before:
            first = dt.datetime.fromtimestamp(versions[0].built_at, dt.timezone.utc).isoformat(timespec="seconds")
            raise MillpondError(f"{name} did not exist at {as_of} (its first version was built at {first})")
        found = before[-1]
    elif version is None:
        found = versions[-1]
    else:
        matches = [v for v in versions if v.version == version]
        if not matches:
            raise MillpondError(
                f"{name} has no version {version} (versions 1 to {versions[-1].version}; see `millpond versions {name}`)"
            )
        found = matches[0]
    if found.location is None:
        kept = [str(v.version) for v in versions if v.location is not None]
        raise MillpondError(
            f"{name} version {found.version} has expired (kept: {', '.join(kept) or 'none'}); "
            f"raise `retain` to keep more versions"
        )
    return found


def _timestamp(value: Any) -> float:
    if isinstance(value, str):
        try:
            value = dt.datetime.fromisoformat(value)
        except ValueError:
            raise MillpondError(f"as_of {value!r}: expected an ISO date or time such as 2024-01-31T12:00") from None
    if isinstance(value, dt.date) and not isinstance(value, dt.datetime):
        value = dt.datetime.combine(value, dt.time.max)
    if not isinstance(value, dt.datetime):
        raise MillpondError(f"as_of {value!r}: expected a datetime or an ISO string")
    if value.tzinfo is None:
        value = value.replace(tzinfo=dt.timezone.utc)
    return value.timestamp()


def version_table(
    con: BaseBackend, store: MetadataStore, name: str, version: int | None = None, as_of: Any = None
) -> ir.Table:
    """An Ibis table of one version of ``name`` (see :func:`find_version`)."""
    found = find_version(store, name, version, as_of)
    schema, table = split_name(found.location)  # the live table's location is its name: in the store's environment
    if existing_kind(con, schema, table) != "table":
        raise MillpondError(
            f"{name} version {found.version}: its rows ({found.location}) are missing from the warehouse"
        )
    return described_table(con, table, schema)
