"""Versions and time travel, the same on DuckDB and PostgreSQL."""

from __future__ import annotations

import datetime as dt
import json
import time
import uuid

import ibis
import pytest

from millpond.engines.base import SNAPSHOT_PREFIX
from millpond.engines.postgres import SNAPSHOT_SCHEMA as PG_SNAPSHOT_SCHEMA
from millpond.errors import MillpondError
from millpond.store.metadata import MetadataStore
from millpond.warehouse.incremental import Incremental
from millpond.warehouse.materialize import materialize
from millpond.warehouse.rollback import rollback
from millpond.warehouse.version_diff import diff_versions
from millpond.warehouse.versions import keeping_versions, record_version, version_table


@pytest.fixture
def store(tmp_path) -> MetadataStore:
    return MetadataStore(tmp_path / "meta.sqlite")


def build(con, store, expr, name="gold.t", kind="table", retain=3, unique_key=None, **options):
    """What ``ctx.materialize`` does: materialize under ``keeping_versions``, then record."""
    with keeping_versions(
        con, store, name, kind, retain=retain, full_refresh=options.get("full_refresh", False)
    ) as kept:
        result = materialize(con, expr, name, kind, **options)
    return record_version(con, store, result, kept, retain=retain, run_id="r", stage="s", unique_key=unique_key)


def rows(con, store, version, name="gold.t"):
    t = version_table(con, store, name, version)
    return sorted(tuple(r.values()) for r in t.to_pyarrow().to_pylist())


def snapshots(con) -> list[str]:
    """Every snapshot table in the warehouse."""
    if con.name == "postgres":
        return (
            sorted(con.list_tables(database=PG_SNAPSHOT_SCHEMA)) if PG_SNAPSHOT_SCHEMA in con.list_databases() else []
        )
    return sorted(t for t in con.list_tables(database="gold") if t.startswith(SNAPSHOT_PREFIX))


def table_of(*values):
    return ibis.memtable({"id": list(range(len(values))), "v": list(values)})


def test_each_build_is_a_version_and_older_ones_stay_readable(con, store):
    for values in (["a"], ["a", "b"], ["a", "b", "c"]):
        build(con, store, table_of(*values))
    versions = store.table_versions("gold.t")
    assert [(v.version, v.status, v.rows, v.run_id, v.stage) for v in versions] == [
        (1, "kept", 1, "r", "s"),
        (2, "kept", 2, "r", "s"),
        (3, "live", 3, "r", "s"),
    ]
    assert rows(con, store, 1) == [(0, "a")]
    assert rows(con, store, 2) == [(0, "a"), (1, "b")]
    assert rows(con, store, 3) == rows(con, store, None) == [(0, "a"), (1, "b"), (2, "c")]
    assert len(snapshots(con)) == 2
    assert versions[0].schema == {"id": "int64", "v": "string"}


def test_identical_rebuilds_share_one_copy(con, store):
    build(con, store, table_of("a", "b"))
    build(con, store, table_of("a", "b"))
    assert snapshots(con) == []  # version 1 has the same rows as the live table
    # one live version (issue 21.4): the older one holds the same rows, it is not live too
    assert [v.status for v in store.table_versions("gold.t")] == ["kept", "live"]
    build(con, store, table_of("x"))
    one, two, three = store.table_versions("gold.t")
    assert one.location == two.location != three.location == "gold.t"
    assert len(snapshots(con)) == 1
    assert rows(con, store, 1) == rows(con, store, 2) == [(0, "a"), (1, "b")]


def test_retention_drops_old_snapshots_and_keeps_the_records(con, store):
    for values in (["a"], ["b"], ["c"], ["d"]):
        build(con, store, table_of(*values), retain=2)
    versions = store.table_versions("gold.t")
    assert [v.status for v in versions] == ["expired", "expired", "kept", "live"]
    assert len(snapshots(con)) == 1
    assert rows(con, store, 3) == [(0, "c")]
    with pytest.raises(MillpondError, match=r"gold.t version 1 has expired \(kept: 3, 4\)"):
        version_table(con, store, "gold.t", 1)


def test_retain_one_keeps_no_history(con, store):
    build(con, store, table_of("a"), retain=1)
    build(con, store, table_of("b"), retain=1)
    assert [v.status for v in store.table_versions("gold.t")] == ["expired", "live"]
    assert snapshots(con) == []


