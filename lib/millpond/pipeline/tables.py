"""Finding a table's declarations (``tables:`` and ``checks:`` of the stage that produces
it) from any pipeline of the workspace, cheaply (YAML only, no notebook inspection), so
a notebook run from JupyterLab honours them as the runner does.

The declarations themselves are :class:`millpond.settings.tables.TableSpec`. A key must
be one of the stage's ``produces``. The catalog fields (``description``, ``owner``,
``tags``, ``primary_key``, ``columns``) document the table for ``millpond catalog``;
every column they name must be built: :meth:`TableSpec.check_columns` runs in
``materialize()`` before anything is built, and ``millpond validate`` compares them with
the latest recorded schema.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from millpond.errors import SpecError
from millpond.settings.tables import TableSpec
from millpond.yaml_source import load_yaml

if TYPE_CHECKING:
    from millpond.workspace import Workspace


def passed_declarations() -> dict[str, Any]:
    """What the runner handed this stage's kernel of the stage's declarations, as the run
    loaded and validated them (``MILLPOND_DECLARATIONS``, see
    :func:`millpond.run.execute.stage_declarations`): ``tables`` as JSON, ``checks`` as
    YAML text. Empty outside a kernel the runner started.

    >>> passed_declarations()
    {}
    """
    return json.loads(os.environ.get("MILLPOND_DECLARATIONS") or "{}")


def declared_table_spec(workspace: Workspace, name: str, pipeline: str | None = None) -> TableSpec:
    """The options declared for table ``name``.

    In a stage's kernel under the runner, the stage's own declaration as the run loaded it
    (:func:`passed_declarations`): a pipeline file edited while the run goes on changes
    nothing of it. Otherwise, and for a table the stage does not declare, from the files:
    ``pipeline`` first, then any pipeline. An empty :class:`TableSpec` when no stage
    declares ``name`` under ``tables:``. Files that do not parse are passed over here:
    validation reports them.
    """
    passed = passed_declarations().get("tables", {})
    if name in passed:
        return TableSpec.model_validate(passed[name])
    files = workspace.pipeline_files()
    if pipeline:
        files.sort(key=lambda f: f.stem != pipeline)
    for path in files:
        declared = _tables_in(path).get(name)
        if declared is not None:
            return TableSpec.model_validate(declared)
    return TableSpec()


def declared_checks(workspace: Workspace, name: str, pipeline: str | None = None) -> list[Any]:
    """The checks declared for table ``name`` under a stage's ``checks:`` (YAML mappings):
    the run's in a stage's kernel, as :func:`declared_table_spec` says; else from
    ``pipeline`` first, then any pipeline; empty when none."""
    passed = yaml.safe_load(passed_declarations().get("checks") or "{}")
    if name in passed:
        return passed[name]
    files = workspace.pipeline_files()
    if pipeline:
        files.sort(key=lambda f: f.stem != pipeline)
    for path in files:
        declared = _blocks_in(path)[1].get(name)
        if isinstance(declared, list):
            return declared
    return []


_CACHE: dict[Path, tuple[int, tuple[dict[str, Any], dict[str, Any]]]] = {}


def _tables_in(path: Path) -> dict[str, Any]:
    """``{table: options}`` over the stages of one pipeline file (cached by mtime)."""
    return _blocks_in(path)[0]


def _blocks_in(path: Path) -> tuple[dict[str, Any], dict[str, Any]]:
    """``({table: options}, {table: checks})`` over the stages of one pipeline file (cached by mtime)."""
    mtime = path.stat().st_mtime_ns
    cached = _CACHE.get(path)
    if cached and cached[0] == mtime:
        return cached[1]
    try:  # the spec reader: bounded on hostile files, merge keys as in validation
        data, _ = load_yaml(path)
    except SpecError:
        data = {}
    if not isinstance(data, dict):
        data = {}
    found: tuple[dict[str, Any], dict[str, Any]] = ({}, {})
    for stage in (data.get("stages") or []) if isinstance(data, dict) else []:
        for block, into in (("tables", found[0]), ("checks", found[1])):
            if isinstance(stage, dict) and isinstance(stage.get(block), dict):
                for table, options in stage[block].items():
                    into.setdefault(table, options if options is not None else ({} if block == "tables" else []))
    _CACHE[path] = (mtime, found)
    return found
