"""Splitting bronze into clean and rejected rows, with one reason per rejected row."""

from __future__ import annotations

import ibis
import pyarrow as pa

from millpond.model.parse import parse_int, parse_timestamp
from millpond.model.rejection import classify


def _value(con, scalar):
    """Execute a scalar expression through Arrow (``execute`` goes through pandas)."""
    return con.to_pyarrow(scalar).as_py()


def _versions():
    return ibis.memtable(
        pa.table(
            {
                "id": ["1", "1", "1", "2", "2", "3", "x"],
                "email": ["old@a.test", "new@a.test", "new@a.test", "b@a.test", None, "c@a.test", "d@a.test"],
                "updated_at": [
                    "2024-01-01 00:00:00",
                    "2024-01-02 00:00:00",
                    "2024-01-02 00:00:00",
                    "2024-01-01 00:00:00",
                    "2024-01-03 00:00:00",
                    "2024-01-01 00:00:00",
                    "2024-01-01 00:00:00",
                ],
                "_source_file": ["raw/c.csv"] * 7,
            }
        )
    )


def _classify_versions(raw):
    typed = {"id": parse_int(raw.id), "email": raw.email, "updated_at": parse_timestamp(raw.updated_at)}
    checks = [(typed["id"].isnull(), "invalid_id"), (raw.email.isnull(), "missing_email")]
    return classify(raw, typed=typed, row_checks=checks, key=["id"], version="updated_at")


def test_latest_valid_version_wins_and_every_other_row_has_one_reason(con):
    split = _classify_versions(_versions())
    clean = con.to_pyarrow(split.clean().order_by("id")).to_pylist()
    # id 2's newest row has no e-mail, so the older valid version is kept.
    assert [(row["id"], row["email"]) for row in clean] == [(1, "new@a.test"), (2, "b@a.test"), (3, "c@a.test")]
    rejected = con.to_pyarrow(split.rejected().order_by("reason", "email")).to_pylist()
    assert [(row["id"], row["email"], row["reason"]) for row in rejected] == [
        ("1", "new@a.test", "duplicate"),
        ("x", "d@a.test", "invalid_id"),
        ("2", None, "missing_email"),
        ("1", "old@a.test", "superseded"),
    ]


def test_clean_keeps_load_metadata_and_rejected_keeps_raw_text(con):
    split = _classify_versions(_versions())
    assert split.clean().columns == ("id", "email", "updated_at", "_source_file")
    assert split.rejected().columns == ("id", "email", "updated_at", "_source_file", "reason")
    assert str(split.rejected().schema()["id"]) == "string"


def test_rows_in_equal_clean_plus_rejected(con):
    raw = _versions()
    split = _classify_versions(raw)
    assert _value(con, raw.count()) == _value(con, split.clean().count()) + _value(con, split.rejected().count())


def test_conflicting_key_without_version_keeps_one_row(con):
    raw = ibis.memtable(pa.table({"id": [5, 5], "name": ["b", "a"]}))
    split = classify(raw, typed={"id": raw.id, "name": raw.name}, row_checks=[], key=["id"])
    assert con.to_pyarrow(split.clean()).to_pylist() == [{"id": 5, "name": "a"}]
    assert con.to_pyarrow(split.rejected()).to_pylist() == [{"id": 5, "name": "b", "reason": "duplicate_key"}]


def test_orphans_are_checked_against_the_clean_parent_after_other_checks(con):
    parent = ibis.memtable(pa.table({"id": [1, 2]}))
    raw = ibis.memtable(pa.table({"child": [10, 11, 12, 12, 13], "parent_id": [1, 3, 2, 2, None]}))
    split = classify(
        raw,
        typed={"child": raw.child, "parent_id": raw.parent_id},
        row_checks=[],
        key=["child"],
        orphan_checks=[("parent_id", parent.id, "orphan_parent")],
    )
    rejected = con.to_pyarrow(split.rejected().order_by("child")).to_pylist()
    assert [(row["child"], row["reason"]) for row in rejected] == [(11, "orphan_parent"), (12, "duplicate")]
    assert sorted(con.to_pyarrow(split.clean())["child"].to_pylist()) == [10, 12, 13]
