"""``millpond init``: a new workspace in the design card's layout, ready to run and to test.

The starter (the default) is a small workspace of its own: ``millpond.yml``, a pipeline of
three stages (bronze loads a CSV file as text, silver types it and holds bad rows in
quarantine with a reason, gold builds a daily revenue mart) with checks, its own code
under ``lib/<package>/`` (a sample-data generator and pure-Ibis transforms), pytest tests
against the generator's manifest, and a ``Makefile`` whose ``make run`` and ``make test``
pass as created. Its files are rendered from the templates in ``millpond/starter/``.

``example="shop"`` copies the reference shop instead (its pipeline, the notebooks that
pipeline names, ``lib/shop``), from the source checkout millpond is installed from.

Examples
--------
>>> import tempfile
>>> target = Path(tempfile.mkdtemp()) / "sales-team"
>>> created = init_workspace(target)
>>> sorted(p.relative_to(target).as_posix() for p in created)[:6]
['.gitignore', 'Makefile', 'README.md', 'data/raw/.gitkeep', 'environment.yml', 'lib/sales_team/__init__.py']
>>> init_workspace(target)
Traceback (most recent call last):
...
millpond.errors.MillpondError: sales-team: already holds files; millpond init wants a new or empty folder
"""

from __future__ import annotations

import re
import shutil
import sys
from pathlib import Path

import millpond
from millpond.errors import MillpondError

STARTER = Path(__file__).parent / "starter"
EXAMPLES = ("shop",)


def package_name(folder: str) -> str:
    """A Python package name made from a folder name.

    >>> package_name("Sales-Team 2"), package_name("2024 data")
    ('sales_team_2', 'ws_2024_data')
    """
    name = re.sub(r"\W+", "_", folder.lower()).strip("_") or "workspace"
    return f"ws_{name}" if name[0].isdigit() else name


def _starter_files(package: str) -> dict[str, str]:
    """Target path -> template name of the starter."""
    return {
        "millpond.yml": "millpond.yml.jinja",
        f"pipelines/{package}.yml": "pipeline.yml.jinja",
        "notebooks/bronze/10_load_sales.ipynb": "bronze.ipynb.jinja",
        "notebooks/silver/20_clean_sales.ipynb": "silver.ipynb.jinja",
        "notebooks/gold/30_build_daily_revenue.ipynb": "gold.ipynb.jinja",
        f"lib/{package}/__init__.py": "package_init.py.jinja",
        f"lib/{package}/generate.py": "generate.py.jinja",
        f"lib/{package}/transforms.py": "transforms.py.jinja",
        "tests/conftest.py": "conftest.py.jinja",
        "tests/test_transforms.py": "test_transforms.py.jinja",
        "tests/test_pipeline.py": "test_pipeline.py.jinja",
        "tests/test_workspace.py": "test_workspace.py.jinja",
    }


def _common_files() -> dict[str, str]:
    return {
        "Makefile": "Makefile.jinja",
        "README.md": "README.md.jinja",
        "environment.yml": "environment.yml.jinja",
        ".gitignore": "gitignore.jinja",
    }


def _source_checkout() -> Path:
    """The repository millpond is installed from (editable), which holds the reference workspaces."""
    root = Path(millpond.__file__).resolve().parents[2]
    if not (root / "millpond.yml").is_file() or not (root / "lib" / "shop").is_dir():
        raise MillpondError(
            "--example shop: the reference shop ships with millpond's source checkout, and this "
            f"millpond is installed from {root}; install it from a clone (pip install -e .)"
        )
    return root


def _copy_example(target: Path, example: str) -> list[Path]:
    import yaml

    source = _source_checkout()
    pipeline = yaml.safe_load((source / "pipelines" / f"{example}.yml").read_text())
    paths = ["millpond.yml", f"pipelines/{example}.yml", *sorted({s["notebook"] for s in pipeline["stages"]})]
    created = []
    for relative in paths:
        destination = target / relative
        destination.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source / relative, destination)
        created.append(destination)
    shutil.copytree(
        source / "lib" / example, target / "lib" / example, ignore=shutil.ignore_patterns("__pycache__", "*.pyc")
    )
    created += sorted(p for p in (target / "lib" / example).rglob("*") if p.is_file())
    return created


def init_workspace(target: Path, *, example: str | None = None, python: str | None = None) -> list[Path]:
    """Create a workspace in ``target`` (a new or empty folder); return the files written.

    Parameters
    ----------
    target
        The folder; created when missing.
    example
        ``None`` for the starter, or one of :data:`EXAMPLES` to copy that reference workspace.
    python
        The interpreter the ``Makefile`` runs millpond with (by default this one, whose
        environment has millpond installed).
    """
    import jinja2

    target = Path(target)
    if target.exists() and (not target.is_dir() or any(target.iterdir())):
        raise MillpondError(f"{target.name}: already holds files; millpond init wants a new or empty folder")
    if example is not None and example not in EXAMPLES:
        raise MillpondError(f"--example {example}: no such example (known: {', '.join(EXAMPLES)})")
    package = example or package_name(target.resolve().name)
    values = {
        "name": target.resolve().name,
        "package": package,
        "python": python or sys.executable,
        "version": millpond.__version__,
    }
    files = _common_files() if example else {**_common_files(), **_starter_files(package)}
    if example:
        files["tests/conftest.py"] = "conftest.py.jinja"
        files["tests/test_workspace.py"] = "test_workspace.py.jinja"
    environment = jinja2.Environment(
        loader=jinja2.FileSystemLoader(STARTER),
        keep_trailing_newline=True,
        undefined=jinja2.StrictUndefined,
        autoescape=False,
    )
    target.mkdir(parents=True, exist_ok=True)
    created = _copy_example(target, example) if example else []
    for relative, template in files.items():
        destination = target / relative
        destination.parent.mkdir(parents=True, exist_ok=True)
        destination.write_text(environment.get_template(template).render(values))
        created.append(destination)
    keep = target / "data" / "raw" / ".gitkeep"
    keep.parent.mkdir(parents=True, exist_ok=True)
    keep.touch()
    return sorted([*created, keep])
