"""The project: one workspace, its pipelines read once, and its metadata store, handed out.

Every command, the runner, a stage's ``mp.stage()``, the catalog, lineage and the docs
site get a workspace's declarations and its store from here, instead of each reading
the pipeline files and opening the store on its own:

- :meth:`Project.pipeline_specs`: every pipeline file (``.yml`` or ``.yaml``) parsed and
  validated as a settings model, read again only when the file changed;
- :meth:`Project.pipeline`: one pipeline loaded whole (graph, parameters, notebooks,
  checks, visible reads: :func:`millpond.pipeline.load.load_pipeline`), once;
- :meth:`Project.store`: the metadata store, created when missing;
  :meth:`Project.recorded_store`: the store only when something was recorded;
- :meth:`Project.warehouse`: a connection to the warehouse for one holder, opened lazily
  under the lease when the warehouse is a file; :meth:`Project.connect`: a plain backend.

:func:`project_of` gives the one project of a loaded workspace.

Examples
--------
>>> from millpond.workspace import example_workspace
>>> ws = example_workspace("stages:\\n- {name: s, notebook: n.ipynb, produces: [gold.a]}\\n")
>>> project = project_of(ws)
>>> project is project_of(ws), list(project.pipeline_specs())
(True, ['p'])
>>> project.pipeline_specs()["p"].spec.stages[0].produces
['gold.a']
>>> project.recorded_store() is None  # nothing recorded yet, and nothing created
True
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from millpond.environment import PROD, active_env, env_dir, warehouse_dir, warehouse_identity
from millpond.pipeline.load import load_pipeline, parse_pipeline_file
from millpond.settings.pipeline import PipelineSpec
from millpond.warehouse.connect import Warehouse, connect
from millpond.yaml_source import LineMap

if TYPE_CHECKING:
    from ibis.backends import BaseBackend

    from millpond.pipeline.load import Pipeline
    from millpond.store.metadata import MetadataStore
    from millpond.workspace import Workspace

STORE_FILE = "meta.sqlite"
IDENTITY_FILE = "warehouse.txt"
"""Beside the histories of one warehouse: which warehouse they are of."""


@dataclass(frozen=True)
class PipelineFile:
    """A pipeline file parsed and validated: its path, its spec and the line of each field."""

    name: str
    path: Path
    spec: PipelineSpec
    lines: LineMap


class Project:
    """A workspace with its pipelines and metadata store (see the module docstring)."""

    def __init__(self, workspace: Workspace) -> None:
        self.workspace = workspace
        self._specs: dict[Path, tuple[tuple[int, int], PipelineFile]] = {}
        self._pipelines: dict[tuple[str, bool], tuple[tuple, Pipeline]] = {}
        self._stores: dict[Path, MetadataStore] = {}

    # -- declarations ------------------------------------------------------------------
    def pipeline_specs(self) -> dict[str, PipelineFile]:
        """Every pipeline file of the workspace, by file stem (as commands name it; its
        :attr:`PipelineFile.name` is the file's ``name:``, or the stem)."""
        return {path.stem: self._spec_of(path) for path in self.workspace.pipeline_files()}

    def _spec_of(self, path: Path) -> PipelineFile:
        stat = path.stat()
        stamp = (stat.st_mtime_ns, stat.st_size)
        cached = self._specs.get(path)
        if cached is not None and cached[0] == stamp:
            return cached[1]
        spec, lines = parse_pipeline_file(self.workspace, path)
        parsed = PipelineFile(spec.name or path.stem, path, spec, lines)
        self._specs[path] = (stamp, parsed)
        return parsed

    def pipeline(self, name: str, *, check_notebooks: bool = True) -> Pipeline:
        """The pipeline ``name`` loaded whole and validated; loaded again when its file or a
        notebook of its stages changed."""
        key = (name, check_notebooks)
        cached = self._pipelines.get(key)
        if cached is not None and cached[0] == _stamps(cached[1]):
            return cached[1]
        loaded = load_pipeline(self.workspace, name, check_notebooks=check_notebooks)
        self._pipelines[key] = (_stamps(loaded), loaded)
        return loaded

    # -- the metadata store --------------------------------------------------------------
    def store_path(self, env: str | None = None) -> Path:
        """Where the history of environment ``env`` (default: this process's,
        :func:`~millpond.environment.active_env`) on the current warehouse is kept."""
        return env_dir(self.workspace, env or active_env()) / STORE_FILE

    def store(self, env: str | None = None) -> MetadataStore:
        """The metadata store of the current warehouse and environment ``env``, created when
        missing; one per warehouse and environment (:mod:`millpond.environment`)."""
        path = self.store_path(env)
        store = self._stores.get(path)
        if store is None:
            from millpond.store.metadata import MetadataStore

            _adopt_legacy_store(self.workspace, path)
            store = self._stores[path] = MetadataStore(path)
            _note_identity(self.workspace)
        return store

    def recorded_store(self, env: str | None = None) -> MetadataStore | None:
        """The metadata store when something was recorded; ``None`` (and nothing created) otherwise."""
        path = self.store_path(env)
        return self.store(env) if path in self._stores or path.is_file() or _legacy(self.workspace, path) else None

    # -- the warehouse ------------------------------------------------------------------
    def warehouse(self, holder: str) -> Warehouse:
        """The warehouse for ``holder`` (named to whoever waits for the lease): connected on
        ``hold()``, under the lease when the warehouse is a file, released on ``pause()``."""
        return Warehouse(self.workspace, holder)

    def connect(self) -> BaseBackend:
        """An Ibis backend on the warehouse with no lease taken: for a server, or for a
        caller that holds the lease itself."""
        return connect(self.workspace)


def _stamps(pipeline: Pipeline) -> tuple:
    """The state of the files a loaded pipeline was read from: its file and its notebooks."""
    return (_stamp(pipeline.path), *(_stamp(pipeline.notebook_path(s)) for s in pipeline.spec.stages))


def _stamp(path: Path) -> tuple[int, int] | None:
    try:
        stat = path.stat()
    except OSError:
        return None
    return stat.st_mtime_ns, stat.st_size


def project_of(workspace: Workspace) -> Project:
    """The project of ``workspace``: made once, then handed out to every caller."""
    project = getattr(workspace, "_project", None)
    if project is None:
        project = Project(workspace)
        workspace._project = project
    return project


def _note_identity(workspace: Workspace) -> None:
    """Write which warehouse a folder of histories is of, once."""
    note = warehouse_dir(workspace) / IDENTITY_FILE
    if not note.is_file():
        note.parent.mkdir(parents=True, exist_ok=True)
        note.write_text(warehouse_identity(workspace) + "\n")


def _legacy(workspace: Workspace, path: Path) -> bool:
    """Whether a store from before histories were kept per warehouse waits to become ``path``'s."""
    return path == env_dir(workspace, PROD) / STORE_FILE and (workspace.meta_dir / STORE_FILE).is_file()


def _adopt_legacy_store(workspace: Workspace, path: Path) -> None:
    """Move a store of the old layout (one ``data/.millpond/meta.sqlite`` for every
    warehouse) to production's history of the current warehouse, once."""
    if path.exists() or not _legacy(workspace, path):
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    for suffix in ("-wal", "-shm", ""):  # the main file last: its arrival marks the move done
        try:
            os.replace(workspace.meta_dir / (STORE_FILE + suffix), path.with_name(path.name + suffix))
        except FileNotFoundError:
            pass
