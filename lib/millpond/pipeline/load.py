"""Load a pipeline file and check everything that needs more than one field.

Each rejection is one :class:`~millpond.errors.SpecError` line naming file, line and
field: unknown keys and wrong types (pydantic), duplicate stage names, an unknown
``needs``, a cycle (naming its stages), a missing notebook, a parameter the notebook
does not declare or of the wrong type, two stages producing the same table.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from millpond.errors import SpecError
from millpond.pipeline.dag import find_cycle, topological_order
from millpond.pipeline.notebooks import declared_parameters
from millpond.pipeline.products import check_products
from millpond.pipeline.reads import refusal, tables_outside_needs, visible_reads
from millpond.pipeline.sources import source_problems
from millpond.settings.params import coerce, compatible, python_type_name
from millpond.settings.pipeline import PipelineSpec, StageSpec
from millpond.validation import spec_error
from millpond.workspace import WORKSPACE_FILE, Workspace
from millpond.yaml_source import LineMap, format_path, load_yaml, plain, shorten

if TYPE_CHECKING:
    from millpond.store.metadata import MetadataStore

CHECK_RULES = 2
"""Bumped when declared checks are validated more strictly: older validations are redone."""


@dataclass
class Pipeline:
    """A validated pipeline bound to its workspace."""

    workspace: Workspace
    name: str
    path: Path
    spec: PipelineSpec
    lines: LineMap
    declared: dict[str, dict[str, str | None]] = field(default_factory=dict)

    @property
    def needs(self) -> dict[str, list[str]]:
        """Stage name to the stages it needs, in declaration order."""
        return {s.name: list(s.needs) for s in self.spec.stages}

    @property
    def order(self) -> list[str]:
        return topological_order(self.needs)

    def stage(self, name: str) -> StageSpec:
        return self.spec.stage(name)

    def notebook_path(self, stage: StageSpec) -> Path:
        return self.workspace.path(stage.notebook)

    def resolve_params(self, overrides: dict[str, Any] | None = None) -> dict[str, Any]:
        """Pipeline parameters: declared defaults, then ``millpond.yml`` params, then overrides.

        Overrides from the command line are coerced to the declared type; an
        undeclared name or an uncoercible value is a :class:`SpecError`.
        """
        values: dict[str, Any] = {}
        ws_params = self.workspace.spec.params
        for name, p in self.spec.params.items():
            value = ws_params.get(name, p.default)
            try:
                values[name] = None if value is None else coerce(value, p.type)
            except ValueError:
                raise _workspace_param_error(self.workspace, name, p.type, value) from None
        for name, raw in (overrides or {}).items():
            if name not in self.spec.params:
                known = ", ".join(sorted(self.spec.params)) or "none"
                raise SpecError(f"-p {name}: pipeline {self.name!r} has no parameter {name!r} (declared: {known})")
            try:
                values[name] = coerce(raw, self.spec.params[name].type)
            except ValueError as exc:
                raise SpecError(f"-p {name}={raw}: {exc}") from None
        return values

    def stage_params(self, stage: StageSpec, pipeline_params: dict[str, Any]) -> dict[str, Any]:
        """What Papermill injects into ``stage``: the pipeline parameters its notebook
        declares, overridden by the stage's own ``params``."""
        declared = self.declared.get(stage.name, {})
        params = {k: v for k, v in pipeline_params.items() if k in declared and v is not None}
        params.update(stage.params)
        return params


def parse_pipeline_file(workspace: Workspace, path: Path) -> tuple[PipelineSpec, LineMap]:
    """A pipeline file read (bounded YAML) and validated as its settings model, with the line of each
    field; the one reader of pipeline files (:func:`load_pipeline`, :class:`millpond.project.Project`)."""
    display = workspace.relative(path)
    data, lines = load_yaml(path, display)
    if not isinstance(data, dict):
        raise SpecError(f"{display}:1: a pipeline file must be a mapping with a 'stages' list")
    try:
        spec = PipelineSpec.model_validate(data)
    except ValidationError as exc:
        raise spec_error(exc, display, lines, PipelineSpec) from None
    return spec, lines


def load_pipeline(workspace: Workspace, name: str, *, check_notebooks: bool = True) -> Pipeline:
    """Read and validate ``pipelines/<name>.yml`` of ``workspace``.

    Parameters
    ----------
    workspace
        The workspace the pipeline belongs to.
    name
        The pipeline's name (file stem) or a path to its file.
    check_notebooks
        Also open each notebook to check its parameters (Papermill's inspector).
    """
    path = workspace.pipeline_file(name)
    display = workspace.relative(path)
    spec, lines = parse_pipeline_file(workspace, path)
    pipeline = Pipeline(workspace, spec.name or path.stem, path, spec, lines)
    _check_graph(pipeline, display)
    for loc, message in source_problems(spec):  # and the files a source reads join its loader's reads
        raise _fail(display, lines, loc, message)
    _check_param_overrides(pipeline, display)
    check_products(spec, display, lines)
    _check_notebooks(pipeline, display, inspect=check_notebooks)
    _check_declared_checks(pipeline, display)
    _check_visible_reads(pipeline, display)
    return pipeline