def test_incremental_tables_keep_their_previous_rows_by_a_copy(con, store):
    merge = Incremental.of("merge", unique_key="id")
    options = {"kind": "incremental", "incremental": merge, "unique_key": ["id"]}
    build(con, store, ibis.memtable({"id": [1, 2], "v": ["a", "b"]}), **options)
    build(con, store, ibis.memtable({"id": [2, 3], "v": ["B", "c"]}), **options)
    assert rows(con, store, 1) == [(1, "a"), (2, "b")]
    assert rows(con, store, 2) == [(1, "a"), (2, "B"), (3, "c")]
    assert len(snapshots(con)) == 1
    build(con, store, ibis.memtable({"id": [3], "v": ["c"]}), **options)  # changes nothing
    assert len(snapshots(con)) == 1  # the copy taken before it is dropped again
    assert [v.status for v in store.table_versions("gold.t")] == ["kept", "kept", "live"]  # one live version
    assert store.table_versions("gold.t")[-1].unique_key == ["id"]


def test_a_failed_build_leaves_no_version_and_no_snapshot(con, store):
    merge = Incremental.of("merge", unique_key="id")
    build(con, store, ibis.memtable({"id": [1], "v": ["a"]}), kind="incremental", incremental=merge)
    with pytest.raises(MillpondError, match="appear more than once"):
        build(con, store, ibis.memtable({"id": [5, 5], "v": ["x", "y"]}), kind="incremental", incremental=merge)
    bad = ibis.memtable({"v": ["1", "two"]})
    with pytest.raises(Exception):
        build(con, store, bad.mutate(n=bad.v.cast("int64")))
    assert [v.version for v in store.table_versions("gold.t")] == [1]
    assert snapshots(con) == []
    assert rows(con, store, 1) == [(1, "a")]


def test_as_of_reads_the_latest_version_built_by_then(con, store):
    build(con, store, table_of("a"))
    time.sleep(0.02)
    build(con, store, table_of("a", "b"))
    first, second = store.table_versions("gold.t")
    between = dt.datetime.fromtimestamp((first.built_at + second.built_at) / 2, dt.timezone.utc)
    assert version_table(con, store, "gold.t", as_of=between).count().execute() == 1
    naive_utc = between.replace(tzinfo=None).isoformat()
    assert version_table(con, store, "gold.t", as_of=naive_utc).count().execute() == 1
    assert version_table(con, store, "gold.t", as_of=dt.datetime.now(dt.timezone.utc)).count().execute() == 2
    with pytest.raises(MillpondError, match="gold.t did not exist at 2000-01-01"):
        version_table(con, store, "gold.t", as_of="2000-01-01")
    with pytest.raises(MillpondError, match="expected an ISO date"):
        version_table(con, store, "gold.t", as_of="yesterday")


def test_unknown_versions_are_one_line_errors(con, store):
    with pytest.raises(MillpondError, match="gold.t has no recorded versions"):
        version_table(con, store, "gold.t", 1)
    build(con, store, table_of("a"))
    with pytest.raises(MillpondError, match=r"gold.t has no version 7 \(versions 1 to 1"):
        version_table(con, store, "gold.t", 7)
    with pytest.raises(MillpondError, match="give version= or as_of=, not both"):
        version_table(con, store, "gold.t", 1, as_of="2024-01-01")


def test_rollback_restores_a_version_as_the_new_latest(con, store):
    build(con, store, table_of("a"))
    build(con, store, table_of("a", "b"))
    restored = rollback(con, store, "gold.t", 1, retain=3)
    assert (restored.version, restored.note, restored.rows) == (3, "rollback to version 1", 1)
    assert rows(con, store, None) == [(0, "a")]
    assert rows(con, store, 2) == [(0, "a"), (1, "b")]  # the version rolled back from stays readable
    assert store.latest_materialization("gold.t").fingerprint.startswith("rollback:1:")


def test_views_read_the_new_table_not_a_snapshot(con, store):
    build(con, store, table_of("a"))
    base = con.table("t", database="gold")
    materialize(con, base.filter(base.v != "zzz"), "gold.v_all", kind="view")
    build(con, store, table_of("a", "b", "c"))
    assert con.table("v_all", database="gold").count().execute() == 3
    assert rows(con, store, 1) == [(0, "a")]


