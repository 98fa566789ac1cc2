"""millpond: notebook-driven analytics engineering over a shared Ibis library.

The public surface is small on purpose:

- :func:`stage` gives a stage notebook its context (connection, tables, parameters,
  materializations);
- :class:`Workspace` loads a workspace (``millpond.yml``) from disk;
- ``__version__``.

Heavy dependencies (Ibis, Papermill, Jupyter) are imported lazily so that the
command line stays fast.
"""

from __future__ import annotations

import sys as _sys

# jsonschema imports the optional ``rfc3987_syntax`` package when it is installed
# (jupyter-events pulls it in); it compiles a grammar at import and costs seconds
# on every process that touches nbformat. Nothing here validates IRI formats, so
# tell Python it is absent unless someone imported it already.
_sys.modules.setdefault("rfc3987_syntax", None)  # type: ignore[arg-type]  # None: "not installed"

__version__ = "0.1.0"

__all__ = ["__version__", "stage", "Workspace"]


def __getattr__(name: str):
    if name == "stage":
        from millpond.stage_api.context import stage

        return stage
    if name == "Workspace":
        from millpond.workspace import Workspace

        return Workspace
    raise AttributeError(f"module 'millpond' has no attribute {name!r}")
