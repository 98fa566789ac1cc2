"""Write-audit-publish: the volume guard and the declared checks gate the swap, on DuckDB and PostgreSQL."""

from __future__ import annotations

import ibis
import pytest

from millpond.errors import MillpondError
from millpond.settings.tables import TableSpec
from millpond.warehouse.audit import checks_audit
from millpond.warehouse.incremental import Incremental
from millpond.warehouse.materialize import materialize
from millpond.warehouse.sql import TEMP_PREFIX

TYPES = {"id": "int64", "v": "string"}


def table(ids: list[int]) -> ibis.Table:
    return ibis.memtable({"id": ids, "v": [f"v{i}" for i in ids]}, schema=TYPES)


def build(con, ids: list[int], name: str = "gold.t", volume: dict | None = None, **options):
    spec = TableSpec.model_validate({"volume": volume} if volume is not None else {})
    return materialize(con, table(ids), name, spec=spec, **options)


def ids(con, name: str = "gold.t") -> list[int]:
    schema, table_name = name.split(".")
    return sorted(r["id"] for r in con.table(table_name, database=schema).to_pyarrow().to_pylist())


def refused(con, ids_: list[int], name: str = "gold.t", **options) -> str:
    with pytest.raises(MillpondError) as raised:
        build(con, ids_, name, **options)
    message = str(raised.value)
    assert "\n" not in message
    assert message.startswith(f"{name}: the new build failed its audit, the previous version stays: ")
    schema = name.split(".")[0]
    assert [t for t in con.list_tables(database=schema) if t.startswith(TEMP_PREFIX)] == []
    return message.split("stays: ", 1)[1]


def test_by_default_an_empty_build_never_replaces_a_table_with_rows(con):
    build(con, [1, 2, 3])
    assert refused(con, []) == "volume: 0 rows would replace 3 (allow it with volume: {allow_empty: true})"
    assert ids(con) == [1, 2, 3]
    build(con, [7])  # a smaller, non-empty build passes the default guard
    assert ids(con) == [7]


def test_an_empty_first_build_and_allow_empty_pass(con):
    build(con, [])
    assert ids(con) == []
    build(con, [1, 2])
    build(con, [], volume={"allow_empty": True})
    assert ids(con) == []


def test_the_quarantine_layer_may_empty_by_default(con):
    build(con, [1, 2], "quarantine.t")
    build(con, [], "quarantine.t")
    assert ids(con, "quarantine.t") == []


def test_min_rows_and_max_drop(con):
    assert refused(con, [], volume={"min_rows": 1}) == "volume: 0 rows, fewer than min_rows 1"
    build(con, list(range(10)), volume={"min_rows": 1, "max_drop": 0.5})
    # 10 -> 4 rows loses 60 %, more than the 50 % allowed; 10 -> 5 loses exactly 50 %: allowed
    assert refused(con, [1, 2, 3, 4], volume={"max_drop": 0.5}) == (
        "volume: 4 rows would replace 10, a drop of 60% (max_drop 50%)"
    )
    assert ids(con) == list(range(10))
    build(con, [1, 2, 3, 4, 5], volume={"max_drop": 0.5})
    assert ids(con) == [1, 2, 3, 4, 5]


def test_an_incremental_table_built_whole_is_audited(con):
    merge = Incremental.of("merge", unique_key="id")
    build(con, [1, 2], kind="incremental", incremental=merge)
    assert refused(con, [], kind="incremental", incremental=merge, full_refresh=True).startswith("volume: 0 rows")
    assert ids(con) == [1, 2]
    build(con, [], kind="incremental", incremental=merge)  # nothing new to merge: nothing is replaced
    assert ids(con) == [1, 2]


def test_without_a_spec_only_the_contract_is_audited(con):
    materialize(con, table([1]), "gold.t")
    materialize(con, table([]), "gold.t")
    assert ids(con) == []


def test_declared_error_checks_gate_the_swap_and_failures_are_recorded(con):
    materialize(con, table([1, 2]), "gold.parent")
    build(con, [1, 2])
    recorded: list[list[dict]] = []
    declared = [
        {"unique": "id"},
        {"relationships": {"column": "id", "to": "gold.parent"}},
        {"not_null": {"columns": ["v"], "severity": "warn"}},  # warn only: not audited
        {"sql": {"name": "no v9", "query": "SELECT * FROM gold.t WHERE v = 'v9'"}},  # names the live table: after
    ]
    parent = lambda name: con.table(name.split(".")[1], database=name.split(".")[0])  # noqa: E731
    audit = checks_audit("gold.t", declared, table=parent, con=con, record=recorded.append)
    # 3 appears twice (2 rows share a key) and is no parent id (2 rows): two failed checks
    problem = refused(con, [1, 3, 3], audit=audit)
    assert problem == "2 error check(s) failed: id is unique (2 rows); id references gold.parent.id (2 rows)"
    assert ids(con) == [1, 2]
    assert [(r["check"], r["status"], r["failing_rows"]) for r in recorded[0]] == [
        ("id is unique", "fail", 2),
        ("id references gold.parent.id", "fail", 2),
    ]
    build(con, [2, 1], audit=audit)  # a build that passes is swapped in and records nothing more
    assert ids(con) == [1, 2] and len(recorded) == 1
