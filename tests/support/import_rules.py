"""Where millpond may import inside a function (ARCHITECTURE.md, issue 20.6).

An import inside a function is allowed only where it keeps a heavy third-party module off
the importing module's load, never to hide a cycle. Read statically from the sources:

- a function-level import of a heavy module (:data:`HEAVY`, each with its reason) that the
  module does not already load at its top;
- a function-level import of a millpond module that would load a heavy module the
  importing module does not load (so importing it at the top would slow down the callers
  that never reach the function), and that does not import the importing module back.

The standard library, light third-party modules and millpond modules that add nothing
heavy are imported at the top. ``TYPE_CHECKING`` imports are annotations only.
"""

from __future__ import annotations

import ast
import functools
import sys
from pathlib import Path

HEAVY = {
    "ibis": "0.4 s and 60 MB: a no-change run, the CLI's help and `validate` never load it",
    "pandas": "0.3 s: loaded only to build, profile or show tables",
    "pyarrow": "0.1 s and native code: loaded only when rows move",
    "duckdb": "native extension: the runner decides what to run without it",
    "sqlglot": "0.1 s of dialect tables: lineage and compiled SQL only",
    "psycopg": "the PostgreSQL driver, for PostgreSQL warehouses only",
    "pyspark": "the JVM bridge, for Spark warehouses only",
    "deltalake": "Delta Lake tables only",
    "altair": "charts in reports only",
    "vl_convert": "charts as SVG only",
    "papermill": "0.3 s: only when a stage executes",
    "nbformat": "only when a notebook is read or written",
    "nbconvert": "0.3 s: only to render a notebook as HTML",
    "jupyter_client": "only when a kernel starts",
    "ipykernel": "only inside a kernel",
    "IPython": "only inside a kernel",
    "jinja2": "only to render a report, the docs site or a starter workspace",
    "markdown_it": "only to render descriptions in the docs site",
    "rich": "0.1 s: only the commands that draw tables",
    "tenacity": "only when a stage executes with retries",
    "yaml": "the C loader: only when a file is read",
    "numpy": "only with pandas",
    "psutil": "only to inspect other processes",
    "tornado": "only inside a kernel or a server",
    "zmq": "only inside a kernel",
    "sqlite3": "the metadata store: commands that never read it never load it",
    "uvicorn": "only when a server is started",
    "starlette": "only when a server is started",
    "httpx": "only when something is sent",
    "croniter": "40 ms of dateutil's time zones: only a pipeline with a schedule (watch.cron)",
    "watchfiles": "a native file watcher: only under millpond watch",
    "redis": "the Redis client, for streams that read Redis only",
}
"""Modules worth keeping off a fast path, and why."""

STDLIB = set(sys.stdlib_module_names)


class Imports:
    """The import statements of the modules under ``root`` (``root/millpond/...``)."""

    def __init__(self, root: Path):
        self.root = root

    def path(self, name: str) -> Path | None:
        for candidate in (
            self.root / (name.replace(".", "/") + ".py"),
            self.root / name.replace(".", "/") / "__init__.py",
        ):
            if candidate.exists():
                return candidate
        return None

    @functools.lru_cache(maxsize=None)  # noqa: B019 - one instance per test session
    def statements(self, name: str) -> tuple[list[tuple[int, list[str]]], list[tuple[int, list[str]]]]:
        """``(top-level, function-level)`` imports of module ``name``: ``(line, [module, ...])``."""
        path = self.path(name)
        tree = ast.parse(path.read_text())
        annotations, top = set(), set()
        for node in tree.body:
            if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
                annotations |= {id(n) for n in ast.walk(node)}
            elif isinstance(node, (ast.Import, ast.ImportFrom, ast.Try, ast.If)):
                top |= {id(n) for n in ast.walk(node)}
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        found: tuple[list, list] = ([], [])
        for node in ast.walk(tree):
            if not isinstance(node, (ast.Import, ast.ImportFrom)) or id(node) in annotations:
                continue
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            else:
                base = node.module or ""
                if node.level:
                    base = ".".join(
                        [*package.split(".")[: len(package.split(".")) - node.level + 1], *([base] if base else [])]
                    )
                targets = [base] + [
                    f"{base}.{a.name}" for a in node.names if self._is_ours(base) and self.path(f"{base}.{a.name}")
                ]
            found[0 if id(node) in top else 1].append((node.lineno, targets))
        return found

    @staticmethod
    def _is_ours(name: str) -> bool:
        return name.split(".")[0] in ("millpond", "shop", "flights")

    @functools.lru_cache(maxsize=None)  # noqa: B019
    def loaded(self, name: str, with_packages: bool = True) -> tuple[frozenset[str], frozenset[str]]:
        """Third-party modules and our own modules that importing ``name`` loads."""
        ours, third, stack = set(), set(), [name]
        while stack:
            module = stack.pop()
            parts = module.split(".")
            for each in ([".".join(parts[:i]) for i in range(1, len(parts))] if with_packages else []) + [module]:
                if each in ours or self.path(each) is None:
                    continue
                ours.add(each)
                for _, targets in self.statements(each)[0]:
                    for target in targets:
                        if self._is_ours(target):
                            stack.append(target if self.path(target) else target.rpartition(".")[0])
                        elif target.split(".")[0] not in STDLIB or target.split(".")[0] in HEAVY:
                            third.add(target)
        return frozenset(third), frozenset(ours)

    def heavy(self, name: str) -> set[str]:
        return {m for m in self.loaded(name)[0] if m.split(".")[0] in HEAVY}

    def problems(self, package: str = "millpond") -> list[str]:
        """``file:line: why`` for each import inside a function that breaks the rule."""
        found = []
        for path in sorted((self.root / package).rglob("*.py")):
            parts = path.relative_to(self.root).with_suffix("").parts
            name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
            here = self.heavy(name)
            where = f"{path.relative_to(self.root.parent)}"
            for line, targets in self.statements(name)[1]:
                target = targets[-1]
                first = target.split(".")[0]
                if self._is_ours(target):
                    module = target if self.path(target) else target.rpartition(".")[0]
                    if name in self.loaded(module, with_packages=False)[1]:
                        found.append(f"{where}:{line}: {target} imports this module back: a cycle to untie")
                    elif not self.heavy(module) - here:
                        found.append(
                            f"{where}:{line}: {target} loads nothing heavy this module does not: import it at the top"
                        )
                elif first not in HEAVY:
                    found.append(f"{where}:{line}: {target} is not heavy: import it at the top")
                elif target in here:
                    found.append(f"{where}:{line}: {target} is imported at the top already")
        return found
