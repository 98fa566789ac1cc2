"""Compaction: give back the space dropped tables and deleted rows leave in the warehouse.

A warehouse file (the embedded engine) is rewritten by its engine's
:meth:`~millpond.engines.base.Engine.compact_file` while this module holds the warehouse
lease, so no other millpond process is on it. A server engine compacts over a connection
(:meth:`~millpond.engines.base.Engine.compact`: PostgreSQL's ``VACUUM``), and an engine
with nothing to give back says so (``cannot_compact``).

``millpond compact [--if-wasteful]`` runs it; the runner runs it at the end of a run
when the file is over ``compaction.min_size_mb`` and its waste over ``compaction.waste``.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from millpond.engines import DEFAULT_URL, engine_class, engine_for
from millpond.engines.base import MB, Compacted, Waste
from millpond.errors import MillpondError
from millpond.warehouse.connect import connect
from millpond.warehouse.lease import Lease

if TYPE_CHECKING:
    from ibis.backends import BaseBackend

    from millpond.workspace import Workspace

__all__ = ["MB", "Compacted", "Waste", "compact_after_run", "compact_workspace", "file_waste", "measure_waste"]


def measure_waste(con: BaseBackend) -> Waste:
    """Free space of the warehouse behind ``con``: DuckDB free blocks, PostgreSQL dead rows
    (counted in rows: ``total`` is live + dead rows).

    >>> import ibis
    >>> measure_waste(ibis.duckdb.connect()).ratio
    0.0
    """
    return engine_for(con).measure_waste()


@contextmanager
def _leased(path: Path, holder: str, wait: bool) -> Iterator[None]:
    """Hold the warehouse lease of ``path``; without ``wait``, a busy warehouse is an error."""
    lease = Lease(path, holder)
    if wait:
        lease.acquire()
    elif not lease.try_acquire():
        raise MillpondError(f"the warehouse is busy (held by {lease.current_holder()}); run `millpond compact` later")
    try:
        yield
    finally:
        lease.release()


def compact_workspace(
    workspace: Workspace, *, if_wasteful: bool = False, holder: str = "millpond compact", wait: bool = True
) -> tuple[Waste, Compacted | None]:
    """Compact the workspace's warehouse (only past the ``compaction`` thresholds when
    ``if_wasteful``); returns the waste measured before and what was done (``None``: nothing).
    Without ``wait``, a warehouse file another process holds is an error instead of a wait."""
    settings = workspace.spec.compaction
    url = workspace.warehouse_url()
    engine = engine_class(url)
    db_file = engine.database_file(url)
    if db_file is not None:
        if not db_file.exists():
            raise MillpondError(f"no warehouse file {workspace.relative(db_file)} yet; run a pipeline first")
        waste = file_waste(db_file, holder, wait=wait, engine=engine)
        if waste.free_bytes == 0:  # nothing to give back: a rewrite could only cost time, or grow it
            return waste, None
        if if_wasteful and (waste.ratio < settings.waste or db_file.stat().st_size < settings.min_size_mb * MB):
            return waste, None
        with _leased(db_file, holder, wait):
            return waste, engine.compact_file(db_file)
    if engine.cannot_compact:
        raise MillpondError(engine.cannot_compact)
    con = connect(workspace)
    try:
        waste = measure_waste(con)
        if if_wasteful and waste.ratio < settings.waste:
            return waste, None
        return waste, engine_for(con).compact()
    finally:
        con.disconnect()


def file_waste(path: Path, holder: str = "millpond compact", *, wait: bool = True, engine=None) -> Waste:
    """:func:`measure_waste` of the warehouse file ``path`` (of ``engine``, by default the
    embedded default's), opened read-only under the lease."""
    engine = engine or engine_class(DEFAULT_URL)
    with _leased(Path(path), holder, wait):
        return engine.file_waste(Path(path))


def compact_after_run(workspace: Workspace) -> str | None:
    """The runner's end-of-run compaction: a line for the run output, or ``None`` when the
    warehouse is not wasteful (or ``compaction.auto`` is off). Never fails the run."""
    if not workspace.spec.compaction.auto:
        return None
    db_file = workspace.warehouse_file()
    if db_file is None or not db_file.exists() or db_file.stat().st_size < workspace.spec.compaction.min_size_mb * MB:
        return None  # PostgreSQL has autovacuum; `millpond compact` vacuums by hand
    try:
        waste, done = compact_workspace(
            workspace, if_wasteful=True, holder="the runner compacting the warehouse", wait=False
        )
    except Exception as exc:  # noqa: BLE001 - a failed compaction leaves the old file; the run is done
        return f"warehouse compaction skipped: {str(exc).strip().splitlines()[0]}"
    return None if done is None else f"{done} (it had {waste})"
