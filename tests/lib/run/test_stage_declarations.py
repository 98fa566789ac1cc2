"""A stage builds with the declarations its run validated: the runner hands the kernel
the stage's ``tables:`` and ``checks:``; a pipeline file edited while the run goes on
changes nothing of that run (issue 20, point 3)."""

from __future__ import annotations

import json

import pytest
import yaml

from millpond.pipeline.load import load_pipeline
from millpond.run.execute import kernel_env, stage_declarations
from millpond.run.runner import RunOptions, open_store, run_pipeline
from millpond.workspace import Workspace
from support.workspaces import make_workspace, query, write_notebook

# The stage's notebook rewrites its own pipeline file, then builds: the new contract asks for
# a column the build lacks, the new check for at most 1 row; either would fail the build.
EDIT_THEN_BUILD = (
    "import pathlib, yaml, ibis, millpond as mp\nctx = mp.stage()",
    "p = pathlib.Path('pipelines/p.yml')\n"
    "spec = yaml.safe_load(p.read_text())\n"
    "spec['stages'][0]['tables']['gold.t']['contract'] = {'columns': {'other': 'int64'}}\n"
    "spec['stages'][0]['checks'] = {'gold.t': [{'row_count': {'max': 1}}]}\n"
    "p.write_text(yaml.safe_dump(spec, sort_keys=False))",
    "ctx.materialize(ibis.memtable({'id': [1, 2, 3]}), 'gold.t')",
)


@pytest.fixture
def workspace(tmp_path) -> Workspace:
    write_notebook(tmp_path / "notebooks/s.ipynb", "x = 0", *EDIT_THEN_BUILD)
    make_workspace(
        tmp_path,
        {
            "p": {
                "stages": [
                    {
                        "name": "s",
                        "notebook": "notebooks/s.ipynb",
                        "produces": ["gold.t"],
                        "tables": {"gold.t": {"contract": {"columns": {"id": "int64"}, "primary_key": ["id"]}}},
                        "checks": {"gold.t": [{"unique": "id"}]},
                    }
                ]
            }
        },
    )
    return Workspace(tmp_path)


def test_a_run_builds_with_the_declarations_it_validated(workspace):
    result = run_pipeline(workspace, "p", RunOptions())
    assert result.exit_code == 0
    assert query(workspace, "SELECT count(*), count(DISTINCT id) FROM gold.t") == [(3, 3)]
    # the edit was real: the next run validates the new declarations and its build fails the contract
    again = run_pipeline(workspace, "p", RunOptions(force=True))
    assert again.exit_code != 0
    (stage,) = open_store(workspace).stage_runs(again.run_id)
    assert stage["status"] == "failed" and "other" in stage["error"], stage
    assert query(workspace, "SELECT count(*) FROM gold.t") == [(3,)]  # the previous version stays


def test_the_kernel_is_handed_the_stages_declarations(workspace):
    stage = load_pipeline(workspace, "p").spec.stage("s")
    env = kernel_env(workspace.root, "r", "p", "s", "f", [], declarations=stage_declarations(stage))
    passed = json.loads(env["MILLPOND_DECLARATIONS"])
    assert passed["tables"]["gold.t"]["contract"] == {"columns": {"id": "int64"}, "primary_key": ["id"]}
    assert yaml.safe_load(passed["checks"]) == {"gold.t": [{"unique": "id"}]}
