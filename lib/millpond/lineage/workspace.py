"""The workspace's lineage as data, for ``millpond lineage``, ``millpond impact`` and the docs site.

:func:`workspace_lineage` reads the recorded SQL from the metadata store and the
pipeline files; :func:`impact` lists what changing one column affects: every
downstream column, its tables, and the declared checks on any of those columns
(or on the column itself).
"""

from __future__ import annotations

from dataclasses import dataclass

from millpond.errors import MillpondError
from millpond.lineage.columns import ColumnRef
from millpond.lineage.declared import DeclaredCheck, PipelineFacts, pipeline_facts
from millpond.lineage.graph import LineageGraph
from millpond.project import project_of
from millpond.workspace import Workspace

__all__ = ["WorkspaceLineage", "impact", "parse_target", "workspace_lineage"]


@dataclass
class WorkspaceLineage:
    graph: LineageGraph
    facts: PipelineFacts


def workspace_lineage(workspace: Workspace) -> WorkspaceLineage:
    """The lineage graph of ``workspace`` (recorded SQL plus the pipelines' declarations)."""
    store = project_of(workspace).recorded_store()
    records = store.table_sqls() if store is not None else {}
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
        "checks": [
            {
                "table": c.table,
                "check": c.name,
                "severity": c.severity,
                "stage": c.stage,
                "columns": [str(r) for r in c.columns if r in touched],
            }
            for c in checks
        ],
        # table level, from the pipelines: stages (reports included) whose `needs` give them a table above
        "stages": [{"stage": stage, "reads": sorted(tables)} for stage, tables in sorted(stages.items())],
    }
