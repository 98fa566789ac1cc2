"""What millpond needs to know about a stage notebook: its parameters and its source hash."""

from __future__ import annotations

import ast
import hashlib
import json
import os
from functools import lru_cache
from pathlib import Path


def source_fingerprint(path: Path) -> str:
    """Hash of a notebook's cell sources and types (not outputs, not metadata).

    Re-executing a notebook or committing its outputs does not change it; editing a
    cell, adding one, or re-tagging the parameters cell does.

    Examples
    --------
    >>> import nbformat, tempfile
    >>> nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("x = 1")])
    >>> p = Path(tempfile.mkdtemp()) / "a.ipynb"
    >>> nbformat.write(nb, p)
    >>> before = source_fingerprint(p)
    >>> nb.cells[0].outputs = [nbformat.v4.new_output("stream", text="1")]
    >>> nbformat.write(nb, p)
    >>> source_fingerprint(p) == before
    True
    """
    doc = json.loads(path.read_text())
    digest = hashlib.sha256()
    for cell in doc.get("cells", []):
        source = cell.get("source", "")
        if isinstance(source, list):
            source = "".join(source)
        tags = sorted(t for t in cell.get("metadata", {}).get("tags", []) if t == "parameters")
        digest.update(json.dumps([cell.get("cell_type"), source, tags]).encode())
    return digest.hexdigest()


@lru_cache(maxsize=256)
def _declared(path: str, mtime_ns: int) -> dict[str, str | None]:
    import papermill

    params = papermill.inspect_notebook(path)
    return {name: _type_of(info) for name, info in params.items()}


def _type_of(info: dict) -> str | None:
    """The annotation Papermill found, else the type of the literal default."""
    declared = info.get("inferred_type_name")
    if declared and declared != "None":
        return declared
    try:
        value = ast.literal_eval(info.get("default") or "None")
    except (ValueError, SyntaxError):
        return None
    return None if value is None else type(value).__name__


def declared_parameters(path: Path, cache_dir: Path | None = None) -> dict[str, str | None]:
    """Parameter names of a notebook and their inferred types (Papermill's inspector).

    With ``cache_dir``, answers are kept in ``notebook-parameters.json`` there, keyed
    by the notebook's :func:`source_fingerprint`; an unchanged notebook is then not
    inspected again (importing Papermill alone costs about a second).

    Examples
    --------
    >>> import nbformat, tempfile
    >>> cell = nbformat.v4.new_code_cell("run_date = '2024-01-31'\\nlimit = 10")
    >>> cell.metadata["tags"] = ["parameters"]
    >>> nb = nbformat.v4.new_notebook(cells=[cell])
    >>> nb.metadata["kernelspec"] = {"name": "python3", "language": "python", "display_name": "Python 3"}
    >>> p = Path(tempfile.mkdtemp()) / "a.ipynb"
    >>> nbformat.write(nb, p)
    >>> declared_parameters(p)
    {'run_date': 'str', 'limit': 'int'}
    """
    if cache_dir is None:
        return dict(_declared(str(path), path.stat().st_mtime_ns))
    cache_file = Path(cache_dir) / "notebook-parameters.json"
    key = source_fingerprint(path)
    try:
        cache = json.loads(cache_file.read_text())
    except (OSError, ValueError):
        cache = {}
    if key in cache:
        return cache[key]
    declared = dict(_declared(str(path), path.stat().st_mtime_ns))
    cache[key] = declared
    cache_file.parent.mkdir(parents=True, exist_ok=True)
    partial = cache_file.with_suffix(f".{os.getpid()}.tmp")
    partial.write_text(json.dumps(cache, sort_keys=True))
    os.replace(partial, cache_file)
    return declared
