"""``millpond init``: a new workspace whose own ``make run`` and ``make test`` pass, found
through its ``lib/`` (its package is on no install path), and fingerprints that follow the
workspace modules a stage imports, not the framework's files (issue 20, point 4)."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest

from millpond.cli import main
from millpond.scaffold import init_workspace

pytestmark = pytest.mark.slow


def _make(folder, target):
    return subprocess.run(["make", "-C", str(folder), target], capture_output=True, text=True, timeout=600)


def test_a_new_workspace_runs_and_tests_out_of_the_box(tmp_path):
    folder = tmp_path / "Sales Team"
    created = init_workspace(folder)
    names = {p.relative_to(folder).as_posix() for p in created}
    assert {
        "millpond.yml",
        "pipelines/sales_team.yml",
        "README.md",
        "environment.yml",
        "Makefile",
        "lib/sales_team/transforms.py",
        "tests/test_transforms.py",
    } <= names
    assert {p.split("/")[0] for p in names} >= {"notebooks", "pipelines", "lib", "data", "tests"}
    with pytest.raises(ImportError):  # found by the workspace, not by an install
        __import__("sales_team")

    run = _make(folder, "run")
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    assert "3 success" in run.stdout
    test = _make(folder, "test")
    assert test.returncode == 0, test.stdout[-3000:] + test.stderr[-3000:]
    counts = [int(n) for n in re.findall(r"(\d+) passed", test.stdout)]
    assert len(counts) == 3 and all(counts), test.stdout[-2000:]  # tests, lib doctests, notebooks
    assert not re.search(r"\d+ (failed|errors?)\b", test.stdout), test.stdout[-2000:]


def test_an_edited_workspace_module_reruns_the_stages_that_import_it(tmp_path):
    folder = tmp_path / "ws"
    init_workspace(folder)
    assert _make(folder, "run").returncode == 0
    again = _make(folder, "run")
    assert again.returncode == 0 and "3 skipped" in again.stdout, again.stdout[-2000:]

    generator = folder / "lib" / "ws" / "generate.py"  # imported by no stage: nothing reruns
    generator.write_text(generator.read_text() + "\n# an edit no stage sees\n")
    quiet = subprocess.run(
        [sys.executable, "-m", "millpond.cli", "run", "ws", "-C", str(folder), "--plain"],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert quiet.returncode == 0 and "3 skipped" in quiet.stdout, quiet.stdout[-2000:]

    transforms = folder / "lib" / "ws" / "transforms.py"  # imported by silver and gold, not by bronze
    transforms.write_text(transforms.read_text() + "\n# an edit\n")
    edited = subprocess.run(
        [sys.executable, "-m", "millpond.cli", "run", "ws", "-C", str(folder), "--plain"],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert edited.returncode == 0, edited.stdout[-2000:] + edited.stderr[-2000:]
    assert re.search(r"skipped\s+load_sales", edited.stdout) and "1 skipped" in edited.stdout, edited.stdout[-2000:]
    assert "2 success" in edited.stdout, edited.stdout[-2000:]


def test_the_reference_shop_as_an_example(tmp_path):
    folder = tmp_path / "myshop"
    created = {p.relative_to(folder).as_posix() for p in init_workspace(folder, example="shop")}
    assert {"pipelines/shop.yml", "lib/shop/gold.py", "notebooks/gold/33_build_fct_orders.ipynb"} <= created
    assert not any(p.startswith(("lib/millpond", "lib/flights", "notebooks/flights")) for p in created)
    assert main(["validate", "-C", str(folder)]) == 0


def test_init_refuses_a_folder_with_files_and_an_unknown_example(tmp_path, capsys):
    (tmp_path / "taken").mkdir()
    (tmp_path / "taken" / "notes.txt").write_text("mine")
    assert main(["init", str(tmp_path / "taken")]) == 2
    assert main(["init", str(tmp_path / "new"), "--example", "bakery"]) == 2
    err = capsys.readouterr().err.splitlines()
    assert err == [
        "error: taken: already holds files; millpond init wants a new or empty folder",
        "error: --example bakery: no such example (known: shop)",
    ]
    assert (tmp_path / "taken" / "notes.txt").read_text() == "mine" and not (tmp_path / "new").exists()


def test_generate_without_a_declared_generator_says_so(tmp_path, capsys):
    (tmp_path / "millpond.yml").write_text("name: bare\n")
    assert main(["generate", "-C", str(tmp_path)]) == 2
    assert (
        capsys.readouterr().err.strip()
        == "error: millpond.yml: no `generator:` (module:function) to write sample data with"
    )
    (tmp_path / "millpond.yml").write_text("name: bare\ngenerator: nowhere.gen:make\n")
    assert main(["generate", "-C", str(tmp_path)]) == 2
    assert capsys.readouterr().err.startswith("error: millpond.yml:2: generator: cannot import nowhere.gen")
