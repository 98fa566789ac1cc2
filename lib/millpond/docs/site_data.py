"""What the docs site shows, gathered once from the catalog, the lineage and the store.

:func:`gather_site` returns a :class:`SiteData`: one :class:`TablePage` per catalog
entry (the entry itself, its checks with their recent trend, its recent builds, its
upstream and downstream tables, the notebook that builds it) and the lineage graph as
plain nodes and edges, table and column level, ready for the browser
(:mod:`millpond.docs.site` writes them out). Nothing here scans the warehouse.

Examples
--------
>>> from millpond.workspace import example_workspace
>>> site = gather_site(example_workspace(
...     "stages:\\n- {name: s, notebook: n.ipynb, reads: [data/raw/a.csv], produces: [gold.a]}\\n"))
>>> [(p.entry.name, p.file, p.upstream) for p in site.pages]
[('data/raw/a.csv', 'raw/data_raw_a.csv.html', []), ('gold.a', 'gold/gold.a.html', ['data/raw/a.csv'])]
"""

from __future__ import annotations

import fnmatch
import json
import re
from dataclasses import dataclass, field
from typing import Any

from millpond.catalog.build import RAW, build_catalog
from millpond.catalog.entry import Catalog, CatalogEntry
from millpond.lineage.columns import IN_MEMORY
from millpond.lineage.workspace import workspace_lineage
from millpond.pipeline.dag import upstream_of
from millpond.project import project_of
from millpond.workspace import Workspace

__all__ = ["SiteData", "TablePage", "gather_site", "page_file"]

_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")
MAX_NOTEBOOK_CELLS = 60


def page_file(entry: CatalogEntry) -> str:
    """The page of ``entry``, relative to the site root: ``<layer>/<name>.html``.

    >>> page_file(CatalogEntry(name="gold.fct_orders", layer="gold"))
    'gold/gold.fct_orders.html'
    >>> page_file(CatalogEntry(name="data/raw/orders_*.csv", layer="raw"))
    'raw/data_raw_orders__.csv.html'
    """
    return f"{_UNSAFE.sub('_', entry.layer)}/{_UNSAFE.sub('_', entry.name)}.html"


@dataclass
class TablePage:
    """Everything one table's page shows."""

    entry: CatalogEntry
    file: str
    checks: list[dict[str, Any]] = field(default_factory=list)
    builds: list[dict[str, Any]] = field(default_factory=list)
    upstream: list[str] = field(default_factory=list)  # every table it derives from, transitively
    downstream: list[str] = field(default_factory=list)  # every table derived from it
    row_sources: list[str] = field(default_factory=list)  # columns its filters, join keys, groupings read
    notebook_cells: list[dict[str, str]] = field(default_factory=list)
    notebook_unreadable: bool = False


@dataclass
class SiteData:
    """The whole site: pages by layer order, and the lineage graph for the browser."""

    workspace: str
    catalog: Catalog
    pages: list[TablePage]
    graph: dict[str, Any]

    def page(self, name: str) -> TablePage:
        return next(p for p in self.pages if p.entry.name == name)


def gather_site(workspace: Workspace) -> SiteData:
    """Read the catalog, the lineage and the store of ``workspace`` into a :class:`SiteData`."""
    catalog = build_catalog(workspace)
    lineage = workspace_lineage(workspace).graph
    store = _store(workspace)
    checks = _checks_by_table(store.check_history(limit_per_check=20)) if store else {}
    builds = store.build_history() if store else {}
    names = {e.name: e for e in catalog.entries}
    node_names = _node_names(lineage, catalog)
    graph = _graph(lineage, names, node_names)
    upstream_of = _closure({n["id"]: set(n["reads"]) for n in graph["nodes"]})
    downstream_of = _closure(_invert({n["id"]: set(n["reads"]) for n in graph["nodes"]}))
    pages = []
    for entry in catalog.entries:
        page = TablePage(
            entry,
            page_file(entry),
            checks.get(entry.name, []),
            builds.get(entry.name, []),
            sorted(upstream_of.get(entry.name, ())),
            sorted(downstream_of.get(entry.name, ())),
        )
        if entry.name in lineage.records:
            page.row_sources = sorted(
                f"{node_names.get(r.table, r.table)}.{r.column}" for r in lineage.row_sources(entry.name)
            )
        if entry.notebook:
            page.notebook_cells, page.notebook_unreadable = _notebook_cells(workspace, entry.notebook)
        pages.append(page)
    return SiteData(workspace.spec.name, catalog, pages, graph)


