"""The ``files`` source through ``ctx.load``: incremental by a manifest of files, a changed file
replacing its rows, the state in the warehouse committed with the rows.

Expected rows come from the files the tests write (their lines), expected digests from
``hashlib`` over the same bytes: never from what the loader reports.
"""

from __future__ import annotations

import hashlib
import io
import json
import time
import uuid

import pytest

from millpond.cli import main
from millpond.project import project_of
from millpond.run.progress import PlainReporter
from millpond.run.runner import RunOptions, open_store, run_pipeline
from millpond.warehouse.connect import connect
from millpond.warehouse.sql import fetch
from millpond.workspace import Workspace
from support.workspaces import make_workspace, write_notebook

LOAD = ("import millpond as mp\nctx = mp.stage()", "loaded = ctx.load('orders')\nprint(loaded)")


def _pipeline(path: str = "data/in/*.csv", **options) -> dict:
    return {
        "sources": {"orders": {"kind": "files", "target": "bronze.orders", "options": {"path": path, **options}}},
        "stages": [{"name": "ingest", "notebook": "notebooks/ingest.ipynb", "produces": ["bronze.orders"]}],
    }


def _workspace(root, warehouse: str | None = None) -> Workspace:
    write_notebook(root / "notebooks/ingest.ipynb", "", *LOAD)
    make_workspace(root, {"shop": _pipeline()}, {"name": "test", **({"warehouse": warehouse} if warehouse else {})})
    (root / "data/in").mkdir(parents=True)
    return Workspace(root)


@pytest.fixture
def ws(tmp_path) -> Workspace:
    return _workspace(tmp_path)


@pytest.fixture(params=["duckdb", pytest.param("postgres", marks=pytest.mark.postgres)])
def any_ws(request, tmp_path) -> Workspace:
    """The workspace on the embedded DuckDB, and on a fresh database of the test PostgreSQL server."""
    if request.param == "duckdb":
        return _workspace(tmp_path)
    server = request.getfixturevalue("postgres_server")
    return _workspace(tmp_path, server.fresh_database(f"src_{uuid.uuid4().hex[:12]}"))


def _write(ws: Workspace, name: str, rows: list[tuple[int, str]]) -> None:
    text = "id,name\n" + "".join(f"{i},{n}\n" for i, n in rows)
    (ws.root / "data/in" / name).write_text(text)


def _run(ws: Workspace, **options) -> str:
    result = run_pipeline(ws, "shop", RunOptions(**options), reporter=PlainReporter(io.StringIO()))
    assert result.exit_code == 0, [s["error"] for s in open_store(ws).stage_runs(result.run_id)]
    return result.run_id


def _rows(ws: Workspace, sql: str = "SELECT _source_file, id, name FROM bronze.orders ORDER BY 1, 2") -> list:
    con = connect(ws)
    try:
        return [tuple(row) for row in fetch(con, sql)]
    finally:
        con.disconnect()


def _versions(ws: Workspace) -> list:
    return [v.version for v in project_of(ws).store().table_versions("bronze.orders")]


def _state(ws: Workspace) -> dict:
    rows = _rows(ws, "SELECT item, state FROM _millpond.load_state WHERE source = 'orders' ORDER BY item")
    return {item: json.loads(state) for item, state in rows}


def _digest(ws: Workspace, name: str) -> dict:
    data = (ws.root / "data/in" / name).read_bytes()
    return {"size": len(data), "sha256": hashlib.sha256(data).hexdigest()}


