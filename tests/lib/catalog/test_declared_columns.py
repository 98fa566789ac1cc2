"""Catalog declarations under a stage's ``tables:``: parsed with the spec, and every column
they name checked at materialize time (before anything is built) and by ``millpond validate``."""

from __future__ import annotations

import textwrap

import ibis
import pytest
from pydantic import ValidationError

from millpond.cli import main
from millpond.errors import MillpondError
from millpond.pipeline.tables import declared_table_spec
from millpond.settings.tables import ColumnDoc, TableSpec
from millpond.store.metadata import Materialization
from millpond.warehouse.incremental import Incremental
from millpond.warehouse.materialize import materialize
from millpond.warehouse.sql import TEMP_PREFIX
from millpond.workspace import Workspace
from support.stores import store_file, store_of
from support.workspaces import write_notebook

DECLARED = {
    "description": "one row per order",
    "owner": "sales",
    "tags": ["finance"],
    "primary_key": ["id"],
    "columns": {"amount": {"description": "net", "tags": ["finance"]}, "email": {"tags": ["pii"]}},
}


def test_the_catalog_fields_parse_next_to_the_existing_options():
    spec = TableSpec.model_validate({**DECLARED, "retain": 3, "on_schema_change": "append_new_columns"})
    assert (spec.owner, spec.tags, spec.key, spec.retain) == ("sales", ["finance"], ["id"], 3)
    assert spec.columns["email"] == ColumnDoc(tags=["pii"])
    assert spec.declared_columns() == ["amount", "email", "id"]


def test_the_contract_primary_key_is_the_key_when_none_is_declared():
    assert TableSpec.model_validate({"contract": {"primary_key": ["a", "b"]}}).key == ["a", "b"]
    same = TableSpec.model_validate({"primary_key": ["a"], "contract": {"primary_key": ["a"]}})
    assert same.key == ["a"]
    with pytest.raises(ValidationError, match=r"primary_key \['a'\] differs from contract.primary_key \['b'\]"):
        TableSpec.model_validate({"primary_key": ["a"], "contract": {"primary_key": ["b"]}})


@pytest.mark.parametrize("bad", [{"columns": {"a": {"descr": "x"}}}, {"tags": ["no spaces"]}, {"ownr": "x"}])
def test_misspelled_or_malformed_declarations_are_refused(bad):
    with pytest.raises(ValidationError):
        TableSpec.model_validate(bad)


def test_declarations_are_found_from_the_pipeline_file(tmp_path):
    (tmp_path / "millpond.yml").write_text("name: t\n")
    (tmp_path / "pipelines").mkdir()
    (tmp_path / "pipelines" / "p.yml").write_text(
        textwrap.dedent("""
        stages:
          - name: s
            notebook: n.ipynb
            produces: [gold.t]
            tables:
              gold.t:
                owner: sales
                columns: {email: {tags: [pii]}}
        """)
    )
    spec = declared_table_spec(Workspace(tmp_path), "gold.t")
    assert spec.owner == "sales" and spec.columns["email"].tags == ["pii"]


# -- at materialize time, on both engines -------------------------------------------------


def _rows(con) -> list[tuple]:
    return sorted(tuple(r.values()) for r in con.table("t", database="gold").to_pyarrow().to_pylist())


def _leftovers(con) -> list[str]:
    return [t for t in con.list_tables(database="gold") if t.startswith(TEMP_PREFIX)]


@pytest.mark.parametrize("kind", ["table", "incremental"])
def test_a_declared_column_the_build_lacks_fails_and_keeps_the_previous_table(con, kind):
    incremental = Incremental.of("append", watermark="id") if kind == "incremental" else None
    good = TableSpec.model_validate({"primary_key": ["id"], "columns": {"v": {"description": "a value"}}})
    materialize(con, ibis.memtable({"id": [1, 2], "v": ["a", "b"]}), "gold.t", kind, spec=good, incremental=incremental)
    typo = TableSpec.model_validate({"primary_key": ["id"], "columns": {"value": {"description": "a value"}}})
    with pytest.raises(MillpondError) as raised:
        materialize(con, ibis.memtable({"id": [3], "v": ["c"]}), "gold.t", kind, spec=typo, incremental=incremental)
    assert str(raised.value) == (
        "gold.t: declared column 'value' is not built (columns: id, v); "
        "fix `tables: gold.t:` in the pipeline spec or the expression; the previous version stays"
    )
    assert _rows(con) == [(1, "a"), (2, "b")] and _leftovers(con) == []


def test_a_declared_primary_key_column_must_be_built_too(con):
    spec = TableSpec.model_validate({"primary_key": ["order_id", "line"]})
    with pytest.raises(
        MillpondError, match=r"^gold.t: declared columns 'order_id', 'line' are not built \(columns: id\)"
    ):
        materialize(con, ibis.memtable({"id": [1]}), "gold.t", spec=spec)
    assert "t" not in con.list_tables(database="gold")  # nothing built, nothing left


# -- millpond validate against the latest recorded schema -----------------------------------

PIPELINE = """\
stages:
  - name: build
    notebook: nb.ipynb
    produces: [gold.orders]
    tables:
      gold.orders:
        owner: sales
        primary_key: [order_id]
        columns:
          amount: {tags: [finance]}
          emial: {tags: [pii]}
"""


def _validate_workspace(tmp_path, recorded: dict[str, str] | None):
    (tmp_path / "millpond.yml").write_text("name: t\n")
    (tmp_path / "pipelines").mkdir()
    (tmp_path / "pipelines" / "p.yml").write_text(PIPELINE)
    write_notebook(tmp_path / "nb.ipynb", "x = 1")
    if recorded is not None:
        store = store_of(tmp_path)
        store.record_materialization(Materialization("gold.orders", "table", 2, recorded, 0.1, "f", "r1", "build", 1.0))
    return tmp_path


def test_validate_names_file_line_and_column_missing_from_the_latest_build(tmp_path, capsys):
    root = _validate_workspace(tmp_path, {"order_id": "int64", "amount": "decimal(18, 2)", "email": "string"})
    assert main(["validate", "-C", str(root)]) == 2
    err = capsys.readouterr().err.strip()
    assert err == (
        "error: pipelines/p.yml:11: stages[0].tables.gold.orders.columns.emial: gold.orders has no column 'emial' "
        "in its latest build (run r1); columns: order_id, amount, email; fix the name, or run the stage if the column is new"
    )


def test_validate_passes_before_any_build_and_when_the_columns_exist(tmp_path, capsys):
    root = _validate_workspace(tmp_path, None)
    assert main(["validate", "-C", str(root)]) == 0
    assert not store_file(root).exists()  # validate creates no store
    store = store_of(root)
    store.record_materialization(
        Materialization(
            "gold.orders",
            "table",
            2,
            {"order_id": "int64", "amount": "decimal(18, 2)", "emial": "string"},
            0.1,
            "f",
            "r2",
            "build",
            2.0,
        )
    )
    assert main(["validate", "-C", str(root)]) == 0
    assert "pipelines/p.yml: ok (1 stages)" in capsys.readouterr().out
