"""``millpond quarantine TABLE --replay``: held rows re-processed after a fix, never duplicated."""

from __future__ import annotations

import re

import duckdb
import pytest

from millpond.cli import main
from millpond.run.runner import RunOptions, open_store, run_pipeline
from millpond.workspace import Workspace
from support.workspaces import COPY_TABLE, make_workspace, write_notebook

# bronze: ten readings x = 1..10, one of them (x = 4) sent twice
INGEST = (
    "import millpond as mp, ibis\nctx = mp.stage()",
    "ctx.materialize(ibis.memtable({'x': [1, 2, 3, 4, 4, 5, 6, 7, 8, 9, 10]}), 'bronze.readings')",
)
# silver keeps readings up to `limit` (the rule that gets fixed), one row per x
CLEAN = (
    "import millpond as mp, ibis\nfrom millpond.quality.quarantine import quarantine_table\nctx = mp.stage()",
    "raw = ctx.table('bronze.readings')\n"
    "ranked = raw.mutate(n=ibis.row_number().over(group_by='x', order_by='x'))\n"
    "reason = ibis.cases((ranked.n > 0, 'duplicate'), (ranked.x > LIMIT, 'too_large'), else_=None)\n"
    "classified = ranked.mutate(reason=reason).drop('n')",
    "ctx.materialize(classified.filter(classified.reason.isnull()).drop('reason'), 'silver.readings')\n"
    "held = classified.filter(classified.reason.notnull())\n"
    "ctx.materialize(quarantine_table(held, run_id=ctx.run_id, at=ctx.started_at), 'quarantine.readings')",
)


def _write_clean(root, limit: int) -> None:
    cells = [c.replace("LIMIT", str(limit)) for c in CLEAN]
    write_notebook(root / "notebooks/clean.ipynb", "", *cells)


@pytest.fixture
def workspace(tmp_path) -> Workspace:
    write_notebook(tmp_path / "notebooks/ingest.ipynb", "", *INGEST)
    _write_clean(tmp_path, limit=5)
    write_notebook(
        tmp_path / "notebooks/copy.ipynb", "source = 'silver.readings'\ntable = 'gold.readings'", *COPY_TABLE
    )
    spec = {
        "stages": [
            {"name": "ingest", "notebook": "notebooks/ingest.ipynb", "produces": ["bronze.readings"]},
            {
                "name": "clean",
                "notebook": "notebooks/clean.ipynb",
                "needs": ["ingest"],
                "produces": ["silver.readings", "quarantine.readings"],
            },
            {"name": "publish", "notebook": "notebooks/copy.ipynb", "needs": ["clean"], "produces": ["gold.readings"]},
        ]
    }
    make_workspace(tmp_path, {"sensors": spec})
    return Workspace(tmp_path)


def _tables(ws: Workspace) -> dict[str, list]:
    with duckdb.connect(str(ws.warehouse_file()), read_only=True) as db:
        return {
            t: sorted(db.sql(f"SELECT {'x' if t != 'quarantine.readings' else 'x, reason'} FROM {t}").fetchall())
            for t in ("bronze.readings", "silver.readings", "quarantine.readings", "gold.readings")
        }


def test_replay_after_a_fix_releases_rows_once_and_keeps_the_rest(workspace, capsys):
    # rule x <= 5: x = 6..10 and the second x = 4 are held
    assert run_pipeline(workspace, "sensors", RunOptions()).status == "success"
    before = _tables(workspace)
    assert [r[0] for r in before["silver.readings"]] == [1, 2, 3, 4, 5]
    assert len(before["quarantine.readings"]) == 6

    _write_clean(workspace.root, limit=8)  # the fix
    code = main(["quarantine", "readings", "--replay", "-C", str(workspace.root), "--plain"])
    out = capsys.readouterr().out
    assert code == 0, out
    # 6, 7, 8 released; 9, 10 and the duplicate 4 still held
    assert re.search(r"replayed 6 held rows through clean \(run \S+\): 3 released, 3 still held, 0 newly held", out), (
        out
    )
    assert "held now by reason: duplicate 1, too_large 2" in out
    after = _tables(workspace)
    assert [r[0] for r in after["silver.readings"]] == [1, 2, 3, 4, 5, 6, 7, 8]
    assert after["quarantine.readings"] == [(4, "duplicate"), (9, "too_large"), (10, "too_large")]
    # downstream was rebuilt from the released rows, and nothing was counted twice
    assert after["gold.readings"] == after["silver.readings"]
    assert len(after["bronze.readings"]) == len(after["silver.readings"]) + len(after["quarantine.readings"])

    # replaying again changes nothing: no row is duplicated
    assert main(["quarantine", "readings", "--replay", "-C", str(workspace.root), "--plain"]) == 0
    assert "0 released, 3 still held, 0 newly held" in capsys.readouterr().out
    assert _tables(workspace) == after
    # the replays are ordinary runs of the stage and its downstream, in history
    runs = open_store(workspace).runs()
    assert [r["counts"].get("success", 0) for r in runs[:2]] == [2, 2]


def test_a_failing_replay_leaves_the_previous_tables(workspace, capsys):
    assert run_pipeline(workspace, "sensors", RunOptions()).status == "success"
    before = _tables(workspace)
    write_notebook(workspace.root / "notebooks/clean.ipynb", "", "raise ValueError('bad fix')")
    assert main(["quarantine", "readings", "--replay", "-C", str(workspace.root), "--plain"]) == 1
    assert "the previous tables are unchanged (6 rows still held)" in capsys.readouterr().out
    assert _tables(workspace) == before


def test_replay_of_a_table_nothing_produces_is_one_line(workspace, capsys):
    assert main(["quarantine", "nothing", "--replay", "-C", str(workspace.root)]) == 2
    err = capsys.readouterr().err
    assert err.strip() == "error: no stage of any pipeline in pipelines produces quarantine.nothing; nothing to replay"