def test_new_files_are_loaded_once_and_a_changed_file_replaces_its_rows(any_ws):
    ws = any_ws
    _write(ws, "a.csv", [(1, "ann"), (2, "bo")])
    _write(ws, "b.csv", [(3, "cy")])
    _run(ws)
    assert _rows(ws) == [("data/in/a.csv", "1", "ann"), ("data/in/a.csv", "2", "bo"), ("data/in/b.csv", "3", "cy")]
    assert _state(ws) == {"data/in/a.csv": _digest(ws, "a.csv"), "data/in/b.csv": _digest(ws, "b.csv")}
    first_load = _rows(ws, "SELECT DISTINCT _loaded_at FROM bronze.orders")

    # nothing new: the runner skips the stage; forced, the load finds nothing and builds nothing
    versions = _versions(ws)
    assert versions  # the first load made one
    _run(ws)
    _run(ws, force=True)
    assert _rows(ws, "SELECT DISTINCT _loaded_at FROM bronze.orders") == first_load
    assert _versions(ws) == versions  # no new version of an unchanged table

    _write(ws, "c.csv", [(4, "di")])  # a new file: only it is read
    time.sleep(1.1)  # so that this run's load time (whole seconds) differs from the first's
    _run(ws)
    loaded = dict(_rows(ws, "SELECT _source_file, max(_loaded_at) FROM bronze.orders GROUP BY 1"))
    assert loaded["data/in/a.csv"] == loaded["data/in/b.csv"] == first_load[0][0] < loaded["data/in/c.csv"]

    _write(ws, "a.csv", [(1, "ann"), (2, "bob"), (5, "eve")])  # changed in place: its rows replaced
    _run(ws)
    assert _rows(ws) == [
        ("data/in/a.csv", "1", "ann"),
        ("data/in/a.csv", "2", "bob"),
        ("data/in/a.csv", "5", "eve"),
        ("data/in/b.csv", "3", "cy"),
        ("data/in/c.csv", "4", "di"),
    ]
    assert _state(ws) == {f"data/in/{n}": _digest(ws, n) for n in ("a.csv", "b.csv", "c.csv")}


def test_a_gone_file_keeps_its_rows_unless_told_and_a_full_refresh_loads_everything(any_ws):
    ws = any_ws
    _write(ws, "a.csv", [(1, "ann")])
    _write(ws, "b.csv", [(2, "bo")])
    _run(ws)
    (ws.root / "data/in/b.csv").unlink()
    _run(ws)
    assert [r[0] for r in _rows(ws)] == ["data/in/a.csv", "data/in/b.csv"]  # kept (deleted_files: keep)
    spec = ws.root / "pipelines/shop.yml"
    spec.write_text(spec.read_text().replace("path: data/in/*.csv", "path: data/in/*.csv\n      deleted_files: delete"))
    _run(ws)
    assert [r[0] for r in _rows(ws)] == ["data/in/a.csv"]
    assert list(_state(ws)) == ["data/in/a.csv"]
    _write(ws, "b.csv", [(2, "bo")])
    _run(ws, full_refresh=["bronze.orders"])
    assert _rows(ws) == [("data/in/a.csv", "1", "ann"), ("data/in/b.csv", "2", "bo")]
    assert _state(ws) == {f"data/in/{n}": _digest(ws, n) for n in ("a.csv", "b.csv")}


def test_a_source_in_jupyter_builds_in_the_persons_environment_with_its_own_state(ws, monkeypatch):
    import millpond as mp

    _write(ws, "a.csv", [(1, "ann")])
    _run(ws)
    _write(ws, "b.csv", [(2, "bo")])
    monkeypatch.setenv("MILLPOND_ENV", "alice")
    ctx = mp.stage(ws.root)
    try:
        loaded = ctx.load("orders")  # alice has no bronze.orders of her own yet: she loads from scratch
        assert loaded.counts == {"new": 2, "changed": 0, "unchanged": 0, "gone": 0}
        assert ctx.load("orders").counts == {"new": 0, "changed": 0, "unchanged": 2, "gone": 0}
    finally:
        ctx.close()
    # alice's table and state hold both files; production's still one
    assert [r[0] for r in _rows(ws, "SELECT _source_file FROM bronze__alice.orders ORDER BY 1")] == [
        "data/in/a.csv",
        "data/in/b.csv",
    ]
    assert [r[0] for r in _rows(ws)] == ["data/in/a.csv"]
    assert list(_state(ws)) == ["data/in/a.csv"]


