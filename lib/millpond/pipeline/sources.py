"""The sources a pipeline declares (``sources:``), checked against its stages and found by name.

A source lands in one table, ``target``, which exactly one stage of the pipeline produces:
that stage loads it (``ctx.load(name)``). A source that reads files names them in its
``path`` option (a glob); the loading stage reads them as if it listed them under ``reads:``,
so a new or changed file makes it run again (its fingerprint has them), and the source's
declaration is part of that fingerprint too.

>>> from types import SimpleNamespace as NS
>>> from millpond.settings.sources import SourceSpec
>>> stage = NS(name="ingest", produces=["bronze.orders"], reads=[])
>>> spec = NS(stages=[stage], sources={"orders": SourceSpec(kind="files", target="bronze.orders",
...                                                         options={"path": "data/raw/*.csv"})})
>>> source_problems(spec)
[]
>>> stage.reads
['data/raw/*.csv']
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from millpond.errors import MillpondError, SpecError
from millpond.settings.sources import SYNCED_KINDS, SourceSpec
from millpond.settings.values import usable_glob
from millpond.yaml_source import load_yaml

if TYPE_CHECKING:
    from millpond.workspace import Workspace


def source_problems(spec: Any) -> list[tuple[tuple, str]]:
    """``(location, message)`` of each source whose target no stage produces (a change stream's
    is kept by ``millpond sync`` instead); adds the files a source reads (its ``path`` option)
    to the ``reads`` of the stage that loads it."""
    producer = {table: stage for stage in spec.stages for table in stage.produces}
    problems: list[tuple[tuple, str]] = []
    for name, source in spec.sources.items():
        stage = producer.get(source.target)
        if stage is None and source.kind in SYNCED_KINDS:
            continue
        if stage is None:
            problems.append(
                (("sources", name, "target"), f"no stage produces {source.target}; the stage that loads it must")
            )
            continue
        path = source.options.get("path")
        if isinstance(path, str):
            try:
                glob = usable_glob(path)
            except ValueError as exc:
                problems.append((("sources", name, "options", "path"), str(exc)))
                continue
            if glob not in stage.reads:
                stage.reads.append(glob)
    return problems


def loaded_by(spec: Any, stage: Any) -> dict[str, dict[str, Any]]:
    """The declarations of the sources ``stage`` loads (those landing in a table it produces)."""
    return {
        name: source.model_dump(mode="json") for name, source in spec.sources.items() if source.target in stage.produces
    }


def declared_source(workspace: Workspace, name: str, pipeline: str | None = None) -> tuple[SourceSpec, str]:
    """The source called ``name`` and the pipeline file declaring it: ``pipeline`` first, then any.

    Raises a one-line :class:`~millpond.errors.MillpondError` naming the sources there are
    when none is called ``name``, and a :class:`~millpond.errors.SpecError` for a declaration
    that does not validate.
    """
    files = workspace.pipeline_files()
    if pipeline:
        files.sort(key=lambda f: f.stem != pipeline)
    known: list[str] = []
    for path in files:
        declared = _sources_in(path)
        if name in declared:
            try:
                return SourceSpec.model_validate(declared[name]), workspace.relative(path)
            except ValueError as exc:
                first = str(exc).splitlines()
                raise SpecError(
                    f"{workspace.relative(path)}: sources: {name}: {' '.join(first[1:3]).strip()}"
                ) from None
        known += sorted(declared)
    raise MillpondError(
        f"no source {name!r} declared under sources: in pipelines/ (declared: {', '.join(known) or 'none'})"
    )


def _sources_in(path: Path) -> dict[str, Any]:
    try:
        data, _ = load_yaml(path)
    except SpecError:
        return {}
    sources = data.get("sources") if isinstance(data, dict) else None
    return sources if isinstance(sources, dict) else {}
