"""What a stage may read: the tables of its pipeline that its transitive ``needs`` produce.

A stage that reads a table built by a stage it does not (transitively) need may run
before that stage and is not rerun when the table changes: a stale table, silently.
So the runner hands each stage kernel the tables it must not read
(:func:`tables_outside_needs`), ``ctx.table`` refuses them with one line naming the table,
its producer and the missing need, and ``millpond validate`` finds the reads it can see in
the notebook without running it (:func:`visible_reads`): ``ctx.table("layer.name")`` with a
literal name, and a stage parameter whose value names a table.

Examples
--------
>>> from types import SimpleNamespace as NS
>>> stages = [NS(name="a", needs=[], produces=["probe.t1"], params={}, notebook="a.ipynb"),
...           NS(name="b", needs=[], produces=["probe.t2"], params={"source": "probe.t1"}, notebook="b.ipynb")]
>>> pipeline = NS(spec=NS(stages=stages), needs={"a": [], "b": []}, stage=lambda n: {s.name: s for s in stages}[n])
>>> tables_outside_needs(pipeline, "b")
{'probe.t1': 'a'}
>>> refusal("b", "probe.t1", "a")
'stage b reads probe.t1, which stage a builds, but does not need a: add `needs: [a]` to stage b'
"""

from __future__ import annotations

import ast
import json
from pathlib import Path
from typing import Any

from millpond.pipeline.dag import upstream_of
from millpond.pipeline.workspace_code import parse_python


def producers(pipeline: Any) -> dict[str, str]:
    """Each table the pipeline builds, to the stage that builds it."""
    return {table: stage.name for stage in pipeline.spec.stages for table in stage.produces}


def tables_outside_needs(pipeline: Any, stage: str) -> dict[str, str]:
    """Tables of ``pipeline`` that ``stage`` must not read, to their producers: those built
    by a stage that is neither ``stage`` nor one it transitively needs."""
    allowed = upstream_of(pipeline.needs, stage) | {stage}
    return {table: producer for table, producer in producers(pipeline).items() if producer not in allowed}


def refusal(stage: str | None, table: str, producer: str) -> str:
    """The one line that refuses a read outside ``needs``."""
    return (
        f"stage {stage} reads {table}, which stage {producer} builds, but does not need {producer}: "
        f"add `needs: [{producer}]` to stage {stage}"
    )


def visible_reads(notebook: Path, params: dict[str, Any]) -> set[str]:
    """Tables a stage visibly reads: string literals passed to a ``.table(...)`` call in the
    notebook's code, and parameter values (the stage's and the notebook's defaults) that are
    passed to one by name."""
    try:
        cells = json.loads(notebook.read_text(encoding="utf-8")).get("cells", [])
    except (OSError, ValueError):
        return set()
    found: set[str] = set()
    names: set[str] = set()
    defaults: dict[str, Any] = {}
    for cell in cells:
        if cell.get("cell_type") != "code":
            continue
        source = "".join(cell.get("source", []))
        try:
            tree = parse_python(source)
        except SyntaxError:
            continue
        for node in ast.walk(tree):
            if isinstance(node, ast.Assign) and "parameters" in cell.get("metadata", {}).get("tags", []):
                for target in node.targets:
                    if isinstance(target, ast.Name) and isinstance(node.value, ast.Constant):
                        defaults[target.id] = node.value.value
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "table":
                first = node.args[0] if node.args else None
                if isinstance(first, ast.Constant) and isinstance(first.value, str):
                    found.add(first.value)
                elif isinstance(first, ast.Name):
                    names.add(first.id)
    values = {**defaults, **params}
    found |= {values[n] for n in names if isinstance(values.get(n), str)}
    return found
