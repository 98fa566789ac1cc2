"""Which of the workspace's own modules a stage notebook imports, read from the source.

A stage's fingerprint covers the code it runs: the framework by its released version,
and the workspace's own modules (``lib/``, :attr:`millpond.workspace.Workspace.code_dir`)
by their source. Which workspace modules count is read statically, before the stage
runs: the ``import`` statements of the notebook's code cells, then, transitively, those
of every workspace module they reach (relative imports included), plus the
``__init__.py`` of each package on the way. A module outside the workspace's folder
(the framework, a third-party package) is not followed. An import built at run time
(``importlib.import_module(name)``) is not seen: name the module in an ``import``.

Examples
--------
>>> import tempfile, nbformat
>>> root = Path(tempfile.mkdtemp())
>>> (root / "shop").mkdir()
>>> _ = (root / "shop" / "__init__.py").write_text("")
>>> _ = (root / "shop" / "gold.py").write_text("from .money import MONEY\\nimport ibis\\n")
>>> _ = (root / "shop" / "money.py").write_text("MONEY = 2\\n")
>>> _ = (root / "shop" / "unused.py").write_text("")
>>> nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("import millpond as mp\\n%time 1\\nfrom shop import gold")])
>>> nbformat.write(nb, root / "s.ipynb")
>>> [p.relative_to(root).as_posix() for p in imported_modules(root / "s.ipynb", root)]
['shop/__init__.py', 'shop/gold.py', 'shop/money.py']
"""

from __future__ import annotations

import ast
import json
import threading
from functools import lru_cache
from pathlib import Path

_PARSING = threading.Lock()
"""``ast.parse`` from two threads at once can fail on Python 3.11 ("AST constructor recursion
depth mismatch", CPython gh-106905), and the runner fingerprints stages on a thread pool."""


def notebook_code(path: Path) -> str:
    """The code cells of a notebook as one Python text; IPython magics and shell lines are left out."""
    cells = json.loads(path.read_text()).get("cells", [])
    lines = []
    for cell in cells:
        if cell.get("cell_type") != "code":
            continue
        source = cell.get("source", "")
        source = "".join(source) if isinstance(source, list) else source
        lines += [line for line in source.splitlines() if not line.lstrip().startswith(("%", "!"))]
    return "\n".join(lines)


def parse_python(source: str) -> ast.Module:
    """``ast.parse``, one thread at a time (see ``_PARSING``); raises ``SyntaxError``."""
    with _PARSING:
        return ast.parse(source)


@lru_cache(maxsize=512)
def _imports(source: str, package: str) -> frozenset[str]:
    """Absolute names of the modules ``source`` imports (``package``: its own, for relative imports)."""
    try:
        tree = parse_python(source)
    except SyntaxError:  # a cell that is not Python: the stage fails on it, and says so, when it runs
        return frozenset()
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                parts = package.split(".") if package else []
                base = parts[: len(parts) - node.level + 1] if node.level <= len(parts) else []
                stem = ".".join(base + ([node.module] if node.module else []))
            else:
                stem = node.module or ""
            if stem:
                found.add(stem)
                found.update(f"{stem}.{alias.name}" for alias in node.names if alias.name != "*")
    return frozenset(found)


def _files_of(name: str, code_dir: Path) -> list[tuple[str, Path]]:
    """``(module, file)`` for ``name`` and each of its packages found under ``code_dir``."""
    found = []
    parts = name.split(".")
    for depth in range(1, len(parts) + 1):
        module = ".".join(parts[:depth])
        folder = code_dir.joinpath(*parts[:depth])
        if (folder / "__init__.py").is_file():
            found.append((module, folder / "__init__.py"))
        elif folder.with_suffix(".py").is_file():
            found.append((module, folder.with_suffix(".py")))
            break
        else:
            break
    return found


def imported_modules(notebook: Path, code_dir: Path) -> list[Path]:
    """The files of the workspace's modules that ``notebook`` imports, directly or not, sorted."""
    if not code_dir.is_dir():
        return []
    seen: dict[Path, str] = {}
    pending = [(name, "") for name in _imports(notebook_code(notebook), "")]
    while pending:
        name, _ = pending.pop()
        for module, path in _files_of(name, code_dir):
            if path in seen:
                continue
            seen[path] = module
            package = module if path.name == "__init__.py" else module.rpartition(".")[0]
            pending += [(n, package) for n in _imports(path.read_text(errors="replace"), package)]
    return sorted(seen)
