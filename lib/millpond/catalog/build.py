"""Build the catalog of a workspace from its pipeline specs and its metadata store.

An entry per table a stage ``produces`` (with what the stage declares under ``tables:``),
per raw file pattern a stage ``reads``, and per table the metadata store recorded a
build of without any pipeline producing it (built from JupyterLab, say). Types, rows,
the last build and the quality status come from the metadata store, never from scanning
the warehouse; only the optional sizes ask the warehouse (:mod:`millpond.catalog.sizes`).
"""

from __future__ import annotations

import glob
import os
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from millpond.catalog.entry import Catalog, CatalogEntry, ColumnEntry, QualityStatus
from millpond.catalog.lake_copies import lake_copies
from millpond.catalog.products import product_status
from millpond.catalog.sizes import warehouse_sizes
from millpond.catalog.times import utc_from_timestamp
from millpond.project import project_of
from millpond.settings.tables import TableSpec
from millpond.warehouse.lake import LAKE_DIR

if TYPE_CHECKING:
    from millpond.store.metadata import Materialization, MetadataStore
    from millpond.workspace import Workspace

RAW = "raw"


@dataclass
class _Producer:
    """Where a table is declared: the first pipeline (by file name) whose stage produces it."""

    pipeline: str
    stage: str
    notebook: str
    spec: TableSpec
    domain: str | None = None


@dataclass
class _RawRead:
    pattern: str
    readers: list[str] = field(default_factory=list)


def build_catalog(workspace: Workspace, *, sizes: bool = True, now: float | None = None) -> Catalog:
    """The catalog of ``workspace``.

    Parameters
    ----------
    workspace
        The workspace; its pipeline files must parse (a bad one raises its ``file:line`` error).
    sizes
        Ask the warehouse for table sizes when it is free right now (never waits for a run).
    now
        The time freshness is measured at (default: now), seconds since the epoch.

    Examples
    --------
    >>> from millpond.workspace import example_workspace
    >>> ws = example_workspace(
    ...     "stages:\\n- {name: s, notebook: n.ipynb, reads: [data/raw/a.csv], produces: [gold.a],"
    ...     " tables: {gold.a: {owner: sales, tags: [finance]}}}\\n")
    >>> [(e.name, e.layer, e.owner, e.read_by) for e in build_catalog(ws).entries]
    [('data/raw/a.csv', 'raw', None, ['p.s']), ('gold.a', 'gold', 'sales', [])]
    """
    now = time.time() if now is None else now
    producers, raw_reads = _declared(workspace)
    store = _open_store(workspace)
    latest = store.latest_materializations() if store else {}
    quality = _quality(store.check_history()) if store else {}
    names = list(producers) + sorted(set(latest) - set(producers))
    found = _sizes(workspace, names) if sizes else {}
    lake = _lake(workspace)
    entries = [_raw_entry(workspace, read, now) for read in raw_reads.values()]
    for name in names:
        entry = _table_entry(name, producers.get(name), latest.get(name), now)
        entry.size_bytes = found.get(name)
        entry.quality = quality.get(name)
        entry.lake = lake.get(name)
        producer = producers.get(name)
        if producer is not None:
            entry.domain = producer.domain
            if producer.spec.product is not None:
                entry.product = product_status(producer.spec.product, producer.domain, entry.age_seconds, entry.quality)
        entries.append(entry)
    entries.sort(key=lambda e: (e.layer != RAW, e.name))
    return Catalog(workspace=str(workspace.root), made_at=utc_from_timestamp(now), entries=entries)


def _declared(workspace: Workspace) -> tuple[dict[str, _Producer], dict[str, _RawRead]]:
    producers: dict[str, _Producer] = {}
    raw_reads: dict[str, _RawRead] = {}
    for parsed in project_of(workspace).pipeline_specs().values():
        spec, pipeline = parsed.spec, parsed.name
        for stage in spec.stages:
            for table in stage.produces:
                producers.setdefault(
                    table,
                    _Producer(
                        pipeline,
                        stage.name,
                        stage.notebook,
                        stage.tables.get(table) or TableSpec(),
                        stage.domain or spec.domain,
                    ),
                )
            for pattern in stage.reads:
                raw_reads.setdefault(pattern, _RawRead(pattern)).readers.append(f"{pipeline}.{stage.name}")
    return producers, raw_reads


def _open_store(workspace: Workspace) -> MetadataStore | None:
    """The metadata store, or ``None`` when nothing was ever recorded (not created here)."""
    return project_of(workspace).recorded_store()


def _table_entry(name: str, producer: _Producer | None, built: Materialization | None, now: float) -> CatalogEntry:
    spec = producer.spec if producer else TableSpec()
    key = spec.key
    types: dict[str, Any] = dict(built.schema) if built else {}
    order = list(types) + [c for c in spec.declared_columns() if c not in types]
    columns = []
    for column in order:
        doc = spec.columns.get(column)
        columns.append(
            ColumnEntry(
                name=column,
                type=types.get(column),
                description=doc.description if doc else "",
                tags=list(doc.tags) if doc else [],
                in_primary_key=column in key,
            )
        )
    return CatalogEntry(
        name=name,
        layer=name.split(".", 1)[0],
        kind=built.kind if built else None,
        description=spec.description,
        owner=spec.owner,
        tags=list(spec.tags),
        primary_key=list(key),
        columns=columns,
        rows=built.rows if built else None,
        run_id=built.run_id if built else None,
        built_at=utc_from_timestamp(built.built_at) if built else None,
        age_seconds=max(0.0, now - built.built_at) if built else None,
        pipeline=producer.pipeline if producer else None,
        stage=producer.stage if producer else (built.stage if built else None),
        notebook=producer.notebook if producer else None,
    )


def _raw_entry(workspace: Workspace, read: _RawRead, now: float) -> CatalogEntry:
    """A raw file pattern: the matching files' total size and newest modification time."""
    stats = []
    for f in glob.glob(str(workspace.path(read.pattern)), recursive=True):
        try:
            stats.append(os.stat(f))
        except OSError:  # gone since the glob
            continue
    newest = max((s.st_mtime for s in stats), default=None)
    return CatalogEntry(
        name=read.pattern,
        layer=RAW,
        kind="file",
        read_by=read.readers,
        size_bytes=sum(s.st_size for s in stats) if stats else None,
        built_at=utc_from_timestamp(newest) if newest is not None else None,
        age_seconds=max(0.0, now - newest) if newest is not None else None,
    )


def _quality(history: list[dict[str, Any]]) -> dict[str, QualityStatus]:
    """Per table, the counts of the latest run that checked it (a check since removed
    from the spec is not counted once a later run checked the table)."""
    by_table: dict[str, list[dict[str, Any]]] = {}
    for row in history:
        by_table.setdefault(row["table_name"], []).append(row)
    statuses = {}
    for table, rows in by_table.items():
        newest = max(rows, key=lambda r: r["id"])
        current = [r for r in rows if r["run_id"] == newest["run_id"]]
        statuses[table] = QualityStatus(
            run_id=newest["run_id"],
            checked_at=utc_from_timestamp(newest["checked_at"]),
            passed=sum(r["status"] == "pass" for r in current),
            warned=sum(r["status"] == "warn" for r in current),
            failed=sum(r["status"] == "fail" for r in current),
        )
    return statuses


def _lake(workspace: Workspace):
    return lake_copies(workspace.path(LAKE_DIR), root=workspace.root)


def _sizes(workspace: Workspace, names: list[str]) -> dict[str, int]:
    return warehouse_sizes(workspace, names)
