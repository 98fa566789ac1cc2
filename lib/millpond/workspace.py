"""The workspace: a folder with ``millpond.yml``, notebooks, pipelines and data.

Every path resolves from the workspace root, wherever a command is started.
"""

from __future__ import annotations

import importlib
import os
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from millpond.engines import DEFAULT_URL, engine_class
from millpond.errors import MillpondError, SpecError
from millpond.secrets import expand_placeholders
from millpond.settings.workspace import WorkspaceSpec
from millpond.validation import spec_error
from millpond.yaml_source import load_yaml

WORKSPACE_FILE = "millpond.yml"


class Workspace:
    """A loaded workspace.

    Parameters
    ----------
    root
        The folder holding ``millpond.yml``.

    Examples
    --------
    >>> import tempfile
    >>> root = Path(tempfile.mkdtemp())
    >>> _ = (root / "millpond.yml").write_text("name: demo\\n")
    >>> ws = Workspace(root)
    >>> ws.spec.name, ws.path("data/raw") == root.resolve() / "data/raw"
    ('demo', True)
    >>> ws.warehouse_url().startswith("duckdb:///")
    True
    """

    def __init__(self, root: Path | str):
        self.root = Path(root).resolve()
        spec_path = self.root / WORKSPACE_FILE
        if not spec_path.is_file():
            raise MillpondError(f"{spec_path}: no {WORKSPACE_FILE} here; is this a millpond workspace?")
        data, lines = load_yaml(spec_path, WORKSPACE_FILE)
        self.lines = lines  # the line of each field of millpond.yml, for errors found later
        self._project: Any = None  # its Project, made once by millpond.project.project_of
        try:
            self.spec = WorkspaceSpec.model_validate(data or {})
        except ValidationError as exc:
            raise spec_error(exc, WORKSPACE_FILE, lines, WorkspaceSpec) from None
        self._check_folders()

    def _check_folders(self) -> None:
        """A folder of ``folders:`` that exists is a folder (``meta: /dev/zero`` is refused here,
        not when the metadata store is first opened)."""
        for name, value in self.spec.folders.model_dump().items():
            try:
                taken = self.path(value).exists() and not self.path(value).is_dir()
            except OSError:  # cannot look: the command that needs it says why
                continue
            if taken:
                line = self.lines.line_of(("folders", name))
                raise SpecError(f"{WORKSPACE_FILE}:{line}: folders.{name}: {value} exists and is not a folder")

    # -- discovery -------------------------------------------------------------
    @classmethod
    def find(cls, start: Path | str | None = None) -> Workspace:
        """Find the workspace: ``$MILLPOND_WORKSPACE``, else upwards from ``start``
        (default the current directory); none is an error (never the repository this
        package happens to live in).
        """
        env_root = os.environ.get("MILLPOND_WORKSPACE")
        if env_root:
            return cls(env_root)
        here = Path(start or Path.cwd()).resolve()
        for folder in (here, *here.parents):
            if (folder / WORKSPACE_FILE).is_file():
                return cls(folder)
        raise MillpondError(
            f"no {WORKSPACE_FILE} found in {here} or its parents; run from a workspace or set MILLPOND_WORKSPACE"
        )

    # -- paths -----------------------------------------------------------------
    def path(self, relative: str | Path) -> Path:
        """Resolve ``relative`` from the workspace root (absolute paths pass through)."""
        p = Path(relative)
        return p if p.is_absolute() else self.root / p

    def relative(self, path: Path) -> str:
        """``path`` relative to the root when it is inside it, else absolute."""
        try:
            return str(Path(path).resolve().relative_to(self.root))
        except ValueError:
            return str(path)

    @property
    def meta_dir(self) -> Path:
        return self.path(self.spec.folders.meta)

    @property
    def runs_dir(self) -> Path:
        return self.path(self.spec.folders.runs)

    @property
    def pipelines_dir(self) -> Path:
        return self.path(self.spec.folders.pipelines)

    # -- warehouse -------------------------------------------------------------
    def secret_env(self) -> dict[str, str]:
        """Secret name to environment variable name."""
        return {name: s.env for name, s in self.spec.secrets.items()}

    def warehouse_url(self, *, resolve_secrets: bool = False) -> str:
        """The warehouse URL, with what it names inside the workspace made absolute.

        ``$MILLPOND_WAREHOUSE`` overrides ``millpond.yml``; neither: the embedded default.
        Secret placeholders (``${secret:NAME}``) are only expanded when ``resolve_secrets``
        is true, which only the process that connects does.
        """
        url = os.environ.get("MILLPOND_WAREHOUSE") or self.spec.warehouse or DEFAULT_URL
        url = engine_class(url).absolute_url(url, self.root)
        if resolve_secrets:
            url = expand_placeholders(url, self.secret_env())
        return url

    def warehouse_file(self) -> Path | None:
        """The one file holding the warehouse (an embedded engine's), or ``None`` for a server."""
        url = self.warehouse_url()
        return engine_class(url).database_file(url)

    # -- the workspace's own code -------------------------------------------------
    @property
    def code_dir(self) -> Path:
        """The folder of the workspace's own modules (``folders.lib``, by default ``lib/``)."""
        return self.path(self.spec.folders.lib)

    def use_code(self) -> None:
        """Make the workspace's own modules importable here and in the processes started from here.

        The folder goes first on ``sys.path`` and on ``$PYTHONPATH`` (kernels, the warm
        forkserver), so a stage's ``from shop import gold`` finds the workspace's ``lib/shop``.
        Nothing happens when the folder does not exist.

        >>> import sys, tempfile
        >>> root = Path(tempfile.mkdtemp())
        >>> _ = (root / "millpond.yml").write_text("name: demo\\n")
        >>> (root / "lib").mkdir()
        >>> Workspace(root).use_code()
        >>> sys.path[0] == str(root.resolve() / "lib")
        True
        >>> _ = sys.path.pop(0)
        """
        folder = self.code_dir
        if not folder.is_dir():
            return
        entry = str(folder)
        if entry not in sys.path:
            sys.path.insert(0, entry)
        paths = [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]
        if entry not in paths:
            os.environ["PYTHONPATH"] = os.pathsep.join([entry, *paths])

    def generator(self) -> Callable[..., object]:
        """The function ``generator:`` names in ``millpond.yml``, imported from the workspace's code.

        ``millpond generate`` calls it as ``generator(out_dir, seed=, scale=, start=, days=)``, and
        with ``day=`` too for ``--day N`` (the data N days later) when the function takes it.
        """
        declared = self.spec.generator
        line = self.lines.line_of(("generator",))
        if declared is None:
            raise MillpondError(f"{WORKSPACE_FILE}: no `generator:` (module:function) to write sample data with")
        module_name, _, function = declared.partition(":")
        self.use_code()
        try:
            module = importlib.import_module(module_name)
        except ImportError as exc:
            raise MillpondError(
                f"{WORKSPACE_FILE}:{line}: generator: cannot import {module_name} ({exc}); "
                f"is it under {self.relative(self.code_dir)}/?"
            ) from None
        found = getattr(module, function, None)
        if not callable(found):
            raise MillpondError(f"{WORKSPACE_FILE}:{line}: generator: {module_name} has no function {function}")
        return found

    def pipeline_files(self) -> list[Path]:
        """Every pipeline spec file, ``pipelines/*.yml`` and ``pipelines/*.yaml`` alike, sorted by name."""
        if not self.pipelines_dir.is_dir():
            return []
        return sorted(
            (p for p in self.pipelines_dir.iterdir() if p.suffix in {".yml", ".yaml"} and p.is_file()),
            key=lambda p: (p.stem, p.suffix),
        )

    def pipeline_file(self, name: str) -> Path:
        """The spec file of pipeline ``name`` (a name, or a path to a .yml)."""
        candidate = Path(name)
        if candidate.suffix in {".yml", ".yaml"}:
            for option in (candidate, Path.cwd() / candidate, self.path(candidate)):
                if option.is_file():
                    return option.resolve()
            raise MillpondError(f"no pipeline file {name}")
        for suffix in (".yml", ".yaml"):
            p = self.pipelines_dir / f"{name}{suffix}"
            if p.is_file():
                return p
        known = [p.stem for p in self.pipeline_files()]
        raise MillpondError(
            f"no pipeline {name!r} in {self.relative(self.pipelines_dir)} (known: {', '.join(known) or 'none'})"
        )


EMPTY_NOTEBOOK = '{"cells": [], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}'


def example_workspace(pipeline: str, *, name: str = "w") -> Workspace:
    """A throwaway workspace in a new temporary folder, for examples and doctests.

    It holds ``millpond.yml``, ``pipelines/p.yml`` with the text ``pipeline``, and an
    empty notebook at each stage's ``notebook`` path.

    >>> ws = example_workspace("stages:\\n- {name: s, notebook: n.ipynb, produces: [gold.a]}\\n")
    >>> sorted(p.relative_to(ws.root).as_posix() for p in ws.root.rglob("*") if p.is_file())
    ['millpond.yml', 'n.ipynb', 'pipelines/p.yml']
    """

    root = Path(tempfile.mkdtemp(prefix="millpond-example-"))
    (root / "millpond.yml").write_text(f"name: {name}\n")
    (root / "pipelines").mkdir()
    (root / "pipelines" / "p.yml").write_text(pipeline)
    for stage in (yaml.safe_load(pipeline) or {}).get("stages", []):
        notebook = root / stage["notebook"]
        notebook.parent.mkdir(parents=True, exist_ok=True)
        notebook.write_text(EMPTY_NOTEBOOK)
    return Workspace(root)
