"""Snapshot-diff CDC (millpond.model.changes) on every backend, against hand-computed changes,
and the type 2 dimension fed by changes against the one fed by full snapshots (a second path)."""

from __future__ import annotations

from datetime import datetime

import ibis
import pandas as pd
import pytest

from millpond.errors import MillpondError
from millpond.model.changes import apply_changes, scd2_from_changes, snapshot_changes
from millpond.model.scd import scd2_snapshot

SCHEMA = {"id": "int64", "name": "string", "tier": "string"}
D1, D2, D3 = datetime(2024, 1, 1), datetime(2024, 1, 2), datetime(2024, 1, 3)


def snap(rows):
    return ibis.memtable(pd.DataFrame(rows, columns=list(SCHEMA), dtype=object), schema=SCHEMA)


def rows(con, table, columns=("id", "name", "tier", "_op")):
    found = [tuple(r[c] for c in columns) for r in con.to_pyarrow(table).to_pylist()]
    return sorted(found, key=lambda row: [(value is None, str(value)) for value in row])


def test_inserts_updates_and_deletes_between_two_snapshots(con):
    before = snap([(1, "Ann", "gold"), (2, "Bo", None), (3, "Cy", "silver"), (5, "Ed", None)])
    after = snap([(2, "Bo", None), (3, "Cy", "gold"), (4, "Di", "bronze"), (5, "Eddie", None)])
    assert rows(con, snapshot_changes(con.create_table("b", before), con.create_table("a", after), "id")) == [
        (1, "Ann", "gold", "delete"),  # gone: its last values
        (3, "Cy", "gold", "update"),
        (4, "Di", "bronze", "insert"),
        (5, "Eddie", None, "update"),  # 2 is unchanged: a null equals a null
    ]
    only_tier = snapshot_changes(before, after, "id", columns=["tier"])
    assert [r[0] for r in rows(con, only_tier)] == [1, 3, 4]  # 5's name is not compared
    assert rows(con, snapshot_changes(None, after, "id"))[0] == (2, "Bo", None, "insert")


def test_applying_the_changes_gives_the_current_snapshot(con):
    before = snap([(1, "Ann", "gold"), (2, "Bo", None), (3, "Cy", "silver")])
    after = snap([(2, "Bo", "x"), (3, "Cy", "silver"), (4, "Di", None)])
    applied = apply_changes(before, snapshot_changes(before, after, "id"), "id")
    assert rows(con, applied, ("id", "name", "tier")) == rows(con, after, ("id", "name", "tier"))
    bad = ibis.memtable({"id": [1], "name": ["a"], "tier": ["b"], "_op": ["upsert"]})
    with pytest.raises(MillpondError, match="_op other than insert, update, delete"):
        apply_changes(before, bad, "id")


def test_a_type_2_dimension_fed_by_changes_equals_one_fed_by_snapshots(con):
    days = [
        snap([(1, "Ann", "gold"), (2, "Bo", "silver")]),
        snap([(1, "Ann", "platinum"), (3, "Cy", None)]),  # 1 changes, 2 deleted, 3 new
        snap([(1, "Ann", "platinum"), (2, "Bo", "silver"), (3, "Cy", "gold")]),  # 2 back, 3 changes
    ]
    by_snapshot = by_changes = None
    previous = None
    for day, (now, current) in enumerate(zip((D1, D2, D3), days, strict=True)):
        full = scd2_snapshot(by_snapshot, current, "id", strategy="check", now=now)
        by_snapshot = con.create_table(f"full_{day}", full)
        fed = scd2_from_changes(by_changes, snapshot_changes(previous, current, "id"), "id", strategy="check", now=now)
        by_changes = con.create_table(f"fed_{day}", fed)
        previous = current
    columns = ("id", "name", "tier", "valid_from", "valid_to", "is_current")
    assert rows(con, by_changes, columns) == rows(con, by_snapshot, columns)
    assert (2, "Bo", "silver", D1, D2, False) in rows(con, by_changes, columns)  # the delete closed it
