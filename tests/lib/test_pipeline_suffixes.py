"""`pipelines/*.yaml` is a pipeline file exactly as `pipelines/*.yml` is, everywhere."""

from __future__ import annotations

import yaml

from millpond.cli import main
from millpond.pipeline.tables import declared_checks, declared_table_spec
from millpond.workspace import Workspace
from support.workspaces import make_workspace, write_notebook


def workspace(root):
    write_notebook(root / "notebooks/n.ipynb", "x = 1", "y = x")
    make_workspace(root, {"a": {"stages": [{"name": "s", "notebook": "notebooks/n.ipynb", "produces": ["gold.a"]}]}})
    (root / "pipelines/b.yaml").write_text(
        yaml.safe_dump(
            {
                "stages": [
                    {
                        "name": "t",
                        "notebook": "notebooks/n.ipynb",
                        "produces": ["gold.b"],
                        "tables": {"gold.b": {"retain": 7, "description": "from the .yaml file"}},
                        "checks": {"gold.b": [{"not_null": ["id"]}]},
                    }
                ]
            }
        )
    )
    return Workspace(root)


def test_both_suffixes_are_pipeline_files(tmp_path):
    ws = workspace(tmp_path)
    assert [p.name for p in ws.pipeline_files()] == ["a.yml", "b.yaml"]
    assert declared_table_spec(ws, "gold.b").retain == 7  # its tables: block counts
    assert declared_checks(ws, "gold.b") == [{"not_null": ["id"]}]


def test_validate_without_a_name_checks_the_yaml_file_too(tmp_path, capsys):
    ws = workspace(tmp_path)
    assert main(["validate", "-C", str(ws.root)]) == 0
    (tmp_path / "pipelines/b.yaml").write_text("stages: [{name: t, notebook: notebooks/missing.ipynb}]\n")
    assert main(["validate", "-C", str(ws.root)]) == 2
    assert "pipelines/b.yaml" in capsys.readouterr().err