@pytest.mark.parametrize(
    ("source", "message"),
    [
        (
            {"kind": "ftp", "target": "bronze.orders"},
            "unknown source kind 'ftp' (kinds: files, http_json, postgres_table, postgres_cdc)",
        ),
        (
            {"kind": "files", "target": "bronze.orders", "options": {"path": "data/in/*.csv", "colums": ["id"]}},
            "sources: orders: options: colums: Extra inputs are not permitted",
        ),
        ({"kind": "files", "target": "bronze.orders", "options": {"path": "data/none/*.csv"}}, "no file matches"),
        ({"kind": "files", "target": "bronze.orders", "options": {"path": "data/in/*"}}, "several formats"),
    ],
)
def test_a_bad_source_fails_its_stage_with_one_line(ws, source, message, capsys):
    _write(ws, "a.csv", [(1, "ann")])
    (ws.root / "data/in/b.parquet").write_bytes(b"PAR1")
    spec = _pipeline()
    spec["sources"]["orders"] = source
    make_workspace(ws.root, {"shop": spec})
    assert main(["run", "shop", "-C", str(ws.root), "--plain"]) == 1
    out = capsys.readouterr()
    assert message in out.out + out.err
    assert "Traceback" not in out.err


def test_a_source_whose_target_no_stage_produces_is_refused_by_validate(ws, capsys):
    spec = _pipeline()
    spec["sources"]["orders"]["target"] = "bronze.order"
    make_workspace(ws.root, {"shop": spec})
    assert main(["validate", "-C", str(ws.root)]) != 0
    err = capsys.readouterr().err
    assert "pipelines/shop.yml:" in err and "sources.orders.target: no stage produces bronze.order" in err


def test_malformed_records_are_held_with_their_file_line_and_error_until_the_file_is_fixed(any_ws):
    ws = any_ws
    _write(ws, "a.csv", [(1, "ann")])
    (ws.root / "data/in/b.csv").write_bytes(b"id,name\n2,bo\n3,cy,extra\n4,\xff\xfe\n5,eve\n")
    _run(ws)
    assert _rows(ws) == [
        ("data/in/a.csv", "1", "ann"),
        ("data/in/b.csv", "2", "bo"),
        ("data/in/b.csv", "5", "eve"),
    ]
    held = _rows(ws, "SELECT _source_file, _source_line, reason FROM quarantine.bronze_orders ORDER BY _source_line")
    assert held == [("data/in/b.csv", 3, "malformed_row"), ("data/in/b.csv", 4, "malformed_row")]
    errors = [e for (e,) in _rows(ws, "SELECT _load_error FROM quarantine.bronze_orders ORDER BY _source_line")]
    assert "3" in errors[0] and "UTF-8" in errors[1]
    _write(ws, "b.csv", [(2, "bo"), (3, "cy"), (4, "di"), (5, "eve")])  # fixed at the source
    _run(ws)
    assert [r[1] for r in _rows(ws)] == ["1", "2", "3", "4", "5"]
    assert _rows(ws, "SELECT count(*) FROM quarantine.bronze_orders") == [(0,)]
    columns = _rows(
        ws,
        "SELECT column_name FROM information_schema.columns WHERE table_schema = 'bronze' AND table_name = 'orders'",
    )
    assert sorted(c for (c,) in columns) == ["_loaded_at", "_source_file", "id", "name"]


