"""The shape of the code, checked: import layers, where backends are named, module sizes,
and a no-change run that stays off Ibis (ARCHITECTURE.md, issue 20)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from support.workspaces import make_workspace, write_notebook

REPOSITORY = Path(__file__).resolve().parents[1]
LIBRARY = REPOSITORY / "lib" / "millpond"
BRANCH_ON_BACKEND = re.compile(r"""\.name\s*(==|!=|in)\s*[\(\{\[]?\s*["'](duckdb|postgres|pyspark)["']""")


def test_the_import_layers_hold():
    done = subprocess.run(
        [str(Path(sys.executable).parent / "lint-imports"), "--no-cache"],
        cwd=REPOSITORY,
        env={**os.environ, "PYTHONPATH": str(REPOSITORY / "lib")},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    assert "Contracts: 5 kept, 0 broken." in done.stdout


def test_every_package_has_a_layer():
    """A new package or top-level module must be placed in the layers contract, or
    import-linter would not constrain it."""
    import configparser

    config = configparser.ConfigParser()
    config.read(REPOSITORY / ".importlinter")
    layered = {
        name.strip()
        for line in config["importlinter:contract:layers"]["layers"].splitlines()
        for name in re.split(r"[|:]", line)
        if name.strip()
    }
    children = {
        p.stem
        for p in LIBRARY.iterdir()
        if (p.suffix == ".py" and p.stem != "__init__") or (p / "__init__.py").exists()
    }
    assert children - layered == set(), "add these to the layers of .importlinter"
    assert layered - children == set(), "the layers name modules that are gone"


@pytest.mark.parametrize("command", [["check"], ["format", "--check"]], ids=["lint", "format"])
def test_ruff_finds_nothing(command):
    done = subprocess.run(
        [str(Path(sys.executable).parent / "ruff"), *command, "lib", "tests", "benchmarks"],
        cwd=REPOSITORY,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]


def test_the_public_api_type_checks(tmp_path):
    """Issue 20.6: mypy over the library's public API ([tool.mypy] files in pyproject.toml)."""
    done = subprocess.run(
        [str(Path(sys.executable).parent / "mypy"), "--cache-dir", str(tmp_path)],
        cwd=REPOSITORY,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    assert done.stdout.startswith("Success: no issues found")


def test_only_the_engine_layer_branches_on_a_backend():
    found = [
        f"{path.relative_to(REPOSITORY)}:{number}"
        for path in LIBRARY.rglob("*.py")
        if "engines" not in path.relative_to(LIBRARY).parts
        for number, line in enumerate(path.read_text().splitlines(), 1)
        if BRANCH_ON_BACKEND.search(line)
    ]
    notebooks = [
        str(p.relative_to(REPOSITORY))
        for p in (REPOSITORY / "notebooks").rglob("*.ipynb")
        if any(BRANCH_ON_BACKEND.search("".join(cell["source"])) for cell in json.loads(p.read_text())["cells"])
    ]
    assert found == [] and notebooks == []


BACKENDS = {"duckdb", "postgres", "postgresql", "psycopg", "pyspark", "spark"}
"""Names of the backends and their client modules, which only ``engines/`` may use in code."""


def _backend_names_in_code(path: Path) -> list[str]:
    """``line: token`` for each name or string in ``path``'s code (docstrings, comments and
    doctest examples left out) that is a backend's name, a module path through one
    (``ibis.duckdb``) or a warehouse URL of one (``"duckdb://..."``)."""
    import ast
    import io
    import tokenize

    source = path.read_text()
    docstrings = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)) and node.body:
            first = node.body[0]
            if (
                isinstance(first, ast.Expr)
                and isinstance(first.value, ast.Constant)
                and isinstance(first.value.value, str)
            ):
                docstrings.add(first.lineno)
        # an attribute's docstring: a string statement right after an assignment
        for body in (getattr(node, "body", None), getattr(node, "orelse", None)):
            if isinstance(body, list):
                docstrings.update(
                    b.lineno
                    for a, b in zip(body, body[1:])
                    if isinstance(a, (ast.Assign, ast.AnnAssign))
                    and isinstance(b, ast.Expr)
                    and isinstance(b.value, ast.Constant)
                    and isinstance(b.value.value, str)
                )
    found = []
    for token in tokenize.generate_tokens(io.StringIO(source).readline):
        if token.type == tokenize.NAME and token.string in BACKENDS:
            found.append(f"{token.start[0]}: {token.string}")
        elif token.type == tokenize.STRING and token.start[0] not in docstrings:
            text = token.string.strip("rbuf").strip("'\"")
            if text.split("://")[0] in BACKENDS or text in BACKENDS:
                found.append(f"{token.start[0]}: {token.string}")
    return found


def test_no_backend_is_named_outside_the_engine_layer():
    """Only ``engines/`` names a backend in code: no ``import duckdb``, ``ibis.duckdb``,
    ``"postgres://"`` or ``"pyspark"`` elsewhere (prose and doctest examples may)."""
    found = {
        str(p.relative_to(REPOSITORY)): names
        for p in LIBRARY.rglob("*.py")
        if "engines" not in p.relative_to(LIBRARY).parts and (names := _backend_names_in_code(p))
    }
    assert found == {}


def test_the_backend_name_finder_finds_them(tmp_path):
    module = tmp_path / "m.py"
    module.write_text(
        '"""Uses ``duckdb`` in prose.\n\n>>> import duckdb\n"""\nimport duckdb\n'
        'URL = "postgres://h/db"\n"""A URL such as "pyspark://local"."""\nx = ibis.pyspark\n'
        'text = "a duckdb file"  # duckdb in a comment\n'
    )
    assert _backend_names_in_code(module) == ["5: duckdb", '6: "postgres://h/db"', "8: pyspark"]


def test_imports_inside_functions_only_keep_heavy_modules_off_a_fast_path():
    """Issue 20.6: an import inside a function keeps a heavy module (``HEAVY``, each with its
    reason) off the importing module's load, and never hides a cycle."""
    from support.import_rules import Imports

    assert Imports(REPOSITORY / "lib").problems() == []


def test_the_import_rule_finds_what_it_must(tmp_path):
    package = tmp_path / "millpond"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "light.py").write_text("import json\n")
    (package / "heavy.py").write_text("import ibis\n")
    (package / "loop.py").write_text("def f():\n    from millpond.user import g\n")
    (package / "user.py").write_text(
        "from millpond import loop\n\n"
        "def a():\n    import json\n\n"  # standard library: at the top
        "def b():\n    from millpond.light import x\n\n"  # nothing heavy: at the top
        "def c():\n    from millpond.heavy import y\n\n"  # keeps ibis off: allowed
        "def d():\n    import pandas\n"  # heavy: allowed
    )
    from support.import_rules import Imports

    found = Imports(tmp_path).problems()
    assert [line.split(": ", 1)[0].rsplit("/", 1)[1] for line in found] == ["loop.py:2", "user.py:4", "user.py:7"]
    assert "a cycle" in found[0] and "not heavy" in found[1] and "nothing heavy" in found[2]


def test_no_module_passes_400_lines():
    long = {
        str(p.relative_to(REPOSITORY)): n for p in LIBRARY.rglob("*.py") if (n := len(p.read_text().splitlines())) > 400
    }
    assert long == {}


def test_a_no_change_run_imports_no_ibis(tmp_path):
    write_notebook(
        tmp_path / "notebooks/make.ipynb",
        "n = 3",
        "import millpond as mp, ibis\nctx = mp.stage()",
        "ctx.materialize(ibis.memtable({'id': list(range(n))}), 'gold.t')",
    )
    make_workspace(
        tmp_path,
        {
            "p": {
                "stages": [
                    {
                        "name": "s",
                        "notebook": "notebooks/make.ipynb",
                        "produces": ["gold.t"],
                        "checks": {"gold.t": [{"unique": "id"}]},
                    }
                ]
            }
        },
    )
    probe = (
        "import sys\nfrom millpond.cli import main\ncode = main(['run', 'p', '-C', sys.argv[1], '--plain'])\n"
        "print('ibis imported' if 'ibis' in sys.modules else 'no ibis', code)"
    )
    first = subprocess.run([sys.executable, "-c", probe, str(tmp_path)], capture_output=True, text=True, timeout=300)
    assert first.stdout.strip().endswith(" 0"), first.stdout + first.stderr
    again = subprocess.run([sys.executable, "-c", probe, str(tmp_path)], capture_output=True, text=True, timeout=300)
    assert "skipped" in again.stdout and again.stdout.strip().splitlines()[-1] == "no ibis 0", (
        again.stdout + again.stderr
    )


def test_only_the_command_line_draws_on_the_terminal():
    """Terminal views live with the CLI (``cli/*_view.py``); the library returns data. The
    runner's progress lines (``run/progress.py``) are the one other place that uses rich."""
    drawing = {
        str(p.relative_to(LIBRARY))
        for p in LIBRARY.rglob("*.py")
        if re.search(r"^\s*(from rich|import rich)", p.read_text(), re.M)
    }
    assert {p for p in drawing if not p.startswith("cli/")} == {"run/progress.py"}
    assert {"cli/catalog_view.py", "cli/lineage_view.py", "cli/versions_view.py"} <= drawing
