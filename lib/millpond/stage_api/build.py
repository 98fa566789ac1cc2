"""The steps of ``ctx.materialize``: build, record, lineage, version, lake, plan, profile.

:func:`build_table` is what :meth:`millpond.stage_api.context.StageContext.materialize` does once it
has gathered its options. A table of the run's ``publish_together`` group
(``MILLPOND_PUBLISH_TOGETHER``, set by the runner) is built under a staged name and
recorded as waiting (:mod:`millpond.warehouse.staging`); the runner versions it, swaps it
in with the rest of the group and publishes it to the lake at the end of the run. Any
other table is swapped in at once and versioned here.
"""

from __future__ import annotations

import json
import os
import time
from typing import TYPE_CHECKING, Any

from millpond.engines import described_table
from millpond.errors import MillpondError
from millpond.pipeline.tables import declared_checks
from millpond.quality.pii import mask_detail, mask_sample
from millpond.store.metadata import Materialization
from millpond.warehouse.audit import Audit, checks_audit
from millpond.warehouse.materialize import Materialized, materialize
from millpond.warehouse.query_plan import show_query_plan
from millpond.warehouse.sql import split_name
from millpond.warehouse.staging import STAGED_KINDS, in_group, start_staged, unstaged
from millpond.warehouse.versions import keeping_versions, record_version

if TYPE_CHECKING:
    import ibis.expr.types as ir

    from millpond.stage_api.context import StageContext


def publish_group() -> list[str]:
    """The ``publish_together`` group of the run this kernel serves (empty outside a run)."""
    return json.loads(os.environ.get("MILLPOND_PUBLISH_TOGETHER") or "[]")


def build_table(
    ctx: StageContext,
    expr: ir.Table,
    name: str,
    kind: str,
    options: dict[str, Any],
    unique_key: list[str] | None,
    *,
    lineage: ir.Table | None = None,
) -> Materialized:
    """Build ``expr`` as ``name`` for ``ctx`` with ``materialize``'s ``options`` and record it;
    ``lineage`` is the expression whose SQL column lineage records (``expr`` by default: a
    source's load builds from a staged read but records the read of its files)."""
    spec = ctx.table_spec(name)
    retain = spec.retain or ctx.workspace.spec.versions.retain
    staged = ctx.under_runner and kind in STAGED_KINDS and in_group(name, publish_group())
    ctx._check_run_alive(name)
    if staged:
        result, target = _build_staged(ctx, expr, name, kind, options, declared_audit(ctx, name))
        kept = None
    else:
        with keeping_versions(
            ctx.con, ctx.store, name, kind, retain=retain, full_refresh=bool(options.get("full_refresh"))
        ) as kept:
            result = materialize(ctx.con, expr, name, kind, spec=spec, audit=declared_audit(ctx, name), **options)
    ctx._check_run_alive(name)
    build = ctx.store.record_materialization(
        Materialization(
            table_name=name,
            kind=kind,
            rows=result.rows,
            schema=result.schema,
            duration=result.duration,
            fingerprint=ctx.fingerprint,
            run_id=ctx.run_id,
            stage=ctx.stage_name,
            built_at=time.time(),
        )
    )
    from millpond.lineage.compiled import record_compiled_sql  # its SQL, for column lineage

    record_compiled_sql(
        ctx.con, ctx.store, expr if lineage is None else lineage, name, run_id=ctx.run_id, stage=ctx.stage_name
    )
    keys = unique_key if kind == "incremental" else None
    if staged:
        ctx.store.record_pending(build, ctx.run_id, name, target, unique_key=keys)
    else:
        record_version(
            ctx.con, ctx.store, result, kept, retain=retain, run_id=ctx.run_id, stage=ctx.stage_name, unique_key=keys
        )
        if spec.publish is not None:  # `publish:` under the stage's tables
            ctx.publish(name)
    if os.environ.get("MILLPOND_PROFILE") == "1":  # `millpond run --profile`
        show_query_plan(ctx.con, expr, name)
    if ctx.under_runner and ctx.workspace.spec.quality.monitors.enabled:
        ctx._profile(name)
    return result


def record_unchanged(ctx: StageContext, name: str, strategy: str) -> Materialized:
    """Record incremental table ``name`` as built by this stage with nothing new (a source's
    load that found nothing): no build, no new version; its rows and schema as they are."""
    ctx._check_run_alive(name)
    schema, table = split_name(name)
    live = described_table(ctx.con, table, schema)
    types = {col: str(dtype) for col, dtype in live.schema().items()}
    result = Materialized(name, "incremental", int(live.count().execute()), types, 0.0, 0, strategy)
    ctx.store.record_materialization(
        Materialization(
            table_name=name,
            kind="incremental",
            rows=result.rows,
            schema=result.schema,
            duration=result.duration,
            fingerprint=ctx.fingerprint,
            run_id=ctx.run_id,
            stage=ctx.stage_name,
            built_at=time.time(),
        )
    )
    return result


def _build_staged(
    ctx: StageContext, expr: ir.Table, name: str, kind: str, options: dict[str, Any], audit: Any
) -> tuple[Materialized, str]:
    """Build ``name`` under its staged name, from a copy of the live table; the result is named ``name``."""
    target = start_staged(ctx.con, name, ctx.run_id)
    try:
        result = materialize(ctx.con, expr, target, kind, spec=ctx.table_spec(name), audit=audit, **options)
    except MillpondError as exc:  # say the table's name, not where it was staged
        exc.args = tuple(unstaged(a) if isinstance(a, str) else a for a in exc.args)
        raise
    result.name = name
    return result, target


def declared_audit(ctx: Any, name: str) -> Audit | None:
    """The :func:`checks_audit` of table ``name`` for a stage context ``ctx``
    (:class:`millpond.stage_api.context.StageContext`): the checks its pipeline declares; under the
    runner a failed audit is recorded with the run and stage, samples PII-masked."""

    def record(rows: list[dict]) -> None:
        if ctx.under_runner:
            quality = ctx.workspace.spec.quality
            ctx.store.record_checks(
                ctx.run_id,
                ctx.stage_name,
                [
                    r | {"sample": mask_sample(r["sample"], quality), "detail": mask_detail(r["detail"], quality)}
                    for r in rows
                ],
            )

    declared = declared_checks(ctx.workspace, name, ctx.pipeline)
    return checks_audit(name, declared, table=ctx.table, con=ctx.con, record=record) if declared else None
