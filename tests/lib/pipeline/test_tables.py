"""Per-table options under a stage's ``tables:``: validated with the spec, found from any pipeline."""

from __future__ import annotations

import textwrap

import pytest

from millpond.pipeline.tables import declared_table_spec
from millpond.settings.tables import TableSpec
from millpond.workspace import Workspace


def _workspace(tmp_path, pipelines: dict[str, str]) -> Workspace:
    (tmp_path / "millpond.yml").write_text("name: t\nwarehouse: duckdb://data/warehouse.duckdb\n")
    (tmp_path / "pipelines").mkdir()
    for name, text in pipelines.items():
        (tmp_path / "pipelines" / f"{name}.yml").write_text(textwrap.dedent(text))
    return Workspace(tmp_path)


ONE = """
    stages:
      - name: build
        notebook: n.ipynb
        produces: [gold.a, gold.b]
        tables:
          gold.a: {retain: 2, on_schema_change: append_new_columns}
    """
TWO = """
    stages:
      - name: build
        notebook: n.ipynb
        produces: [gold.c]
        tables:
          gold.c: {retain: 7}
          gold.a: {retain: 9}
    """


def test_options_come_from_the_stage_that_declares_them(tmp_path):
    ws = _workspace(tmp_path, {"one": ONE, "two": TWO})
    assert declared_table_spec(ws, "gold.a", "one") == TableSpec(retain=2, on_schema_change="append_new_columns")
    assert declared_table_spec(ws, "gold.c").retain == 7
    assert declared_table_spec(ws, "gold.b") == TableSpec()  # produced but nothing declared
    # the running pipeline is asked first
    assert declared_table_spec(ws, "gold.a", "two").retain == 9


def test_a_table_not_produced_by_the_stage_is_refused(tmp_path):
    from millpond.settings.pipeline import PipelineSpec

    with pytest.raises(ValueError, match="gold.x.*not among this stage's produces"):
        PipelineSpec.model_validate(
            {"stages": [{"name": "s", "notebook": "n.ipynb", "produces": ["gold.a"], "tables": {"gold.x": {}}}]}
        )


def test_an_unknown_option_is_refused(tmp_path):
    from pydantic import ValidationError

    with pytest.raises(ValidationError, match="retian"):
        TableSpec.model_validate({"retian": 3})


def test_a_pipeline_file_that_is_not_text_is_passed_over(tmp_path):
    ws = _workspace(tmp_path, {"a": ONE})
    (tmp_path / "pipelines" / "b.yml").write_bytes(b"stages: \xff\xfe\x00 junk\n")
    assert declared_table_spec(ws, "gold.a", "b").retain == 2  # from a.yml; b.yml cannot be read


def test_tables_declared_through_a_merge_key(tmp_path):
    ws = _workspace(
        tmp_path,
        {
            "a": """
        stages:
          - name: build
            notebook: n.ipynb
            produces: [gold.a]
            tables:
              gold.a: {<<: {retain: 4}, on_schema_change: fail}
        """
        },
    )
    spec = declared_table_spec(ws, "gold.a")
    assert (spec.retain, spec.on_schema_change) == (4, "fail")