def test_a_view_replacing_a_table_ends_its_versions(con, store):
    build(con, store, table_of("a"))
    build(con, store, table_of("a", "b"))
    materialize(con, table_of("q"), "gold.src")
    build(con, store, con.table("src", database="gold"), kind="view")
    assert [v.status for v in store.table_versions("gold.t")] == ["kept", "expired"]
    assert rows(con, store, 1) == [(0, "a")]


def test_diff_counts_added_removed_and_changed_rows(con, store):
    merge = Incremental.of("merge", unique_key="id")
    build(
        con,
        store,
        ibis.memtable({"id": [1, 2, 3], "v": ["a", "b", None]}),
        kind="incremental",
        incremental=merge,
        unique_key=["id"],
    )
    build(
        con,
        store,
        ibis.memtable({"id": [3, 4], "v": ["c", "d"]}),
        kind="incremental",
        incremental=merge,
        unique_key=["id"],
    )
    keyed = diff_versions(con, store, "gold.t", 1, 2)  # the recorded unique_key
    assert (keyed.key, keyed.added, keyed.removed, keyed.changed) == (["id"], 1, 0, 1)
    assert keyed.samples["changed"] == [{"id": 3, "changes": {"v": [None, "c"]}}]
    assert keyed.samples["added"] == [{"id": 4, "v": "d"}]


def test_diff_without_a_key_compares_multisets_and_columns(con, store):
    build(con, store, ibis.memtable({"x": [1, 1, 2], "y": [0, 0, 0]}))
    build(con, store, ibis.memtable({"x": [1, 2, 2], "z": ["n", "n", "n"]}))
    plain = diff_versions(con, store, "gold.t", 1, 2)
    assert (plain.key, plain.added, plain.removed, plain.changed) == (None, 1, 1, None)
    assert (plain.columns_added, plain.columns_removed) == (["z"], ["y"])
    assert (plain.samples["added"], plain.samples["removed"]) == ([{"x": 2}], [{"x": 1}])
    with pytest.raises(MillpondError, match=r"key x is not unique in the older version \(1 values repeat\)"):
        diff_versions(con, store, "gold.t", 1, 2, key=["x"])
    with pytest.raises(MillpondError, match="key column y is not in both versions"):
        diff_versions(con, store, "gold.t", 1, 2, key=["y"])


# -- through the stage context and the command line, on a workspace of each engine ----------
@pytest.fixture(
    params=[pytest.param("duckdb", id="duckdb"), pytest.param("postgres", id="postgres", marks=pytest.mark.postgres)]
)
def workspace(request, tmp_path):
    """A workspace keeping 2 versions per table, its warehouse on each engine."""
    from millpond.workspace import Workspace

    url = "duckdb://data/warehouse.duckdb"
    if request.param == "postgres":
        server = request.getfixturevalue("postgres_server")
        database = f"test_{uuid.uuid4().hex[:16]}"
        url = server.fresh_database(database)
        request.addfinalizer(lambda: server.drop_database(database))
    (tmp_path / "millpond.yml").write_text(f"name: t\nwarehouse: {url}\nversions: {{retain: 2}}\n")
    return Workspace(tmp_path)


def cli(capsys, *args) -> tuple[int, str, str]:
    from millpond.cli import main

    code = main([*args])
    out, err = capsys.readouterr()
    return code, out, err


