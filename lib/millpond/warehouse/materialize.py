"""Atomic, idempotent, recorded materializations of Ibis expressions.

A ``table`` is built under a temporary name in the target schema, then swapped in
with one transaction (drop the old object, rename the new one), so a reader sees
the old table or the new one, never a half-built or missing one; a failed build
drops its temporary table and leaves the old one in place. A ``view`` is replaced
with ``CREATE OR REPLACE VIEW`` (inside the same kind of transaction when it
replaces a table). An ``incremental`` table adds only what is new to the existing
one (strategies in :mod:`millpond.warehouse.incremental`); it is built whole, by the
same swap, the first time and on a full refresh. Running the same materialization
twice leaves the same rows.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable

import ibis.expr.operations as ops

from millpond.engines import described_table
from millpond.errors import MillpondError
from millpond.settings.tables import VolumeGuard, parse_contract
from millpond.warehouse.audit import build_audit, volume_guard
from millpond.warehouse.contracts import enforce_contract
from millpond.warehouse.evolution import check_policy, rebuild
from millpond.warehouse.incremental import apply_incremental, drop_stale_staging
from millpond.warehouse.materialized import Materialized
from millpond.warehouse.matview import refresh_materialized_view
from millpond.warehouse.sql import (
    TEMP_PREFIX,
    drop_statement,
    ensure_schema,
    existing_kind,
    quote,
    run_in_transaction,
    split_name,
)
from millpond.warehouse.staging import unstaged
from millpond.warehouse.swap import swap_in_table

if TYPE_CHECKING:
    import ibis.expr.types as ir
    from ibis.backends import BaseBackend

    from millpond.settings.tables import Contract, TableSpec
    from millpond.warehouse.incremental import Incremental

__all__ = [
    "TEMP_PREFIX",
    "BuildRequest",
    "KindOutcome",
    "Materialized",
    "existing_kind",
    "kinds",
    "materialize",
    "register_kind",
    "split_name",
]


def materialize(
    con: BaseBackend,
    expr: ir.Table,
    name: str,
    kind: str = "table",
    *,
    incremental: Incremental | None = None,
    full_refresh: bool = False,
    spec: TableSpec | None = None,
    on_schema_change: str | None = None,
    contract: Contract | dict | None = None,
    run_id: str | None = None,
    upstream_version: Callable[[str], str | None] | None = None,
    watermark: str | None = None,
    audit: Callable[[ir.Table], list[str]] | None = None,
    also: Sequence[str] = (),
) -> Materialized:
    """Build ``expr`` as ``name`` atomically and return what was built.

    Parameters
    ----------
    con
        An Ibis backend (DuckDB or PostgreSQL).
    expr
        The table expression to materialize.
    name
        ``layer.table``; the layer is a schema, created if missing.
    kind
        ``"table"``, ``"view"``, ``"incremental"`` or ``"materialized_view"``
        (:mod:`millpond.warehouse.matview`).
    incremental
        For ``kind="incremental"``: the strategy and its columns, an
        :class:`~millpond.warehouse.incremental.Incremental`.
    full_refresh
        For ``kind="incremental"``: rebuild the table whole from ``expr``; for a
        ``table`` with an ``on_schema_change`` policy: accept a breaking change.
    spec
        The table's declared options (``tables:`` in the pipeline spec), if any.
    on_schema_change, contract
        What a change of columns or types does (:mod:`millpond.warehouse.evolution`;
        default ``fail`` for ``incremental``, no check for ``table``) and the contract
        checked before the swap (:mod:`millpond.warehouse.contracts`); they win over ``spec``.
    run_id
        The run recorded with rows held in quarantine.
    upstream_version, watermark
        For ``materialized_view``: the version of an upstream table (``None`` when unknown;
        without it the view always refreshes) and the column new upstream rows grow along.
    audit
        Problems of the new build, checked before the swap with the contract and, when
        ``spec`` is given, its volume guard (:mod:`millpond.warehouse.audit`): the
        table's declared checks, as ``ctx.materialize`` passes them.
    also
        For ``kind="incremental"``: statements committed in the same transaction as the
        build (a loader's state: :mod:`millpond.sources`), so neither commits without the other.

    Examples
    --------
    >>> import ibis
    >>> con = ibis.duckdb.connect()
    >>> t = ibis.memtable({"id": [1, 2, 3]})
    >>> materialize(con, t, "gold.numbers")
    Materialized gold.numbers (table): 3 rows, 1 columns
    >>> materialize(con, t, "gold.numbers")  # idempotent
    Materialized gold.numbers (table): 3 rows, 1 columns
    >>> materialize(con, con.table("numbers", database="gold").filter(lambda t: t.id > 1), "gold.big", kind="view")
    Materialized gold.big (view): 2 rows, 1 columns
    >>> from millpond.warehouse.incremental import Incremental
    >>> materialize(con, ibis.memtable({"id": [2, 3, 4]}), "gold.numbers", kind="incremental",
    ...             incremental=Incremental.of("append", watermark="id"))
    Materialized gold.numbers (incremental): 4 rows, 1 columns, 1 new rows by append
    """
    builder = _KIND_BUILDERS.get(kind)
    if builder is None:
        raise MillpondError(f"materialize {name}: unknown kind {kind!r} (choose from {', '.join(kinds())})")
    if kind == "incremental" and incremental is None:
        raise MillpondError(f"materialize {name}: kind 'incremental' needs incremental=Incremental.of(strategy, ...)")
    schema, table = split_name(name)
    if spec is not None:  # columns the catalog declares (descriptions, tags, key) must be built
        spec.check_columns(name, list(expr.columns))
    started = time.perf_counter()
    ensure_schema(con, schema)

    policy = check_policy(on_schema_change or (spec.on_schema_change if spec else None), name)
    contract = parse_contract(contract if contract is not None else (spec.contract if spec else None), name)

    verify = build_audit(
        con,
        name,
        volume=spec.volume_guard(name) if spec is not None else None,
        checks=audit,
        contract_check=(lambda temp: enforce_contract(name, contract, temp)) if contract else None,
    )
    outcome = builder(
        BuildRequest(
            con,
            expr,
            name,
            schema,
            table,
            incremental,
            full_refresh,
            policy,
            contract,
            run_id,
            verify,
            upstream_version,
            watermark,
            tuple(also),
            spec.volume_guard(name) if spec is not None else None,
        )
    )
    new_rows, held, refresh = outcome.new_rows, outcome.held, outcome.refresh

    built = described_table(con, table, schema)
    rows = int(built.count().execute())
    types = {col: str(dtype) for col, dtype in built.schema().items()}
    strategy = incremental.strategy if incremental is not None and kind == "incremental" else None
    return Materialized(
        name, kind, rows, types, time.perf_counter() - started, new_rows, strategy, held=held, refresh=refresh
    )


def _replace_view(con: BaseBackend, expr: ir.Table, schema: str, table: str) -> None:
    if expr.op().find(ops.InMemoryTable):
        raise MillpondError(
            f"materialize {schema}.{table}: a view cannot be built over in-memory data; use kind='table'"
        )

    query = unstaged(con.compile(expr))  # a view of tables a run publishes together reads the published ones
    old = existing_kind(con, schema, table)
    statements = [drop_statement(con, old, schema, table)] if old == "table" else []
    statements.append(f"CREATE OR REPLACE VIEW {quote(con, schema, table)} AS {query}")
    run_in_transaction(con, statements)


# -- the kinds: one builder each, in a registry ---------------------------------------------


@dataclass(frozen=True)
class BuildRequest:
    """What a kind's builder gets: the expression, where it goes, and the checks it must pass."""

    con: BaseBackend
    expr: ir.Table
    name: str
    schema: str
    table: str
    incremental: Incremental | None
    full_refresh: bool
    policy: str | None
    """The schema-change policy (:mod:`millpond.warehouse.evolution`)."""
    contract: Contract | None
    run_id: str | None
    verify: Callable[[ir.Table], None] | None
    """Audits a temporary build before it is swapped in (contract, volume, declared checks)."""
    upstream_version: Callable[[str], str | None] | None = None
    watermark: str | None = None
    also: tuple[str, ...] = ()
    """Statements the build commits in its own transaction (incremental: a loader's state)."""
    volume: VolumeGuard | None = None
    """The table's volume guard; an incremental build checks it inside its transaction."""


@dataclass(frozen=True)
class KindOutcome:
    """What a kind's builder reports beyond the table itself."""

    new_rows: int | None = None
    held: int | None = None
    refresh: str | None = None


KindBuilder = Callable[[BuildRequest], KindOutcome]
_KIND_BUILDERS: dict[str, KindBuilder] = {}


def register_kind(name: str, builder: KindBuilder) -> None:
    """Make ``kind=name`` build with ``builder``: a new materialization kind is one function and this line.

    >>> register_kind("table", _build_table)  # the built-in kinds register themselves the same way
    >>> kinds()
    ('table', 'view', 'incremental', 'materialized_view')
    """
    _KIND_BUILDERS[name] = builder


def kinds() -> tuple[str, ...]:
    """The materialization kinds there are, in the order they were registered."""
    return tuple(_KIND_BUILDERS)


def _build_table(r: BuildRequest) -> KindOutcome:
    return KindOutcome(
        held=rebuild(
            r.con, r.expr, r.schema, r.table, r.policy, full_refresh=r.full_refresh, run_id=r.run_id, verify=r.verify
        )
    )


def _build_view(r: BuildRequest) -> KindOutcome:
    if r.contract is not None:
        raise MillpondError(f"materialize {r.name}: a contract is enforced on tables; a view has no rows to check")
    _replace_view(r.con, r.expr, r.schema, r.table)
    return KindOutcome()


def _build_incremental(r: BuildRequest) -> KindOutcome:
    if r.incremental is None:
        raise MillpondError(f"materialize {r.name}: kind 'incremental' needs incremental=Incremental.of(strategy, ...)")
    r.incremental.validate(r.name, list(r.expr.columns))
    drop_stale_staging(r.con, r.schema, r.table)
    if r.full_refresh or existing_kind(r.con, r.schema, r.table) != "table":
        swap_in_table(
            r.con, r.expr, r.schema, r.table, verify=r.verify, also=(lambda _: list(r.also)) if r.also else None
        )
        return KindOutcome()
    new_rows, held = apply_incremental(
        r.con,
        r.expr,
        r.schema,
        r.table,
        r.incremental,
        on_schema_change=r.policy,
        contract=r.contract,
        run_id=r.run_id,
        also=r.also,
        guard=volume_guard(r.con, r.name, r.volume),
    )
    return KindOutcome(new_rows=new_rows, held=held)


def _build_materialized_view(r: BuildRequest) -> KindOutcome:
    new_rows, refresh = refresh_materialized_view(
        r.con,
        r.expr,
        r.schema,
        r.table,
        upstream_version=r.upstream_version,
        watermark=r.watermark,
        contract=r.contract,
    )
    return KindOutcome(new_rows=new_rows, refresh=refresh)


register_kind("table", _build_table)
register_kind("view", _build_view)
register_kind("incremental", _build_incremental)
register_kind("materialized_view", _build_materialized_view)
