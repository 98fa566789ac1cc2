"""The `publish_together` group is published all at once from one successful run, or not at all.

Real kernels and a real DuckDB file (the swap itself on both engines): a failed run and a
killed run leave every gold table as the last successful run left it; a reader during a
run sees the old gold layer whole; the run's own stages and checks read its staged builds.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import ibis
import pytest

from millpond.pipeline.load import load_pipeline
from millpond.run.progress import PlainReporter
from millpond.run.runner import RunOptions, open_store, run_pipeline
from millpond.store.metadata import MetadataStore
from millpond.warehouse.materialize import materialize
from millpond.warehouse.staging import PENDING_PREFIX, StagedBuild, publish_staged, start_staged
from millpond.warehouse.versions import keeping_versions, record_version
from millpond.workspace import Workspace
from support.workspaces import make_workspace, query, write_notebook

MILLPOND = str(Path(sys.executable).parent / "millpond")
MAKE = (
    "import millpond as mp, ibis\nctx = mp.stage()",
    "ctx.materialize(ibis.memtable({'id': list(range(n))}), table)",
)
COPY = (
    "import millpond as mp\nctx = mp.stage()",  # reads this run's build of gold.a, not the published one
    "ctx.materialize(ctx.table('gold.a').mutate(copied=1), table)",
    "if fail:\n    raise RuntimeError('broken after the build')",
)
HOLD = (
    "import os, pathlib, time\nroot = pathlib.Path(os.environ['MILLPOND_WORKSPACE'])",
    "(root / 'holding').write_text('1')\nwhile not (root / 'release').exists():\n    time.sleep(0.05)",
)


def workspace(root, publish_together=None, hold=False) -> Workspace:
    write_notebook(root / "notebooks/make.ipynb", "n = 1\ntable = 'gold.t'", *MAKE)
    write_notebook(root / "notebooks/copy.ipynb", "table = 'gold.b'\nfail = 0", *COPY)
    write_notebook(root / "notebooks/hold.ipynb", "x = 0", *HOLD)
    stages = [
        {
            "name": "silver_s",
            "notebook": "notebooks/make.ipynb",
            "params": {"table": "silver.s"},
            "produces": ["silver.s"],
        },
        {
            "name": "gold_a",
            "notebook": "notebooks/make.ipynb",
            "needs": ["silver_s"],
            "params": {"table": "gold.a"},
            "produces": ["gold.a"],
        },
        {
            "name": "gold_b",
            "notebook": "notebooks/copy.ipynb",
            "needs": ["gold_a"],
            "produces": ["gold.b"],
            "retries": 0,
            "checks": {"gold.b": [{"unique": "id"}, {"not_null": ["copied"]}]},
        },
    ]
    if hold:
        stages.append({"name": "hold", "notebook": "notebooks/hold.ipynb", "needs": ["gold_b"], "produces": []})
    spec = {"params": {"n": {"type": "int", "default": 3}, "fail": {"type": "int", "default": 0}}, "stages": stages}
    if publish_together is not None:
        spec["publish_together"] = publish_together
    make_workspace(root, {"p": spec})
    return Workspace(root)


def sizes(ws) -> dict[str, int]:
    return {t: query(ws, f"SELECT count(*) FROM {t}")[0][0] for t in ("silver.s", "gold.a", "gold.b")}


def staged_tables(ws) -> list[str]:
    return [
        r[0]
        for r in query(
            ws, f"SELECT table_name FROM information_schema.tables WHERE table_name LIKE '{PENDING_PREFIX}%'"
        )
    ]


def run(ws, capsys, **params):
    capsys.readouterr()
    result = run_pipeline(ws, "p", RunOptions(params=params), reporter=PlainReporter())
    return result, capsys.readouterr().out


def test_a_successful_run_publishes_the_group_its_stages_and_checks_read_its_builds(tmp_path, capsys):
    ws = workspace(tmp_path)
    first, out = run(ws, capsys, n="3")  # gold.a and gold.b are new: the checks of gold.b read its staged build
    assert first.exit_code == 0, out
    assert "published gold.a, gold.b together" in out
    assert sizes(ws) == {"silver.s": 3, "gold.a": 3, "gold.b": 3} and staged_tables(ws) == []

    second, out = run(ws, capsys, n="5")
    assert second.exit_code == 0 and sizes(ws) == {"silver.s": 5, "gold.a": 5, "gold.b": 5}
    store = open_store(ws)
    for table, stage in (("gold.a", "gold_a"), ("gold.b", "gold_b")):
        versions = store.table_versions(table)
        assert [(v.version, v.rows, v.stage, v.run_id, v.status) for v in versions] == [
            (1, 3, stage, first.run_id, "kept"),
            (2, 5, stage, second.run_id, "live"),
        ]
    lineage = store.table_sqls()["gold.b"]
    assert PENDING_PREFIX not in lineage.sql and list(lineage.sources) == ["gold.a"]  # the published names
    checks = {(c["table_name"], c["check_name"], c["status"]) for c in store.check_results(second.run_id)}
    assert checks == {("gold.b", "id is unique", "pass"), ("gold.b", "copied is not null", "pass")}


def test_a_failed_run_publishes_none_of_the_group(tmp_path, capsys):
    ws = workspace(tmp_path)
    run(ws, capsys, n="3")

    failed, out = run(ws, capsys, n="5", fail="1")  # gold.a and gold.b are built, then gold_b fails

    assert failed.exit_code == 1
    assert "not published: gold.a, gold.b (left as they were: the run failed, and gold publish together)" in out
    assert sizes(ws) == {"silver.s": 5, "gold.a": 3, "gold.b": 3}  # silver is not in the group
    assert staged_tables(ws) == []
    store = open_store(ws)
    assert [v.rows for v in store.table_versions("gold.a")] == [3]  # no version of what was never published
    assert store.latest_materialization("gold.a").run_id != failed.run_id
    assert store.unpublished_stages(failed.run_id) == {"gold_a", "gold_b"}  # --resume reruns them
    plan = run_pipeline(ws, "p", RunOptions(dry_run=True, params={"n": "5"})).plan
    assert plan["silver_s"] == "skip (unchanged)"
    assert plan["gold_a"] == f"run (its build of gold.a in run {failed.run_id} was never published)"

    fixed, _ = run(ws, capsys, n="5")
    assert fixed.exit_code == 0 and sizes(ws) == {"silver.s": 5, "gold.a": 5, "gold.b": 5}
    assert fixed.stages["silver_s"] == "skipped"


def test_resume_reruns_the_stages_whose_builds_were_not_published(tmp_path, capsys):
    ws = workspace(tmp_path)
    run(ws, capsys, n="3")
    failed, _ = run(ws, capsys, n="5", fail="1")
    capsys.readouterr()
    resumed = run_pipeline(ws, "p", RunOptions(resume=failed.run_id), reporter=PlainReporter())
    assert resumed.stages["gold_a"] == "success"  # it succeeded before, but its build was thrown away
    assert resumed.exit_code == 1 and sizes(ws)["gold.a"] == 3  # same parameters: gold_b fails again


def test_publish_together_can_be_turned_off(tmp_path, capsys):
    ws = workspace(tmp_path, publish_together=[])
    run(ws, capsys, n="3")
    failed, out = run(ws, capsys, n="5", fail="1")
    assert failed.exit_code == 1 and "published" not in out
    assert sizes(ws) == {"silver.s": 5, "gold.a": 5, "gold.b": 5}  # one by one, as each stage built it


def test_a_reader_during_the_run_and_after_a_kill_sees_the_last_published_gold(tmp_path, capsys):
    ws = workspace(tmp_path, hold=True)
    (tmp_path / "release").write_text("1")
    first, _ = run(ws, capsys, n="3")
    assert first.exit_code == 0
    (tmp_path / "release").unlink()
    (tmp_path / "holding").unlink()
    env = {**os.environ, "MILLPOND_WORKSPACE": str(tmp_path)}
    runner = subprocess.Popen(
        [MILLPOND, "run", "p", "-p", "n=5"],
        cwd=tmp_path,
        env=env,
        start_new_session=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 120
        while not (tmp_path / "holding").exists():
            assert runner.poll() is None and time.monotonic() < deadline, "the run ended before its last stage"
            time.sleep(0.05)
        built = {t: query(ws, f"SELECT count(*) FROM gold.{t}")[0][0] for t in staged_tables(ws)}
        assert sorted(built.values()) == [5, 5]  # gold_a and gold_b are built (staged) ...
        assert sizes(ws) == {"silver.s": 5, "gold.a": 3, "gold.b": 3}  # ... and readers see the old gold whole
    finally:
        os.killpg(runner.pid, signal.SIGKILL)
        runner.wait()
    assert sizes(ws) == {"silver.s": 5, "gold.a": 3, "gold.b": 3}  # the killed run changed no gold table

    (tmp_path / "release").write_text("1")
    next_run, out = run(ws, capsys, n="5")
    assert next_run.exit_code == 0, out
    assert next_run.stages["gold_a"] == "success" and next_run.stages["silver_s"] == "skipped"
    assert sizes(ws) == {"silver.s": 5, "gold.a": 5, "gold.b": 5} and staged_tables(ws) == []
    assert [v.rows for v in open_store(ws).table_versions("gold.b")] == [3, 5]


def test_publish_staged_swaps_every_table_or_none(con, tmp_path):
    store = MetadataStore(tmp_path / "meta.sqlite")
    store.start_run("r2", "p", {}, ["s"])
    for name in ("gold.a", "gold.b"):
        with keeping_versions(con, store, name, "table", retain=3) as plan:
            result = materialize(con, ibis.memtable({"id": [1, 2]}), name)
        record_version(con, store, result, plan, retain=3, run_id="r1")
    ids = lambda name: sorted(
        con.table(name.split(".")[1], database=name.split(".")[0])
        .to_pyarrow()["id"]  # noqa: E731
        .to_pylist()
    )

    def staged(name: str, rows: list[int]) -> StagedBuild:
        target = start_staged(con, name, "r2")
        assert ids(target) == [1, 2]  # starts as a copy of the live table
        built = materialize(con, ibis.memtable({"id": rows}), target)
        return StagedBuild(name, target, "table", built.rows, built.schema, None, 3, "s")

    builds = [staged("gold.a", [1, 2, 3]), staged("gold.b", [4])]
    con.drop_table(builds[1].staged.split(".")[1], database="gold")  # the second swap cannot happen
    with pytest.raises(Exception):  # noqa: B017 - the engine's own error for the missing table
        publish_staged(con, store, builds, run_id="r2")
    assert ids("gold.a") == [1, 2] and ids("gold.b") == [1, 2]  # the first swap was rolled back with it
    assert [v.version for v in store.table_versions("gold.a")] == [1]

    builds = [staged("gold.a", [1, 2, 3]), staged("gold.b", [4])]
    versions = publish_staged(con, store, builds, run_id="r2")
    assert ids("gold.a") == [1, 2, 3] and ids("gold.b") == [4]
    assert [(v.version, v.rows, v.run_id, v.stage) for v in versions] == [(2, 3, "r2", "s"), (2, 1, "r2", "s")]
    kept = store.table_versions("gold.a")[0]
    assert kept.status == "kept" and ids(kept.location) == [1, 2]
    assert not [t for t in con.list_tables(database="gold") if t.startswith(PENDING_PREFIX)]


def test_the_spec_loads_with_the_group(tmp_path):
    ws = workspace(tmp_path, publish_together=["gold", "silver.s"])
    assert load_pipeline(ws, "p").spec.publish_together == ["gold", "silver.s"]