def _check_visible_reads(pipeline: Pipeline, display: str) -> None:
    """A table the notebook visibly reads must come from a stage it needs (:mod:`millpond.pipeline.reads`)."""
    for index, stage in enumerate(pipeline.spec.stages):
        outside = tables_outside_needs(pipeline, stage.name)
        for table in sorted(visible_reads(pipeline.notebook_path(stage), stage.params) & outside.keys()):
            raise _fail(display, pipeline.lines, ("stages", index, "needs"), refusal(stage.name, table, outside[table]))


def _check_declared_checks(pipeline: Pipeline, display: str) -> None:
    """Checks guard tables their stage produces and parse as :mod:`millpond.quality.declared`.

    A ``checks`` section already validated (same content) is not parsed again: parsing
    imports Ibis, which a no-change run does not need otherwise.
    """
    cache = pipeline.workspace.meta_dir / "validated-checks.json"
    try:
        known = set(json.loads(cache.read_text()))
    except (OSError, ValueError):
        known = set()
    fresh = set()
    for i, stage in enumerate(pipeline.spec.stages):
        if not stage.checks:
            continue
        for table in stage.checks:
            if table not in stage.produces:
                raise _fail(
                    display,
                    pipeline.lines,
                    ("stages", i, "checks", table),
                    f"stage {stage.name!r} does not produce {table} (produces: {', '.join(stage.produces) or 'nothing'})",
                )
        # repr, not JSON: a check may have keys JSON cannot sort (an int next to a str); the
        # version tag drops what an older millpond validated with fewer rules (regex patterns)
        key = hashlib.sha256(f"{CHECK_RULES}:{stage.checks!r}".encode()).hexdigest()[:24]
        if key in known:
            continue
        from millpond.quality.declared import CheckDeclarations, parse_checks

        try:
            parse_checks({"checks": stage.checks})
        except ValidationError as exc:
            raise spec_error(exc, display, pipeline.lines, CheckDeclarations, prefix=("stages", i)) from None
        fresh.add(key)
    if fresh:
        cache.parent.mkdir(parents=True, exist_ok=True)
        cache.write_text(json.dumps(sorted(known | fresh)))


def _check_param_overrides(pipeline: Pipeline, display: str) -> None:
    """A stage's ``params`` override of a declared pipeline parameter has the declared type
    (a ``date`` parameter overridden with ``not-a-date`` is refused here, not at run time)."""
    declared = pipeline.spec.params
    workspace = pipeline.workspace
    for name, value in workspace.spec.params.items():
        if name in declared and value is not None:
            try:
                coerce(value, declared[name].type)
            except ValueError:
                raise _workspace_param_error(workspace, name, declared[name].type, value) from None
    for i, stage in enumerate(pipeline.spec.stages):
        for key, value in stage.params.items():
            if key not in declared:
                continue
            kind = declared[key].type
            try:
                coerce(value, kind)
            except ValueError:
                raise _fail(
                    display,
                    pipeline.lines,
                    ("stages", i, "params", key),
                    f"expected {kind} (the pipeline declares {key} a {kind} parameter), got {shorten(value)}",
                ) from None


def _workspace_param_error(workspace: Workspace, name: str, kind: str, value: Any) -> SpecError:
    return _fail(
        WORKSPACE_FILE,
        workspace.lines,
        ("params", name),
        f"expected {kind} (a pipeline declares {name} a {kind} parameter), got {shorten(value)}",
    )


def check_declared_columns(pipeline: Pipeline, store: MetadataStore | None) -> None:
    """What the metadata store knows agrees with the declarations: each stage's recorded reads
    come from stages it needs, and the columns declared under ``tables:`` (``columns``,
    ``primary_key``) exist in the table's latest recorded build, when there is one (``millpond validate``; not at run time, where a
    build may be about to add them: ``materialize()`` checks them then). ``store``: the
    recorded history, ``None`` when nothing was recorded."""
    if store is None:
        return
    display = pipeline.workspace.relative(pipeline.path)
    _check_recorded_reads(pipeline, store, display)
    for i, stage in enumerate(pipeline.spec.stages):
        for table, spec in stage.tables.items():
            declared = spec.declared_columns()
            built = store.latest_materialization(table) if declared else None
            if built is None:
                continue
            for column in spec.missing_columns(list(built.schema)):
                where = (
                    ("columns", column) if column in spec.columns else ("primary_key", spec.primary_key.index(column))
                )
                raise _fail(
                    display,
                    pipeline.lines,
                    ("stages", i, "tables", table, *where),
                    f"{table} has no column {column!r} in its latest build"
                    f"{f' (run {built.run_id})' if built.run_id else ''}; columns: {', '.join(built.schema)}; "
                    "fix the name, or run the stage if the column is new",
                )


