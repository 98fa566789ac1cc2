"""``millpond lineage`` and ``millpond impact``: the workspace's lineage, as text or JSON.

:func:`workspace_lineage` reads the recorded SQL from the metadata store and the
pipeline files; :func:`impact` lists what changing one column affects: every
downstream column, its tables, and the declared checks on any of those columns
(or on the column itself).
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from millpond.errors import MillpondError
from millpond.lineage.columns import ColumnRef
from millpond.lineage.declared import DeclaredCheck, PipelineFacts, pipeline_facts
from millpond.lineage.graph import LineageGraph, LineageNode
from millpond.workspace import Workspace

__all__ = ["WorkspaceLineage", "impact", "parse_target", "show_impact", "show_lineage", "workspace_lineage"]

_KIND_NOTE = {
    "file": " [dim](raw file)[/]",
    "memory": " [dim](in-memory table)[/]",
    "source": " [dim](no recorded SQL)[/]",
    "repeated": " [dim](shown above)[/]",
    "cycle": " [yellow](reads itself)[/]",
}


@dataclass
class WorkspaceLineage:
    graph: LineageGraph
    facts: PipelineFacts


def workspace_lineage(workspace: Workspace) -> WorkspaceLineage:
    """The lineage graph of ``workspace`` (recorded SQL plus the pipelines' declarations)."""
    from millpond.store.metadata import MetadataStore

    path = workspace.meta_dir / "meta.sqlite"
    records = MetadataStore(path).table_sqls() if path.is_file() else {}
    facts = pipeline_facts(workspace)
    return WorkspaceLineage(LineageGraph(records, facts.declared_reads, root=str(workspace.root)), facts)


def parse_target(graph: LineageGraph, text: str) -> tuple[str, str | None]:
    """``layer.table`` or ``layer.table.column`` (a known table name wins)."""
    if text in graph.tables:
        return text, None
    table, dot, column = text.rpartition(".")
    if not dot or not table:
        raise MillpondError(f"{text}: name a table as layer.table, or a column as layer.table.column")
    if table not in graph.tables and "." not in table:  # `layer.table` of an unknown table
        graph.require(text)
    graph.require(table, column)
    return table, column


def _label(node: LineageNode) -> str:
    from rich.markup import escape

    return escape(node.name) + _KIND_NOTE.get(node.kind, "") + (" [dim]…[/]" if node.truncated else "")


def _rich_tree(node: LineageNode, tree=None):
    from rich.tree import Tree

    branch = Tree(_label(node)) if tree is None else tree.add(_label(node))
    for child in node.children:
        _rich_tree(child, branch)
    return branch


def show_lineage(workspace: Workspace, target: str, *, downstream: bool = False, depth: int | None = None,
                 as_json: bool = False) -> None:
    """Print where ``target`` (a table or ``table.column``) comes from, or where it flows."""
    from rich.console import Console

    graph = workspace_lineage(workspace).graph
    table, column = parse_target(graph, target)
    if column is None:
        tree = graph.table_tree(table, downstream=downstream, depth=depth)
    else:
        tree = graph.column_tree(ColumnRef(table, column), downstream=downstream, depth=depth)
    if as_json:
        print(json.dumps({"direction": "downstream" if downstream else "upstream", **tree.to_dict()}, indent=2))
    else:
        Console(soft_wrap=True).print(_rich_tree(tree))


def impact(lineage: WorkspaceLineage, ref: ColumnRef) -> dict:
    """What changing ``ref`` affects: downstream columns and tables, and the checks on them."""
    graph = lineage.graph
    graph.require(ref.table, ref.column)
    columns, row_tables = graph.affected(ref)
    touched = columns | {ref}
    # a check is affected when it reads a touched column, or checks a table whose rows may change
    checks: list[DeclaredCheck] = [c for c in lineage.facts.checks if touched & set(c.columns) or c.table in row_tables]
    stages: dict[str, set[str]] = {}
    for table in {c.table for c in touched}:
        for stage in lineage.facts.readers.get(table, ()):
            stages.setdefault(stage, set()).add(table)
    return {
        "column": str(ref),
        "tables": sorted({c.table for c in columns}),
        "columns": [str(c) for c in sorted(columns)],
        # tables whose rows it decides (a filter, join key or grouping on it or on what derives from it)
        "rows": sorted(row_tables),
        "checks": [{"table": c.table, "check": c.name, "severity": c.severity, "stage": c.stage,
                    "columns": [str(r) for r in c.columns if r in touched]} for c in checks],
        # table level, from the pipelines: stages (reports included) whose `needs` give them a table above
        "stages": [{"stage": stage, "reads": sorted(tables)} for stage, tables in sorted(stages.items())],
    }


def show_impact(workspace: Workspace, target: str, *, as_json: bool = False) -> None:
    """Print :func:`impact` of ``target`` (``layer.table.column``)."""
    from rich.console import Console
    from rich.markup import escape

    lineage = workspace_lineage(workspace)
    table, column = parse_target(lineage.graph, target)
    if column is None:
        raise MillpondError(f"{target}: impact is per column; name one as {target}.COLUMN")
    found = impact(lineage, ColumnRef(table, column))
    if as_json:
        print(json.dumps(found, indent=2))
        return
    console = Console(soft_wrap=True)
    columns, tables = len(found["columns"]), len(found["tables"])
    console.print(f"changing [bold]{escape(found['column'])}[/] affects {columns} column{'s' * (columns != 1)} "
                  f"in {tables} table{'s' * (tables != 1)}")
    for name in found["tables"]:
        if name in found["rows"]:
            console.print(f"  {escape(name)}: [bold]which rows it holds[/] (a filter, join or grouping reads it), "
                          "so every column")
            continue
        columns = [c.rpartition(".")[2] for c in found["columns"] if c.rpartition(".")[0] == name]
        console.print(f"  {escape(name)}: {escape(', '.join(columns))}")
    if found["checks"]:
        console.print(f"{len(found['checks'])} declared checks read them:")
        for check in found["checks"]:
            console.print(f"  {escape(check['table'])}: {escape(check['check'])} [dim]({check['severity']}, "
                          f"stage {escape(check['stage'])})[/]")
    else:
        console.print("no declared check reads them")
    if found["stages"]:
        console.print("stages that read these tables (declared needs; what their notebooks do is not traced):")
        for stage in found["stages"]:
            console.print(f"  {escape(stage['stage'])} [dim]reads {escape(', '.join(stage['reads']))}[/]")
