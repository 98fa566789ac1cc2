"""Development environments compared with production, promoted into it, or dropped.

An environment (:mod:`millpond.environment`) holds the tables its stages built, in
schemas of its own (``gold__alice``), and their history. :func:`env_diff` compares each
with production's table of the same name: ``added`` (production has none), ``changed``
(rows or schema differ: compared by content hash, one scan of each), ``identical``, or
``missing`` (recorded, but gone from the warehouse).

:func:`promote` makes production what the environment built, the way a run publishes its
``publish_together`` group (:mod:`millpond.warehouse.staging`): the added and changed
tables are copied beside production's under staged names, then swapped in with one
transaction, each replaced table kept as a version. Nothing is recomputed: no notebook
runs, and an identical table is not even copied. Production's history records the
builds with the environment's fingerprints, so the next ``millpond run`` skips the stages
the environment ran with ``millpond run --env`` (a table built in JupyterLab carries no
stage's fingerprint, and its stage runs again). The run lock keeps runs out meanwhile; a
promotion killed half-way leaves production as it was, or, killed after the swap, its
stages are rerun by the next run (their builds were never marked published).

:func:`drop_env` drops the environment's schemas, lake copies and history.
"""

from __future__ import annotations

import re
import shutil
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from millpond.engines import engine_for
from millpond.environment import PROD, SEPARATOR, active, check_env_name, env_dir, env_names, logical_name
from millpond.errors import MillpondError
from millpond.project import project_of
from millpond.run.lock import RunLock
from millpond.store.metadata import Materialization
from millpond.store.runs import new_run_id
from millpond.store.table_sql import TableSql
from millpond.warehouse.lake import LAKE_DIR
from millpond.warehouse.sql import (
    drop_statement,
    ensure_schema,
    existing_kind,
    fetch,
    quote,
    run_in_transaction,
    split_name,
)
from millpond.warehouse.staging import StagedBuild, drop_staged, publish_staged, staged_name
from millpond.warehouse.versions import content_hash
from millpond.workspace import Workspace

if TYPE_CHECKING:
    from ibis.backends import BaseBackend

    from millpond.store.metadata import MetadataStore

PROMOTED_KINDS = ("table", "incremental")
"""The kinds a promotion copies; a view is rebuilt by running its stage in production."""


@dataclass
class TableChange:
    """One table of an environment, compared with production's."""

    name: str
    status: str
    """``added``, ``changed``, ``identical``, ``missing`` or ``view`` (not promoted)."""
    kind: str
    rows: int | None
    prod_rows: int | None
    columns_added: list[str] = field(default_factory=list)
    columns_removed: list[str] = field(default_factory=list)
    types_changed: list[str] = field(default_factory=list)


@dataclass
class EnvSummary:
    """One development environment: its tables and when it last built one."""

    name: str
    tables: int
    last_built: float | None


def list_envs(workspace: Workspace) -> list[EnvSummary]:
    """The development environments on the current warehouse (``millpond env list``)."""
    project = project_of(workspace)
    found = []
    for name in env_names(workspace):
        builds = project.store(name).latest_materializations()
        found.append(EnvSummary(name, len(builds), max((m.built_at for m in builds.values()), default=None)))
    return found


def env_diff(workspace: Workspace, env: str) -> list[TableChange]:
    """Each table environment ``env`` built, compared with production's (``millpond env diff``)."""
    env = check_env_name(env)
    store = _env_store(workspace, env)
    warehouse = project_of(workspace).warehouse(f"a comparison of environment {env} with production")
    try:
        return _compare(warehouse.hold(), store, env)
    finally:
        warehouse.close()


def _env_store(workspace: Workspace, env: str) -> MetadataStore:
    env = check_env_name(env)
    if env == PROD:
        raise MillpondError("name a development environment: prod is what the others are compared with")
    if env not in env_names(workspace):
        known = ", ".join(env_names(workspace)) or "none yet"
        raise MillpondError(f"no environment {env} on this warehouse (environments: {known})")
    return project_of(workspace).store(env)


