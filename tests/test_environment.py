"""The environment: conda file in step with pyproject, and the known-broken pins held."""

from __future__ import annotations

import re
import tomllib
from importlib.metadata import version
from pathlib import Path

import yaml
from packaging.specifiers import SpecifierSet
from packaging.version import Version

ROOT = Path(__file__).resolve().parents[1]

# PyPI name -> conda-forge name, where they differ
CONDA_NAMES = {"duckdb": "python-duckdb", "redis": "redis-py"}


def _pyproject_requirements() -> dict[str, str]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    requirements = project["dependencies"] + project["optional-dependencies"]["test"]
    parsed = {}
    for req in requirements:
        match = re.match(r"^([A-Za-z0-9_.-]+)(\[[^\]]*\])?(.*)$", req)
        name, spec = match.group(1).lower(), match.group(3).strip()
        parsed[CONDA_NAMES.get(name, name)] = str(SpecifierSet(spec))
    return parsed


def _conda_requirements() -> dict[str, str]:
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    parsed = {}
    for dep in env["dependencies"]:
        if not isinstance(dep, str) or dep in {"pip"}:
            continue
        match = re.match(r"^([A-Za-z0-9_.-]+)(.*)$", dep)
        parsed[match.group(1).lower()] = str(SpecifierSet(match.group(2).strip()))
    return parsed


def test_environment_yml_matches_pyproject():
    conda = _conda_requirements()
    assert conda.pop("python") == str(SpecifierSet(">=3.11"))
    assert conda == _pyproject_requirements()
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    assert env["channels"] == ["conda-forge"]
    assert {"pip": ["-e .[examples]"]} in env["dependencies"]


def test_installed_versions_avoid_known_broken_combinations():
    ibis, duckdb, sqlglot = (Version(version(n)) for n in ("ibis-framework", "duckdb", "sqlglot"))
    assert ibis.major == 12
    assert duckdb < Version("2"), f"ibis 12 does not work with duckdb {duckdb}"
    assert sqlglot < Version("30.18"), f"sqlglot {sqlglot} breaks create_table(overwrite=True) in ibis 12"


def test_create_table_overwrite_works_with_installed_versions():
    import ibis

    con = ibis.duckdb.connect()
    con.create_table("t", ibis.memtable({"a": [1, 2]}), overwrite=True)
    con.create_table("t", ibis.memtable({"a": [1, 2, 3]}), overwrite=True)
    assert con.table("t").count().execute() == 3


def _pins() -> dict[str, Version]:
    lines = (ROOT / "constraints.txt").read_text().splitlines()
    return {name.lower(): Version(pin) for name, pin in (line.split("==") for line in lines if "==" in line)}


def test_every_pin_lies_in_pyproject_ranges_and_is_installed():
    pins = _pins()
    conda_to_pypi = {v: k for k, v in CONDA_NAMES.items()}
    for name, spec in _pyproject_requirements().items():
        pypi = conda_to_pypi.get(name, name)
        assert pypi in pins, f"{pypi} is not pinned in constraints.txt (run `make lock`)"
        assert pins[pypi] in SpecifierSet(spec), f"{pypi}=={pins[pypi]} is outside {spec} (run `make lock`)"
    for name in ("ibis-framework", "duckdb", "sqlglot", "pytest"):  # what the suite runs on is what is pinned
        assert Version(version(name)) == pins[name], name
