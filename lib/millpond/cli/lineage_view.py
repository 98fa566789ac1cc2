"""``millpond lineage`` and ``millpond impact``: the workspace's lineage as a tree, the
impact of changing a column, or JSON (the data: :mod:`millpond.lineage.workspace`)."""

from __future__ import annotations

import json

from millpond.errors import MillpondError
from millpond.lineage.columns import ColumnRef
from millpond.lineage.graph import LineageNode
from millpond.lineage.workspace import impact, parse_target, workspace_lineage
from millpond.workspace import Workspace

_KIND_NOTE = {
    "file": " [dim](raw file)[/]",
    "memory": " [dim](in-memory table)[/]",
    "source": " [dim](no recorded SQL)[/]",
    "repeated": " [dim](shown above)[/]",
    "cycle": " [yellow](reads itself)[/]",
}


def _label(node: LineageNode) -> str:
    from rich.markup import escape

    return escape(node.name) + _KIND_NOTE.get(node.kind, "") + (" [dim]…[/]" if node.truncated else "")


def _rich_tree(node: LineageNode, tree=None):
    from rich.tree import Tree

    branch = Tree(_label(node)) if tree is None else tree.add(_label(node))
    for child in node.children:
        _rich_tree(child, branch)
    return branch


def show_lineage(
    workspace: Workspace, target: str, *, downstream: bool = False, depth: int | None = None, as_json: bool = False
) -> None:
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
    console.print(
        f"changing [bold]{escape(found['column'])}[/] affects {columns} column{'s' * (columns != 1)} "
        f"in {tables} table{'s' * (tables != 1)}"
    )
    for name in found["tables"]:
        if name in found["rows"]:
            console.print(
                f"  {escape(name)}: [bold]which rows it holds[/] (a filter, join or grouping reads it), so every column"
            )
            continue
        columns = [c.rpartition(".")[2] for c in found["columns"] if c.rpartition(".")[0] == name]
        console.print(f"  {escape(name)}: {escape(', '.join(columns))}")
    if found["checks"]:
        console.print(f"{len(found['checks'])} declared checks read them:")
        for check in found["checks"]:
            console.print(
                f"  {escape(check['table'])}: {escape(check['check'])} [dim]({check['severity']}, "
                f"stage {escape(check['stage'])})[/]"
            )
    else:
        console.print("no declared check reads them")
    if found["stages"]:
        console.print("stages that read these tables (declared needs; what their notebooks do is not traced):")
        for stage in found["stages"]:
            console.print(f"  {escape(stage['stage'])} [dim]reads {escape(', '.join(stage['reads']))}[/]")