def _compare(con: BaseBackend, store: MetadataStore, env: str) -> list[TableChange]:
    engine = engine_for(con)
    changes = []
    for name, built in sorted(store.latest_materializations().items()):
        here, there = split_name(name, env), split_name(name, PROD)
        mine, theirs = existing_kind(con, *here), existing_kind(con, *there)
        if built.kind not in PROMOTED_KINDS or mine == "view":
            changes.append(TableChange(name, "view", built.kind, None, None))
            continue
        if mine is None:
            changes.append(TableChange(name, "missing", built.kind, None, None))
            continue
        rows = _count(engine, here)
        if theirs is None:
            changes.append(TableChange(name, "added", built.kind, rows, None))
            continue
        new, old = _columns(engine, here), _columns(engine, there)
        same = new == old and content_hash(con, *here) == content_hash(con, *there)
        changes.append(
            TableChange(
                name,
                "identical" if same else "changed",
                built.kind,
                rows,
                _count(engine, there),
                columns_added=[c for c in new if c not in old],
                columns_removed=[c for c in old if c not in new],
                types_changed=[f"{c}: {old[c]} -> {new[c]}" for c in new if c in old and old[c] != new[c]],
            )
        )
    return changes


def _count(engine, where: tuple[str, str]) -> int:
    return int(engine.fetch(f"SELECT count(*) FROM {engine.quote(*where)}")[0][0])


def _columns(engine, where: tuple[str, str]) -> dict[str, str]:
    schema = engine.describe(where[1], where[0]).schema()
    return {column: str(dtype) for column, dtype in schema.items()}


@dataclass
class Promotion:
    """What a promotion did."""

    env: str
    copied: list[str]
    identical: list[str]
    skipped: list[TableChange]
    runs: list[str]


def promote(workspace: Workspace, env: str, *, wait: bool = False) -> Promotion:
    """Make production what environment ``env`` built (``millpond env promote``): see the
    module docstring. Holds the run lock and the warehouse meanwhile."""
    env = check_env_name(env)
    store = _env_store(workspace, env)
    lock = RunLock(workspace.meta_dir, f"promotion of environment {env}")
    lock.acquire(wait=wait)
    warehouse = project_of(workspace).warehouse(f"the promotion of environment {env}")
    try:
        with active(PROD):
            return _promote(workspace, warehouse.hold(), store, env)
    finally:
        warehouse.close()
        lock.release()


def _promote(workspace: Workspace, con: BaseBackend, store: MetadataStore, env: str) -> Promotion:
    prod = project_of(workspace).store(PROD)
    changes = _compare(con, store, env)
    # what a promotion killed half-way left under staged names (the run lock keeps runs out)
    drop_staged(con, sorted({split_name(c.name, PROD)[0] for c in changes}))
    moving = [c for c in changes if c.status in ("added", "changed")]
    same = [c for c in changes if c.status == "identical"]
    built = store.latest_materializations()
    runs = _record_runs(prod, store, {c.name for c in moving + same}, built)
    run_id = runs[0] if runs else new_run_id()
    if not runs:
        prod.start_run(run_id, f"promotion of {env}", {}, [])
    retain = workspace.spec.versions.retain
    builds = []
    run_of_stage = {r["stage"]: promoted for promoted in runs for r in prod.stage_runs(promoted)}
    for change in moving + same:
        m = built[change.name]
        if change in same and m.stage not in run_of_stage:
            continue  # production's table stands: nothing to copy, nothing to record
        record = Materialization(  # the environment's build, as it was: downstream fingerprints agree
            change.name,
            m.kind,
            change.rows,
            m.schema,
            m.duration,
            m.fingerprint,
            run_of_stage.get(m.stage or "", run_id),
            m.stage,
            m.built_at,
        )
        build_id = prod.record_materialization(record)
        if change in moving:
            staged = staged_name(change.name, run_id)
            prod.record_pending(build_id, run_id, change.name, staged, unique_key=None)
            ensure_schema(con, split_name(staged)[0])
            run_in_transaction(
                con,
                [
                    f"CREATE TABLE {quote(con, *split_name(staged))} AS "
                    f"SELECT * FROM {quote(con, *split_name(change.name, env))}"
                ],
            )
            builds.append(StagedBuild(change.name, staged, m.kind, change.rows, m.schema, None, retain, m.stage))
        _copy_lineage(store, prod, change.name, env, run_id)
    try:
        if builds:
            publish_staged(con, prod, builds, run_id=run_id, note=f"promoted from environment {env}")
    except BaseException:
        drop_staged(con, list({split_name(b.staged)[0] for b in builds}))
        for promoted in runs:
            prod.finish_run(promoted, "failed")
        raise
    prod.published(run_id)
    for promoted in runs or [run_id]:
        prod.finish_run(promoted, "success")
    return Promotion(
        env, [c.name for c in moving], [c.name for c in same], [c for c in changes if c not in moving + same], runs
    )