def _store(workspace: Workspace):
    return project_of(workspace).recorded_store()


def _checks_by_table(history: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    by_table: dict[str, list[dict[str, Any]]] = {}
    for row in history:
        by_table.setdefault(row["table_name"], []).append(
            {
                "check": row["check_name"],
                "severity": row["severity"],
                "status": row["status"],
                "failing_rows": row["failing_rows"],
                "run_id": row["run_id"],
                "trend": row["trend"],
            }
        )
    return by_table


def _node_names(lineage, catalog: Catalog) -> dict[str, str]:
    """Lineage node name -> catalog name: tables keep theirs; a raw file (``file:path``)
    takes the raw pattern of the catalog that matches it."""
    patterns = [e.name for e in catalog.entries if e.layer == RAW]
    mapping = {}
    for table in lineage.tables:
        if table.startswith("file:"):
            path = table.removeprefix("file:")
            mapping[table] = next((p for p in patterns if fnmatch.fnmatch(path, p)), path)
        else:
            mapping[table] = table
    return mapping


def _graph(lineage, entries: dict[str, CatalogEntry], node_names: dict[str, str]) -> dict[str, Any]:
    """Nodes (tables, raw files, in-memory data) with their columns and what they read,
    and column edges ``[from_table, from_column, to_table, to_column]``."""
    nodes: dict[str, dict[str, Any]] = {}

    def node(name: str, kind: str) -> dict[str, Any]:
        if name not in nodes:
            entry = entries.get(name)
            nodes[name] = {
                "id": name,
                "kind": kind,
                "layer": entry.layer if entry else kind,
                "page": page_file(entry) if entry else None,
                "columns": [c.name for c in entry.columns] if entry else [],
                "reads": set(),
            }
        return nodes[name]

    for entry in entries.values():  # every catalog entry is a node, even without lineage
        node(entry.name, "file" if entry.layer == RAW else "table")
    for table in lineage.tables:
        node(node_names[table], lineage.kind_of(table))
    for table, sources in lineage.reads.items():
        node(node_names[table], lineage.kind_of(table))["reads"] |= {node_names[s] for s in sources}
    edges = set()
    for table in lineage.records:
        for column, refs in lineage.columns(table).items():
            for ref in refs:
                edges.add((node_names.get(ref.table, ref.table), ref.column, node_names[table], column))
    for source, source_column, _, _ in edges:  # columns only known as read (files, sources)
        columns = node(source, "memory" if source == IN_MEMORY else "source")["columns"]
        if source_column not in columns:
            columns.append(source_column)
    return {
        "nodes": [dict(n, reads=sorted(n["reads"])) for n in sorted(nodes.values(), key=lambda n: n["id"])],
        "edges": [list(e) for e in sorted(edges)],
    }


def _invert(edges: dict[str, set[str]]) -> dict[str, set[str]]:
    inverted: dict[str, set[str]] = {}
    for target, sources in edges.items():
        for source in sources:
            inverted.setdefault(source, set()).add(target)
    return inverted


def _closure(edges: dict[str, set[str]]) -> dict[str, set[str]]:
    """Every node reachable from each node."""
    return {start: upstream_of(edges, start) for start in edges}


def _notebook_cells(workspace: Workspace, notebook: str) -> tuple[list[dict[str, str]], bool]:
    """The notebook's markdown and code cells (no outputs), or ``([], True)`` when it cannot be read."""
    path = workspace.path(notebook)
    try:
        cells = json.loads(path.read_text())["cells"]
    except (OSError, ValueError, KeyError):
        return [], True
    shown = [
        {"type": c.get("cell_type", "code"), "source": "".join(c.get("source", ""))}
        for c in cells
        if c.get("cell_type") in ("markdown", "code")
    ]
    return shown[:MAX_NOTEBOOK_CELLS], False
