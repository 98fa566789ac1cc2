"""Contracts enforced before the swap, the same on DuckDB and PostgreSQL."""

from __future__ import annotations

import ibis
import pytest

from millpond.errors import MillpondError
from millpond.settings.tables import TableSpec, parse_contract
from millpond.warehouse.incremental import Incremental
from millpond.warehouse.materialize import materialize
from millpond.warehouse.sql import TEMP_PREFIX

CONTRACT = {"columns": {"id": "int64", "v": "string"}, "not_null": ["v"], "primary_key": ["id"]}
TYPES = {"id": "int64", "v": "string"}


def build(con, columns: dict, types: dict = TYPES, contract=CONTRACT, kind: str = "table", **options):
    return materialize(con, ibis.memtable(columns, schema=types), "gold.t", kind=kind, contract=contract, **options)


def rows(con) -> list[tuple]:
    return sorted(tuple(r.values()) for r in con.table("t", database="gold").to_pyarrow().to_pylist())


def leftovers(con) -> list[str]:
    return [t for t in con.list_tables(database="gold") if t.startswith(TEMP_PREFIX)]


def violation(con, columns: dict, types: dict = TYPES, **options) -> str:
    with pytest.raises(MillpondError) as raised:
        build(con, columns, types, **options)
    message = str(raised.value)
    assert message.startswith("contract of gold.t violated, the previous version stays: ") and "\n" not in message
    assert rows(con) == [(1, "a"), (2, "b")] and leftovers(con) == []  # the previous version, nothing left over
    return message.split(": ", 1)[1]


@pytest.fixture
def previous(con):
    build(con, {"id": [1, 2], "v": ["a", "b"]})
    return con


def test_a_table_that_keeps_its_contract_is_built(previous):
    assert build(previous, {"id": [3], "v": ["c"]}).rows == 1


def test_columns_missing_extra_or_of_another_type_keep_the_previous_version(previous):
    assert violation(previous, {"id": [3]}, {"id": "int64"}).endswith("columns: missing v (string)")
    extra = violation(previous, {"id": [3], "v": ["c"], "w": [1.0]}, {**TYPES, "w": "float64"})
    assert extra.endswith("columns: unexpected w (float64)")
    assert violation(previous, {"id": ["3"], "v": ["c"]}, {"id": "string", "v": "string"}).endswith(
        "columns: id is string, not int64"
    )


def test_nulls_in_not_null_columns_are_counted(previous):
    assert violation(previous, {"id": [3, 4, 5], "v": [None, "d", None]}).endswith("not_null: 2 null(s) in v")


def test_duplicate_and_null_keys_are_counted(previous):
    message = violation(previous, {"id": [3, 3, 3, 4, 4, None], "v": ["c"] * 6})
    assert message.endswith("primary_key: 1 row(s) with a null key (id); primary_key: 2 duplicated key(s) (id)")


def test_incremental_rows_are_checked_staged_and_the_key_over_the_whole_table(previous):
    spec = Incremental.of("append", watermark="id")
    assert violation(previous, {"id": [3], "v": [None]}, kind="incremental", incremental=spec).endswith(
        "not_null: 1 null(s) in v"
    )
    appended = build(previous, {"id": [3], "v": ["c"]}, kind="incremental", incremental=spec)
    assert (appended.new_rows, appended.rows) == (1, 3)
    # id 2 again, with a new watermark column value: the staged rows are unique, the table would not be
    by_key = Incremental.of("append", unique_key="v")
    with pytest.raises(MillpondError, match=r"primary_key: 1 duplicated key\(s\) \(id\)"):
        build(previous, {"id": [2], "v": ["z"]}, kind="incremental", incremental=by_key)
    assert rows(previous) == [(1, "a"), (2, "b"), (3, "c")] and leftovers(previous) == []


def test_a_failed_key_check_rolls_back_the_schema_change_too(previous):
    with pytest.raises(MillpondError, match="duplicated key"):
        build(
            previous,
            {"id": [1], "v": ["x"], "w": [1]},
            {**TYPES, "w": "int64"},
            kind="incremental",
            incremental=Incremental.of("append", unique_key="v"),
            on_schema_change="append_new_columns",
            contract={"not_null": ["v"], "primary_key": ["id"]},
        )
    assert previous.table("t", database="gold").columns == ("id", "v")  # the ADD COLUMN was rolled back
    assert rows(previous) == [(1, "a"), (2, "b")] and leftovers(previous) == []


