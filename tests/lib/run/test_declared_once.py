"""A table's build settings are declared once, under ``tables:``: ``ctx.materialize``
takes kind, strategy, keys, watermark and lookback from there, an argument of the
notebook only overrides, and a changed declaration reruns the stage (issue 20, point 1)."""

from __future__ import annotations

import pytest
import yaml

from millpond.cli import main
from millpond.run.runner import RunOptions, open_store, run_pipeline
from millpond.settings.tables import TableSpec
from millpond.workspace import Workspace
from support.workspaces import make_workspace, query, write_notebook

# Each run's rows: ids 1..n with version v; a merge keeps one row per id with the latest version.
BUILD = (
    "import ibis, millpond as mp\nctx = mp.stage()",
    "ctx.materialize(ibis.memtable({'id': list(range(1, n + 1)), 'v': [v] * n}), 'silver.t', **override)",
)


def _workspace(root, tables: dict, override: str = "{}") -> Workspace:
    write_notebook(root / "notebooks/t.ipynb", f"n = 3\nv = 1\noverride = {override}", *BUILD)
    make_workspace(
        root,
        {
            "p": {
                "params": {"n": {"type": "int", "default": 3}, "v": {"type": "int", "default": 1}},
                "stages": [
                    {
                        "name": "t",
                        "notebook": "notebooks/t.ipynb",
                        "produces": ["silver.t"],
                        "tables": {"silver.t": tables},
                    }
                ],
            }
        },
    )
    return Workspace(root)


def _run(ws, **params) -> None:
    assert run_pipeline(ws, "p", RunOptions(force=True, params={k: str(v) for k, v in params.items()})).exit_code == 0


def test_the_declared_strategy_builds_without_arguments(tmp_path):
    ws = _workspace(tmp_path, {"kind": "incremental", "strategy": "merge", "unique_key": "id"})
    _run(ws, n=3, v=1)
    _run(ws, n=2, v=2)  # ids 1..2 updated, 3 kept: a merge on id, as declared (a whole build would hold 2 rows)
    assert query(ws, "SELECT id, v FROM silver.t ORDER BY id") == [(1, 2), (2, 2), (3, 1)]
    assert open_store(ws).latest_materialization("silver.t").kind == "incremental"


def test_a_notebook_argument_overrides_the_declaration(tmp_path):
    ws = _workspace(
        tmp_path, {"kind": "incremental", "strategy": "merge", "unique_key": "id"}, override="{'kind': 'table'}"
    )
    _run(ws, n=3, v=1)
    _run(ws, n=2, v=2)  # rebuilt whole: only this run's rows
    assert query(ws, "SELECT count(*), max(v) FROM silver.t") == [(2, 2)]


def test_without_a_declaration_a_table_is_built_whole(tmp_path):
    ws = _workspace(tmp_path, {})
    _run(ws, n=3, v=1)
    _run(ws, n=2, v=2)
    assert query(ws, "SELECT count(*), max(v) FROM silver.t") == [(2, 2)]


def test_a_changed_declaration_reruns_the_stage(tmp_path):
    ws = _workspace(tmp_path, {"kind": "table"})
    assert run_pipeline(ws, "p", RunOptions()).stages == {"t": "success"}
    assert run_pipeline(ws, "p", RunOptions()).stages == {"t": "skipped"}
    path = tmp_path / "pipelines/p.yml"
    spec = yaml.safe_load(path.read_text())
    spec["stages"][0]["tables"]["silver.t"] = {"kind": "incremental", "unique_key": "id"}
    path.write_text(yaml.safe_dump(spec))
    assert run_pipeline(ws, "p", RunOptions()).stages == {"t": "success"}
    assert open_store(ws).latest_materialization("silver.t").kind == "incremental"


@pytest.mark.parametrize(
    "declared, message",
    [
        ({"kind": "incremental", "strategy": "merge"}, "strategy merge needs unique_key"),
        ({"kind": "incremental", "strategy": "delete+insert"}, "strategy delete+insert needs partition_by"),
        ({"kind": "table", "watermark": "ts"}, "watermark only apply to kind incremental, not table"),
        ({"kind": "incremental", "lookback": "three days"}, "lookback"),
        ({"kind": "snapshot"}, "kind"),
    ],
)
def test_validate_names_a_wrong_declaration_in_one_line(tmp_path, capsys, declared, message):
    _workspace(tmp_path, declared)
    assert main(["validate", "-C", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "pipelines/p.yml:" in err and message in err, err


def test_a_key_may_be_one_column_or_several():
    assert TableSpec.model_validate({"kind": "incremental", "strategy": "merge", "unique_key": "id"}).unique_key == [
        "id"
    ]
    assert TableSpec.model_validate({"unique_key": ["a", "b"]}).unique_key == ["a", "b"]
