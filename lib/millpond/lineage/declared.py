"""What the pipeline files say about lineage: which stage produces which table, what it
needs, and the checks declared on each table's columns.

A table that no ``ctx.materialize`` built (a stage that writes it otherwise) still gets
table-level lineage from its stage's ``needs`` (the tables those stages produce) and
``reads`` (raw files). Checks come from ``checks:`` (:mod:`millpond.quality.declared`);
a check's columns are its ``column``/``columns`` arguments, and a ``relationships``
check also depends on the referenced ``to.field``.

>>> from millpond.quality.declared import parse_checks
>>> declared = parse_checks({"checks": {"silver.o": [{"not_null": ["a", "b"]},
...     {"relationships": {"column": "c", "to": "silver.p", "field": "id"}}]}})
>>> [(c.name, [str(r) for r in c.columns]) for c in checks_of("clean", declared)]
[('a is not null', ['silver.o.a']), ('b is not null', ['silver.o.b']), ('c references silver.p.id', ['silver.o.c', 'silver.p.id'])]
"""

from __future__ import annotations

from dataclasses import dataclass, field

from millpond.lineage.columns import ColumnRef
from millpond.project import project_of
from millpond.workspace import Workspace

__all__ = ["DeclaredCheck", "PipelineFacts", "checks_of", "pipeline_facts"]


@dataclass(frozen=True)
class DeclaredCheck:
    """One declared check and the columns it reads."""

    table: str
    name: str
    kind: str
    severity: str
    stage: str
    columns: tuple[ColumnRef, ...]


@dataclass
class PipelineFacts:
    """Producers, declared upstreams and declared checks of every pipeline in a workspace."""

    producers: dict[str, str] = field(default_factory=dict)  # table -> "pipeline:stage"
    declared_reads: dict[str, set[str]] = field(default_factory=dict)  # table -> tables and files
    checks: list[DeclaredCheck] = field(default_factory=list)
    readers: dict[str, set[str]] = field(default_factory=dict)  # table -> stages that need its producer


def checks_of(stage: str, declarations) -> list[DeclaredCheck]:
    """The :class:`DeclaredCheck` items of one stage's parsed ``checks:`` section."""
    found = []
    for table, items in declarations.checks.items():
        for declaration in items:
            arguments, names = declaration.arguments, declaration.names()
            severity = str(getattr(arguments, "severity", "error"))
            if declaration.kind == "not_null":  # one check per column
                groups = [[column] for column in arguments.columns]
            elif declaration.kind == "schema":
                groups = [list(arguments.columns)]
            elif hasattr(arguments, "columns"):
                groups = [list(arguments.columns)]
            elif hasattr(arguments, "column"):
                groups = [[arguments.column]]
            else:  # row_count, sql: the whole table
                groups = [[]]
            for name, columns in zip(names, groups * len(names) if len(groups) == 1 else groups):
                refs = [ColumnRef(table, column) for column in columns]
                if declaration.kind == "relationships":
                    refs.append(ColumnRef(arguments.to, arguments.field or arguments.column))
                found.append(DeclaredCheck(table, name, declaration.kind, severity, stage, tuple(refs)))
    return found


def pipeline_facts(workspace: Workspace) -> PipelineFacts:
    """Read every ``pipelines/*.yml`` of ``workspace`` (notebooks are not inspected)."""
    from millpond.quality.declared import parse_checks

    project = project_of(workspace)
    facts = PipelineFacts()
    for path in workspace.pipeline_files():
        pipeline = project.pipeline(path.stem, check_notebooks=False)
        stages = {stage.name: stage for stage in pipeline.spec.stages}
        for stage in pipeline.spec.stages:
            upstream = {table for need in stage.needs for table in stages[need].produces}
            upstream |= {f"file:{pattern}" for pattern in stage.reads}
            for table in upstream:
                facts.readers.setdefault(table, set()).add(f"{pipeline.name}:{stage.name}")
            for table in stage.produces:
                facts.producers[table] = f"{pipeline.name}:{stage.name}"
                facts.declared_reads[table] = upstream
            if stage.checks:
                facts.checks += checks_of(stage.name, parse_checks({"checks": stage.checks}))
    return facts