def _check_recorded_reads(pipeline: Pipeline, store, display: str) -> None:
    """What each stage's last execution read (recorded by ``ctx.table``) must still come from a
    stage it needs: the reads the notebook does not show (a name built at run time) are
    reconciled with ``needs`` too, once the stage has run (:mod:`millpond.pipeline.reads`)."""
    for index, stage in enumerate(pipeline.spec.stages):
        outside = tables_outside_needs(pipeline, stage.name)
        for table in sorted(store.reads_of_last_execution(pipeline.name, stage.name).keys() & outside.keys()):
            raise _fail(
                display,
                pipeline.lines,
                ("stages", index, "needs"),
                refusal(stage.name, table, outside[table]) + " (its last run read it)",
            )


def _fail(display: str, lines: LineMap, loc: tuple, message: str) -> SpecError:
    return SpecError(f"{display}:{lines.line_of(loc)}: {format_path(loc)}: {message}")


def _check_graph(pipeline: Pipeline, display: str) -> None:
    spec, lines = pipeline.spec, pipeline.lines
    seen: dict[str, int] = {}
    for i, stage in enumerate(spec.stages):
        if stage.name in seen:
            raise _fail(
                display,
                lines,
                ("stages", i, "name"),
                f"duplicate stage name {stage.name!r} (also stages[{seen[stage.name]}])",
            )
        seen[stage.name] = i
    for i, stage in enumerate(spec.stages):
        for j, up in enumerate(stage.needs):
            if up not in seen:
                raise _fail(
                    display, lines, ("stages", i, "needs", j), f"unknown stage {up!r} (stages: {', '.join(seen)})"
                )
            if up == stage.name:
                raise _fail(display, lines, ("stages", i, "needs", j), f"stage {up!r} needs itself")
    cycle = find_cycle(pipeline.needs)
    if cycle:
        first = seen[cycle[0]]
        raise _fail(display, lines, ("stages", first, "needs"), "cycle: " + " -> ".join(cycle))
    producer: dict[str, tuple[str, int]] = {}
    for i, stage in enumerate(spec.stages):
        for j, table in enumerate(stage.produces):
            if table in producer:
                other, _ = producer[table]
                raise _fail(
                    display,
                    lines,
                    ("stages", i, "produces", j),
                    f"table {table!r} is already produced by stage {other!r}",
                )
            producer[table] = (stage.name, i)


def _check_notebooks(pipeline: Pipeline, display: str, *, inspect: bool) -> None:
    lines = pipeline.lines
    for i, stage in enumerate(pipeline.spec.stages):
        nb = pipeline.notebook_path(stage)
        try:
            found = nb.is_file()
        except OSError as exc:  # a folder on the way that cannot be read, ...
            raise _fail(
                display,
                lines,
                ("stages", i, "notebook"),
                f"cannot read notebook {shorten(stage.notebook)}: {exc.strerror or exc}",
            ) from None
        if not found:
            raise _fail(display, lines, ("stages", i, "notebook"), f"notebook not found: {plain(stage.notebook)}")
        if nb.suffix != ".ipynb":
            raise _fail(display, lines, ("stages", i, "notebook"), f"not a .ipynb notebook: {plain(stage.notebook)}")
        if not inspect:
            continue
        try:
            declared = declared_parameters(nb, pipeline.workspace.meta_dir)
        except Exception as exc:  # an unreadable notebook is the user's to fix
            raise _fail(
                display, lines, ("stages", i, "notebook"), f"cannot read notebook {stage.notebook}: {exc}"
            ) from None
        pipeline.declared[stage.name] = declared
        for key, value in stage.params.items():
            loc = ("stages", i, "params", key)
            if key not in declared:
                known = ", ".join(declared) or "none"
                raise _fail(
                    display,
                    lines,
                    loc,
                    f"notebook {stage.notebook} declares no parameter {key!r} (its parameters cell declares: {known})",
                )
            if not compatible(value, declared[key]):
                raise _fail(
                    display,
                    lines,
                    loc,
                    f"wrong type: notebook {stage.notebook} declares {key} as {declared[key]}, got {python_type_name(value)} {value!r}",
                )
        for name, p in pipeline.spec.params.items():
            if name in declared and p.type in {"int", "float", "bool", "list"} and p.default is not None:
                if not compatible(p.default, declared[name]):
                    raise _fail(
                        display,
                        lines,
                        ("params", name),
                        f"wrong type: notebook {stage.notebook} declares {name} as {declared[name]}, pipeline declares {p.type}",
                    )
