"""The project object: pipeline files read once and again only when changed, `.yml` and
`.yaml` alike, one metadata store handed to every caller (issue 20, point 3)."""

from __future__ import annotations

import os

from millpond.project import project_of
from millpond.workspace import Workspace
from support.workspaces import make_workspace

STAGE = "stages:\n- {name: s, notebook: n.ipynb, produces: [gold.%s]}\n"


def test_pipeline_files_are_read_once_and_again_when_edited(tmp_path):
    make_workspace(tmp_path, {})
    (tmp_path / "pipelines" / "a.yml").write_text(STAGE % "one")
    (tmp_path / "pipelines" / "b.yaml").write_text("name: bee\n" + STAGE % "two")
    project = project_of(Workspace(tmp_path))
    first = project.pipeline_specs()
    assert sorted(first) == ["a", "b"] and first["b"].name == "bee"
    again = project.pipeline_specs()
    assert again["a"] is first["a"] and again["b"] is first["b"]  # not parsed twice

    path = tmp_path / "pipelines" / "a.yml"
    path.write_text(STAGE % "three")
    os.utime(path, ns=(path.stat().st_atime_ns, path.stat().st_mtime_ns + 1_000_000))
    edited = project.pipeline_specs()
    assert edited["a"].spec.stages[0].produces == ["gold.three"] and edited["b"] is first["b"]


def test_one_store_and_none_before_anything_was_recorded(tmp_path):
    make_workspace(tmp_path, {})
    workspace = Workspace(tmp_path)
    project = project_of(workspace)
    assert project_of(workspace) is project
    assert project.recorded_store() is None and not project.store_path().exists()
    store = project.store()
    assert project.store_path().is_file() and project.store() is store and project.recorded_store() is store