@pytest.mark.parametrize(
    ("source", "message"),
    [
        (
            {"kind": "ftp", "target": "bronze.orders"},
            "sources: orders: unknown source kind 'ftp' (kinds: files, http_json, postgres_table, postgres_cdc)",
        ),
        (
            {"kind": "files", "target": "bronze.orders", "options": {"path": "data/in/*.csv", "deleted_files": "drop"}},
            "sources: orders: options: deleted_files: Input should be 'keep' or 'delete'",
        ),
        ({"kind": "files", "target": "bronze.orders", "options": {}}, "options: path: Field required"),
    ],
)
def test_validate_names_the_line_of_a_source_its_kind_refuses(ws, source, message, capsys):
    spec = _pipeline()
    spec["sources"]["orders"] = source
    make_workspace(ws.root, {"shop": spec})
    assert main(["validate", "-C", str(ws.root)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: pipelines/shop.yml:2: ") and message in err[0], err


@pytest.mark.parametrize("fmt", ["parquet", "jsonl"])
def test_parquet_and_json_lines_load_the_same_way(tmp_path, fmt):
    import pyarrow as pa
    import pyarrow.parquet as pq

    ws = _workspace(tmp_path)
    spec = ws.root / "pipelines/shop.yml"
    spec.write_text(spec.read_text().replace("data/in/*.csv", f"data/in/*.{fmt}"))

    def write(name: str, ids: list[int]) -> None:
        path = ws.root / "data/in" / f"{name}.{fmt}"
        if fmt == "parquet":
            pq.write_table(pa.table({"id": ids, "name": [f"n{i}" for i in ids]}), path)
        else:
            path.write_text("".join(json.dumps({"id": i, "name": f"n{i}"}) + "\n" for i in ids))

    write("a", [1, 2])
    write("b", [3])
    _run(ws)
    write("b", [3, 4])  # changed: its rows replaced
    write("c", [5])
    _run(ws)
    rows = _rows(ws, "SELECT _source_file, id, name FROM bronze.orders ORDER BY id")
    assert rows == [
        (f"data/in/a.{fmt}", 1, "n1"),
        (f"data/in/a.{fmt}", 2, "n2"),
        (f"data/in/b.{fmt}", 3, "n3"),
        (f"data/in/b.{fmt}", 4, "n4"),
        (f"data/in/c.{fmt}", 5, "n5"),
    ]


def test_binary_junk_named_csv_fails_the_load_with_one_line_naming_it(ws, capsys):
    _write(ws, "a.csv", [(1, "ann")])
    (ws.root / "data/in/junk.csv").write_bytes(bytes(range(256)) * 64)
    assert main(["run", "shop", "-C", str(ws.root), "--plain"]) == 1
    out = capsys.readouterr()
    assert "junk.csv:1: the header line holds control characters" in out.out + out.err
    assert "Traceback" not in out.out + out.err
    (ws.root / "data/in/junk.csv").unlink()  # and the next run, without it, loads as if nothing happened
    _run(ws)
    assert _rows(ws) == [("data/in/a.csv", "1", "ann")]


def test_a_loaded_column_s_lineage_ends_at_its_files(ws, capsys):
    _write(ws, "a.csv", [(1, "ann")])
    _write(ws, "b.csv", [(2, "bo")])
    _run(ws)
    capsys.readouterr()
    assert main(["lineage", "bronze.orders.name", "-C", str(ws.root)]) == 0
    out = capsys.readouterr().out
    assert "file:data/in/a.csv.name (raw file)" in out and "_mp_tmp" not in out, out
    _write(ws, "c.csv", [(3, "cy")])  # a load that reads only c.csv: the table still holds a and b
    _run(ws)
    capsys.readouterr()
    assert main(["lineage", "bronze.orders.name", "-C", str(ws.root)]) == 0
    out = capsys.readouterr().out
    assert all(f"file:data/in/{n}.csv.name (raw file)" in out for n in "abc"), out


def test_a_new_column_follows_the_table_s_schema_change_policy(ws, capsys):
    _write(ws, "a.csv", [(1, "ann")])
    _run(ws)
    (ws.root / "data/in/b.csv").write_text("id,name,tier\n2,bo,gold\n")
    assert main(["run", "shop", "-C", str(ws.root), "--plain"]) == 1  # incremental tables default to fail
    out = capsys.readouterr()
    assert "tier" in out.out + out.err and "Traceback" not in out.out + out.err
    assert _rows(ws) == [("data/in/a.csv", "1", "ann")]  # nothing half-loaded
    assert list(_state(ws)) == ["data/in/a.csv"]
    spec = ws.root / "pipelines/shop.yml"
    spec.write_text(
        spec.read_text().replace(
            "  produces:\n  - bronze.orders\n",
            "  produces:\n  - bronze.orders\n  tables:\n    bronze.orders: {on_schema_change: append_new_columns}\n",
        )
    )
    _run(ws)
    assert _rows(ws, "SELECT _source_file, id, name, tier FROM bronze.orders ORDER BY id") == [
        ("data/in/a.csv", "1", "ann", None),
        ("data/in/b.csv", "2", "bo", "gold"),
    ]


def test_malformed_keep_leaves_each_bad_line_in_the_table_for_a_later_stage_to_hold(ws):
    spec = _pipeline(malformed="keep")
    make_workspace(ws.root, {"shop": spec})
    (ws.root / "data/in/b.csv").write_bytes(b"id,name\n2,bo\n3,cy,extra\n4,\xff\xfe\n")
    _run(ws)
    rows = _rows(
        ws,
        "SELECT id, name, _source_line, _load_error IS NOT NULL FROM bronze.orders ORDER BY _source_line NULLS FIRST",
    )
    assert rows == [("2", "bo", None, False), (None, None, 3, True), (None, None, 4, True)]  # lines of bad rows only
    held = _rows(ws, "SELECT count(*) FROM information_schema.tables WHERE table_name = 'bronze_orders'")
    assert held == [(0,)]  # nothing held by the load itself


def test_json_lines_columns_are_typed_as_declared_and_a_type_it_lacks_is_refused(tmp_path, capsys):
    ws = _workspace(tmp_path)
    spec = _pipeline("data/in/*.jsonl", columns={"id": "int64", "name": "string", "ok": "boolean"})
    make_workspace(ws.root, {"shop": spec})
    (ws.root / "data/in/a.jsonl").write_text('{"id": 1, "name": "ann", "ok": true}\n{"id": 2, "ok": false}\n')
    _run(ws)
    assert _rows(ws, "SELECT id, name, ok FROM bronze.orders ORDER BY id") == [(1, "ann", True), (2, None, False)]
    types = _rows(
        ws,
        "SELECT column_name, data_type FROM information_schema.columns WHERE table_schema = 'bronze' "
        "AND table_name = 'orders' AND column_name IN ('id', 'name', 'ok') ORDER BY ordinal_position",
    )
    assert types == [("id", "BIGINT"), ("name", "VARCHAR"), ("ok", "BOOLEAN")]
    spec["sources"]["orders"]["options"]["columns"] = {"id": "money"}
    make_workspace(ws.root, {"shop": spec})
    assert main(["validate", "-C", str(ws.root)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "options: columns" in err[0] and "money" not in err[0].split("options: columns")[0], err


def test_a_header_only_file_fails_the_volume_guard_and_the_load_s_state_stays(ws, capsys):
    spec = _pipeline()
    spec["stages"][0]["tables"] = {"bronze.orders": {"volume": {"min_rows": 1, "max_drop": 0.5}}}
    make_workspace(ws.root, {"shop": spec})
    _write(ws, "a.csv", [(1, "ann"), (2, "bo")])
    _write(ws, "b.csv", [(3, "cy")])
    _run(ws)
    state, versions = _state(ws), _versions(ws)
    _write(ws, "a.csv", [])  # the header only: the incremental load would leave 1 row of 3
    assert main(["run", "shop", "-C", str(ws.root), "--plain"]) == 1
    out = capsys.readouterr().out
    assert "bronze.orders: the new build failed its audit, the previous version stays: volume: 1 rows" in out
    assert "drop of 67% (max_drop 50%)" in out
    # the rows, the manifest and the versions are as before: the next run tries the file again
    assert _rows(ws) == [("data/in/a.csv", "1", "ann"), ("data/in/a.csv", "2", "bo"), ("data/in/b.csv", "3", "cy")]
    assert _state(ws) == state and _versions(ws) == versions
    _write(ws, "a.csv", [(1, "ann"), (2, "bo"), (4, "di")])
    _run(ws)
    assert [r[1] for r in _rows(ws)] == ["1", "2", "4", "3"]