def test_a_contract_declared_in_the_table_spec_is_enforced(previous):
    spec = TableSpec.model_validate({"contract": {"not_null": ["v"]}})
    with pytest.raises(MillpondError, match="not_null: 1 null"):
        materialize(previous, ibis.memtable({"id": [9], "v": [None]}, schema=TYPES), "gold.t", spec=spec)
    assert rows(previous) == [(1, "a"), (2, "b")]


@pytest.mark.parametrize(
    ("contract", "message"),
    [
        ({"columns": {"id": "integr"}}, "contract of gold.t: columns: column 'id': 'integr' is not an Ibis type"),
        ({"columns": {"id": "int64"}, "primary_key": ["key"]}, "not_null/primary_key name column"),
        ({"not_nul": ["id"]}, "contract of gold.t: not_nul: Extra inputs are not permitted"),
        ({"not_null": "id"}, "contract of gold.t: not_null: Input should be a valid list"),
    ],
)
def test_a_bad_contract_is_one_clear_line(contract, message):
    with pytest.raises(MillpondError, match=message):
        parse_contract(contract, "gold.t")


def test_a_contract_on_a_view_is_refused(previous):
    base = previous.table("t", database="gold")
    with pytest.raises(MillpondError, match="a contract is enforced on tables"):
        materialize(previous, base, "gold.v", kind="view", contract={"not_null": ["v"]})


def test_the_stage_context_enforces_what_the_pipeline_declares(tmp_path):
    from millpond.stage_api.context import StageContext
    from millpond.workspace import Workspace
    from support.workspaces import make_workspace

    declared = {"on_schema_change": "append_new_columns", "contract": {"not_null": ["v"], "primary_key": ["id"]}}
    stage = {"name": "build", "notebook": "n.ipynb", "produces": ["gold.t"], "tables": {"gold.t": declared}}
    spec = {"stages": [stage]}
    ctx = StageContext(Workspace(make_workspace(tmp_path, {"p": spec})))
    try:
        merge = {"kind": "incremental", "strategy": "merge", "unique_key": "id"}
        ctx.materialize(ibis.memtable({"id": [1], "v": ["a"]}), "gold.t", **merge)
        added = ctx.materialize(ibis.memtable({"id": [2], "v": ["b"], "w": [1.5]}), "gold.t", **merge)
        assert (added.rows, list(added.schema)) == (2, ["id", "v", "w"])  # append_new_columns, declared
        with pytest.raises(MillpondError, match="not_null: 1 null"):
            ctx.materialize(ibis.memtable({"id": [3], "v": [None]}, schema=TYPES), "gold.t", **merge)
        with pytest.raises(MillpondError, match=r"missing v \(string\)"):  # the explicit argument wins
            ctx.materialize(ibis.memtable({"id": [4]}), "gold.t", **merge, on_schema_change="fail")
        assert sorted(ctx.table("gold.t").to_pyarrow().to_pylist(), key=lambda r: r["id"]) == [
            {"id": 1, "v": "a", "w": None},
            {"id": 2, "v": "b", "w": 1.5},
        ]
    finally:
        ctx.close()


@pytest.mark.parametrize(
    "spelled",
    [
        "int64",
        "!int32",
        "decimal(18, 2)",
        "decimal",
        "timestamp",
        "timestamp(6)",
        "string",
        "boolean",
        "bool",
        "float64",
        "uint8",
        "date",
        "time",
        "json",
        "uuid",
        "binary",
        "interval('day')",
    ],
)
def test_types_recognised_without_ibis_are_types_ibis_parses(spelled):
    """The contract accepts these without importing Ibis (a no-change run must stay fast);
    each must be a type Ibis itself parses, or a bad contract would slip through."""
    import ibis

    from millpond.settings.tables import _PLAIN_DTYPE

    assert _PLAIN_DTYPE.fullmatch(spelled.replace(" ", ""))
    ibis.dtype(spelled)


def test_a_misspelt_type_is_still_refused():
    from millpond.settings.tables import Contract

    with pytest.raises(ValueError, match="'integr' is not an Ibis type"):
        Contract.model_validate({"columns": {"id": "integr"}})
