"""One load of a source: plan it against the state in the warehouse, then commit the rows and
the new state in one transaction (:func:`load_source`).

The plan goes through ``build(plan, also)``, which materializes its rows into the
source's target as an incremental table (``ctx.load`` passes its recorded build, with
versions and the table's declared checks); ``also`` are the statements that write the
state and the records held in quarantine (:mod:`millpond.sources.held`), committed in that
build's transaction. A load from scratch (no target yet, or a
full refresh) ignores the state and replaces all of it.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from millpond.engines import engine_for
from millpond.sources.held import held_statements
from millpond.sources.registry import LoadPlan, Source
from millpond.sources.state import read_state, state_statements
from millpond.warehouse.lease import Lease
from millpond.warehouse.sql import quote, run_in_transaction, split_name

if TYPE_CHECKING:
    from ibis.backends import BaseBackend

Build = Callable[[LoadPlan, list[str]], Any]
"""``build(plan, also)``; ``plan.rows`` is ``None`` when nothing is new (record the table as it is)."""


@dataclass
class Loaded:
    """What one load did: the counts its plan found (files new, changed, ...) and the build."""

    source: str
    target: str
    counts: dict[str, int] = field(default_factory=dict)
    built: Any = None
    """What ``build`` returned (``ctx.load``: the :class:`~millpond.warehouse.materialize.Materialized`)."""

    def __repr__(self) -> str:
        found = ", ".join(f"{n} {what}" for what, n in self.counts.items() if n) or "nothing"
        rows = getattr(self.built, "new_rows", None)
        return f"Loaded {self.source} into {self.target} ({found})" + (
            f": {rows:,} new rows" if rows is not None else ""
        )


def load_source(
    con: BaseBackend,
    source: Source,
    build: Build,
    *,
    loaded_at: datetime,
    run_id: str | None,
    full_refresh: bool = False,
    lock: Path | None = None,
) -> Loaded:
    """Load what is new of ``source`` into its target (see the module docstring).

    ``lock``: a file under the workspace's metadata; on an engine without transactions
    (Spark) the load holds an exclusive lock on it from reading the state to committing it,
    so loads of several sources in one run never read or rewrite the shared state table at
    the same time (a transactional engine isolates them itself).
    """
    if lock is not None and not engine_for(con).transactional:
        lease = Lease(lock, holder=f"load of source {source.name}")
        lease.acquire()
        try:
            return load_source(con, source, build, loaded_at=loaded_at, run_id=run_id, full_refresh=full_refresh)
        finally:
            lease.release()
    schema, table = split_name(source.spec.target)
    whole = full_refresh or engine_for(con).maybe_table(table, schema) is None
    state = {} if whole else read_state(con, source.name)
    plan = source.plan(con, state, loaded_at=loaded_at)
    loaded = Loaded(source.name, source.spec.target, plan.counts)
    if plan.rows is None:  # nothing new: nothing to build or commit
        loaded.built = build(plan, [])
        return loaded
    try:
        also = state_statements(
            con, source.name, plan.state, plan.dropped, whole=whole, loaded_at=loaded_at, run_id=run_id
        )
        also += held_statements(
            con, source.spec.target, plan.held, plan.incremental.partitions, whole=whole, run_id=run_id
        )
        also += [f"DROP TABLE {quote(con, *temp)}" for temp in plan.temps]
        loaded.built = build(plan, also)
    except BaseException:
        if plan.temps:  # the plan's own tables; the next load drops one a kill leaves
            with contextlib.suppress(Exception):
                run_in_transaction(con, [f"DROP TABLE IF EXISTS {quote(con, *temp)}" for temp in plan.temps])
        raise
    return loaded
