"""``millpond catalog``: the catalog as a rich table, one entry in full, or JSON."""

from __future__ import annotations

import json

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from millpond.catalog.entry import Catalog, CatalogEntry
from millpond.catalog.text import age_text, lake_text, select, size_text


def _quality_text(entry: CatalogEntry) -> str:
    q = entry.quality
    if q is None:
        return ""
    colour = {"pass": "green", "warn": "yellow", "fail": "bold red"}[q.status]
    return f"[{colour}]{q.status}[/] {q.passed}/{q.warned}/{q.failed}"


def show_catalog(
    catalog: Catalog,
    *,
    tag: str | None = None,
    search: str | None = None,
    as_json: bool = False,
    console: Console | None = None,
) -> None:
    """Print the entries ``--tag``/``--search`` keep, one line each."""
    entries = select(catalog, tag=tag, search=search)
    if as_json:
        print(json.dumps([e.model_dump(mode="json") for e in entries], indent=2))
        return
    console = console or Console(width=200)
    if not entries:
        console.print(
            "no catalog entries" + (f" tagged {tag}" if tag else "") + (f" matching {search!r}" if search else "")
        )
        return
    table = Table(title=f"catalog ({len(entries)} of {len(catalog.entries)})", title_justify="left")
    for col in ("table", "layer", "kind", "owner", "tags", "rows", "size", "last run", "age", "stage", "quality"):
        table.add_column(col, justify="right" if col in ("rows", "size", "age") else "left")
    if tag or search:
        table.add_column("matched")
    for e in entries:
        row = [
            e.name,
            e.layer,
            e.kind or "",
            e.owner or "",
            ", ".join(e.tags),
            "" if e.rows is None else f"{e.rows:,}",
            size_text(e.size_bytes),
            e.run_id or "",
            age_text(e.age_seconds),
            f"{e.pipeline}.{e.stage}" if e.pipeline and e.stage else (e.stage or ", ".join(e.read_by)),
            _quality_text(e),
        ]
        if tag or search:
            why = []
            if tag and e.tagged_columns(tag):
                why.append(f"{tag}: " + ", ".join(e.tagged_columns(tag)))
            if search:
                why += e.matches(search)
            row.append("; ".join(why))
        table.add_row(*[cell if i == 10 else escape(cell) for i, cell in enumerate(row)])
    console.print(table)


def show_entry(entry: CatalogEntry, *, as_json: bool = False, console: Console | None = None) -> None:
    """Print one entry whole: its facts, then its columns."""
    if as_json:
        print(json.dumps(entry.model_dump(mode="json"), indent=2))
        return
    console = console or Console(width=200)
    console.print(f"[bold]{escape(entry.name)}[/] ({entry.layer}{', ' + entry.kind if entry.kind else ''})")
    facts = [
        ("description", entry.description),
        ("owner", entry.owner or ""),
        ("domain", entry.domain or ""),
        ("product", entry.product.summary if entry.product else ""),
        ("tags", ", ".join(entry.tags)),
        ("primary key", ", ".join(entry.primary_key)),
        ("rows", "" if entry.rows is None else f"{entry.rows:,}"),
        ("size", size_text(entry.size_bytes)),
        (
            "last built",
            " ".join(
                x
                for x in (
                    entry.built_at.strftime("%Y-%m-%d %H:%M:%S UTC") if entry.built_at else "",
                    f"run {entry.run_id}" if entry.run_id else "",
                )
                if x
            ),
        ),
        ("age", age_text(entry.age_seconds)),
        ("built by", f"{entry.pipeline}.{entry.stage} ({entry.notebook})" if entry.notebook else entry.stage or ""),
        ("read by", ", ".join(entry.read_by)),
        ("lake copy", lake_text(entry.lake)),
        (
            "quality",
            _quality_text(entry) + (f" (passed/warned/failed, run {entry.quality.run_id})" if entry.quality else ""),
        ),
    ]
    for label, value in facts:
        if value:
            console.print(f"  {label + ':':<13}{value if label == 'quality' else escape(value)}")
    if entry.columns:
        table = Table()
        for col in ("column", "type", "key", "tags", "description"):
            table.add_column(col)
        for c in entry.columns:
            table.add_row(
                *map(escape, (c.name, c.type or "?", "✓" if c.in_primary_key else "", ", ".join(c.tags), c.description))
            )
        console.print(table)