def test_stage_context_and_commands_read_diff_and_roll_back(workspace, capsys):
    from millpond.stage_api.context import StageContext

    root = str(workspace.root)
    ctx = StageContext(workspace)
    for values in (["a"], ["a", "b"], ["a", "B", "c"]):
        ctx.materialize(table_of(*values), "gold.t")
    assert ctx.table("gold.t", version=2).count().execute() == 2
    with pytest.raises(MillpondError, match="gold.t version 1 has expired"):
        ctx.table("gold.t", version=1)
    ctx.close()

    code, out, _ = cli(capsys, "versions", "gold.t", "--json", "-C", root)
    assert code == 0
    assert [(v["version"], v["status"], v["rows"]) for v in json.loads(out)] == [
        (1, "expired", 1),
        (2, "kept", 2),
        (3, "live", 3),
    ]
    code, out, _ = cli(capsys, "diff", "gold.t", "2", "3", "--key", "id", "--json", "-C", root)
    assert code == 0
    found = json.loads(out)
    assert (found["added"], found["removed"], found["changed"]) == (1, 0, 1)
    assert found["samples"]["changed"] == [{"id": 1, "changes": {"v": ["b", "B"]}}]
    code, out, _ = cli(capsys, "diff", "gold.t", "2", "3", "-C", root)
    assert code == 0 and "gold.t version 2 -> 3, as whole rows" in out and "2 added, 1 removed" in out
    code, _, err = cli(capsys, "diff", "gold.t", "1", "3", "-C", root)
    assert code == 2 and err.startswith("error: gold.t version 1 has expired (kept: 2, 3)") and "Traceback" not in err
    code, out, _ = cli(capsys, "rollback", "gold.t", "2", "-C", root)
    assert code == 0 and out.startswith("gold.t: version 4 restores version 2 (2 rows)")

    ctx = StageContext(workspace)
    try:
        assert sorted(ctx.table("gold.t").to_pyarrow().column("v").to_pylist()) == ["a", "b"]
        assert ctx.table("gold.t", version=3).count().execute() == 3  # rolled back from, still kept
    finally:
        ctx.close()
    code, out, _ = cli(capsys, "versions", "gold.t", "-C", root)
    assert code == 0 and "rollback to version 2" in out
    code, _, err = cli(capsys, "versions", "gold.nothing", "-C", root)
    assert code == 2 and "gold.nothing has no recorded versions" in err


def test_diff_compares_by_the_declared_primary_key(tmp_path, capsys):
    """Issue 21.4: `millpond diff` compared whole rows although the table declares its key."""
    from millpond.stage_api.context import StageContext
    from millpond.workspace import Workspace

    (tmp_path / "millpond.yml").write_text("name: t\n")
    (tmp_path / "pipelines").mkdir()
    (tmp_path / "pipelines/p.yml").write_text(
        "stages:\n  - name: s\n    notebook: nb.ipynb\n    produces: [gold.t]\n    tables: {gold.t: {primary_key: [id]}}\n"
    )
    ctx = StageContext(Workspace(tmp_path))
    try:
        for values in (["a", "b"], ["a", "B", "c"]):
            ctx.materialize(table_of(*values), "gold.t")
    finally:
        ctx.close()
    code, out, _ = cli(capsys, "diff", "gold.t", "1", "2", "-C", str(tmp_path))
    assert code == 0 and "gold.t version 1 -> 2, by key id: 1 added, 0 removed, 1 changed" in out, out


def test_a_stage_can_declare_its_own_retention(tmp_path):
    from millpond.stage_api.context import StageContext
    from millpond.workspace import Workspace

    (tmp_path / "millpond.yml").write_text("name: t\n")
    (tmp_path / "pipelines").mkdir()
    (tmp_path / "pipelines/p.yml").write_text(
        "stages:\n  - name: s\n    notebook: nb.ipynb\n    produces: [gold.t]\n    tables: {gold.t: {retain: 1}}\n"
    )
    ctx = StageContext(Workspace(tmp_path))
    try:
        for values in (["a"], ["b"], ["c"]):
            ctx.materialize(table_of(*values), "gold.t")
            ctx.materialize(table_of(*values), "gold.u")  # the workspace default: 3
        assert [v.status for v in ctx.store.table_versions("gold.t")] == ["expired", "expired", "live"]
        assert [v.status for v in ctx.store.table_versions("gold.u")] == ["kept", "kept", "live"]
    finally:
        ctx.close()


def test_the_content_hash_sees_every_column_even_one_named_like_the_row(con):
    from millpond.warehouse.versions import content_hash

    materialize(con, ibis.memtable({"t": [1, 1], "v": ["a", "b"]}), "gold.x")
    materialize(con, ibis.memtable({"t": [1, 1], "v": ["b", "a"]}), "gold.y")
    materialize(con, ibis.memtable({"t": [1, 1], "v": ["a", "c"]}), "gold.z")
    materialize(con, ibis.memtable({"t": [1, 1], "v": ["a", "b"]}).cast({"t": "int32"}), "gold.w")
    x, y, z, w = (content_hash(con, "gold", n) for n in "xyzw")
    assert x == y and x != z and x != w