def _record_runs(prod: MetadataStore, store: MetadataStore, tables: set[str], built: dict) -> list[str]:
    """One production run per pipeline the environment ran, with the stages whose every
    product is promoted or identical, each with the fingerprint of its last success there."""
    runs = []
    for pipeline, stages in store.last_successes().items():
        carried = {
            stage: fingerprint
            for stage, fingerprint in stages.items()
            if any(m.stage == stage for m in built.values())
            and all(name in tables for name, m in built.items() if m.stage == stage)
        }
        if not carried:
            continue
        run_id = new_run_id()
        while prod.run(run_id) is not None:  # two in one second
            time.sleep(0.01)
            run_id = new_run_id()
        prod.start_run(run_id, pipeline, {}, sorted(carried))
        for stage, fingerprint in carried.items():
            prod.set_stage(run_id, stage, status="success", fingerprint=fingerprint, finished_at=time.time())
        runs.append(run_id)
    return runs


def _copy_lineage(store: MetadataStore, prod: MetadataStore, name: str, env: str, run_id: str) -> None:
    """The environment's compiled SQL of ``name``, its own tables named as production's."""
    record = store.table_sqls().get(name)
    if record is None:
        return
    own_schema = re.compile(rf'"([A-Za-z_][A-Za-z0-9_]*?){SEPARATOR}{env}"')
    prod.record_table_sql(
        TableSql(
            name,
            record.dialect,
            own_schema.sub(r'"\1"', record.sql),
            {logical_name(source, env): columns for source, columns in record.sources.items()},
            run_id=run_id,
            stage=record.stage,
        )
    )


def drop_env(workspace: Workspace, env: str) -> list[str]:
    """Drop environment ``env``: its tables and schemas, its lake copies and its history
    (``millpond env drop``); the tables dropped."""
    env = check_env_name(env)
    _env_store(workspace, env)
    warehouse = project_of(workspace).warehouse(f"dropping environment {env}")
    dropped = []
    try:
        con = warehouse.hold()
        rows = fetch(
            con,
            "SELECT table_schema, table_name, table_type FROM information_schema.tables "
            f"WHERE table_schema LIKE '%{SEPARATOR}{env}'",
        )
        mine = [r for r in rows if r[0].endswith(f"{SEPARATOR}{env}")]
        statements = [drop_statement(con, "view", s, t) for s, t, kind in mine if "VIEW" in str(kind).upper()]
        statements += [drop_statement(con, "table", s, t) for s, t, kind in mine if "VIEW" not in str(kind).upper()]
        statements += [f"DROP SCHEMA IF EXISTS {quote(con, s)}" for s in sorted({r[0] for r in mine})]
        if statements:
            run_in_transaction(con, statements)
        dropped = sorted(logical_name(f"{s}.{t}", env) for s, t, _ in mine)
    finally:
        warehouse.close()
    lake = workspace.path(LAKE_DIR)
    for folder in lake.glob(f"*{SEPARATOR}{env}") if lake.is_dir() else []:
        shutil.rmtree(folder, ignore_errors=True)
    shutil.rmtree(env_dir(workspace, env), ignore_errors=True)
    return dropped
