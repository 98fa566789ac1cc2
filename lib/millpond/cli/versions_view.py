"""``millpond versions``, ``diff``, ``rollback`` and ``compact``: what the commands print."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict
from typing import TYPE_CHECKING, Any

from rich.console import Console
from rich.table import Table

from millpond.errors import MillpondError
from millpond.pipeline.tables import declared_table_spec
from millpond.project import project_of
from millpond.warehouse.compact import compact_workspace
from millpond.warehouse.sql import split_name

if TYPE_CHECKING:
    from ibis.backends import BaseBackend

    from millpond.store.metadata import MetadataStore
    from millpond.workspace import Workspace


def _store(workspace: Workspace) -> MetadataStore:
    return project_of(workspace).store()


@contextmanager
def _warehouse(workspace: Workspace, holder: str) -> Iterator[BaseBackend]:
    warehouse = project_of(workspace).warehouse(holder)
    try:
        yield warehouse.hold()
    finally:
        warehouse.close()


def _when(ts: float | None) -> str:
    return "" if ts is None else dt.datetime.fromtimestamp(ts, dt.timezone.utc).strftime("%Y-%m-%d %H:%M:%S")


def show_versions(workspace: Workspace, name: str, *, as_json: bool = False) -> None:
    """Every recorded version of ``name``, oldest first (times in UTC)."""
    split_name(name)
    versions = _store(workspace).table_versions(name)
    if not versions:
        raise MillpondError(f"{name} has no recorded versions (tables built by ctx.materialize have them)")
    if as_json:
        print(json.dumps([asdict(v) | {"status": v.status} for v in versions], indent=2, default=str))
        return
    table = Table(title=f"versions of {name}", title_justify="left")
    for col in ("version", "status", "built (UTC)", "run", "stage", "kind", "rows", "columns", "note", "stored in"):
        table.add_column(col)
    for v in versions:
        where = "" if v.location is None else v.location
        where = ("live table (same rows)" if v.superseded else "live table") if v.location == name else where
        table.add_row(
            str(v.version),
            v.status,
            _when(v.built_at),
            v.run_id or "",
            v.stage or "",
            v.kind,
            "" if v.rows is None else f"{v.rows:,}",
            str(len(v.schema)),
            v.note or "",
            where,
        )
    Console(width=200).print(table)


def show_diff(
    workspace: Workspace,
    name: str,
    old: int,
    new: int,
    *,
    key: list[str] | None = None,
    limit: int = 5,
    as_json: bool = False,
) -> None:
    """Added, removed and changed rows from version ``old`` to ``new`` of ``name``."""
    from millpond.warehouse.version_diff import diff_versions

    key = key or declared_table_spec(workspace, name).primary_key or None  # the declared key, else the recorded one
    with _warehouse(workspace, f"millpond diff {name}") as con:
        result = diff_versions(con, _store(workspace), name, old, new, key, limit)
    if as_json:
        print(json.dumps(result.to_dict(), indent=2, default=str))
        return
    console = Console(width=200)
    how = f"by key {', '.join(result.key)}" if result.key else "as whole rows (no key: --key COL,...)"
    counts = f"{result.added:,} added, {result.removed:,} removed"
    counts += "" if result.changed is None else f", {result.changed:,} changed"
    console.print(f"{name} version {old} -> {new}, {how}: {counts}", highlight=False)
    for label, cols in (("columns added", result.columns_added), ("columns removed", result.columns_removed)):
        if cols:
            console.print(f"{label}: {', '.join(cols)}", highlight=False)
    for kind, rows in result.samples.items():
        if rows:
            _print_sample(console, kind, rows)


def _print_sample(console: Console, kind: str, rows: list[dict[str, Any]]) -> None:
    console.print(f"{kind}, first {len(rows)}:", highlight=False)
    table = Table()
    columns = list(rows[0])
    for col in columns:
        table.add_column(col)
    for row in rows:
        cells = []
        for col in columns:
            value = row[col]
            if col == "changes" and isinstance(value, dict):
                value = "; ".join(f"{c}: {a!r} -> {b!r}" for c, (a, b) in value.items())
            cells.append("NULL" if value is None else str(value))
        table.add_row(*cells)
    console.print(table)


def run_rollback(workspace: Workspace, name: str, version: int) -> str:
    """Restore ``version`` of ``name`` as its new latest version; returns the line to print."""
    from millpond.warehouse.rollback import rollback

    split_name(name)
    retain = declared_table_spec(workspace, name).retain or workspace.spec.versions.retain
    with _warehouse(workspace, f"millpond rollback {name}") as con:
        restored = rollback(con, _store(workspace), name, version, retain=retain)
    rows = "?" if restored.rows is None else f"{restored.rows:,}"
    return (
        f"{name}: version {restored.version} restores version {version} ({rows} rows); "
        f"the next run of its stage rebuilds it"
    )


def run_compact(workspace: Workspace, *, if_wasteful: bool = False) -> str:
    """Compact the warehouse; returns the line to print."""
    waste, done = compact_workspace(workspace, if_wasteful=if_wasteful)
    if done is None and waste.free_bytes == 0 and waste.unit == "bytes":
        return f"warehouse not compacted: it has no free space ({waste})"
    if done is None:
        settings = workspace.spec.compaction
        size = f", min size {settings.min_size_mb:g} MB" if waste.unit == "bytes" else ""
        return f"warehouse not compacted: {waste}, below the thresholds (waste {settings.waste:.0%}{size})"
    return f"{done}; it had {waste}"
