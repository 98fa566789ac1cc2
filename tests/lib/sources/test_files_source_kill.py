"""A ``files`` load SIGKILLed at random points: the next load is exact, nothing doubled or left.

Each cycle changes the folder (a new file, one file rewritten), starts a load in a child
process (``ctx.load`` as JupyterLab would call it), kills it after a random delay, checks
that no file's rows are doubled or mixed, then loads to completion and holds the table and
the state against the files (their lines, ``hashlib``), with no staging table left behind.
"""

from __future__ import annotations

import hashlib
import json
import random
import signal

import duckdb
import pytest

from support.loads import load_in_child
from support.workspaces import make_workspace

pytestmark = pytest.mark.slow

ROWS, CYCLES = 40_000, 14


def _write(root, name: str, version: int) -> None:
    lines = "".join(f"{i},v{version}-{i}\n" for i in range(ROWS))
    (root / "data/in" / name).write_text("id,name\n" + lines)


def _query(root, sql: str) -> list:
    with duckdb.connect(str(root / "data/warehouse.duckdb"), read_only=True) as db:
        return db.sql(sql).fetchall()


def test_killed_loads_are_redone_never_doubled(tmp_path):
    spec = {
        "sources": {"orders": {"kind": "files", "target": "bronze.orders", "options": {"path": "data/in/*.csv"}}},
        "stages": [{"name": "ingest", "notebook": "notebooks/ingest.ipynb", "produces": ["bronze.orders"]}],
    }
    make_workspace(tmp_path, {"shop": spec})
    (tmp_path / "data/in").mkdir(parents=True)
    rng = random.Random(20261204)
    versions: dict[str, int] = {}
    killed = 0
    for cycle in range(CYCLES):
        versions[f"f{cycle:02d}.csv"] = cycle  # a new file
        if cycle > 1:
            versions[rng.choice(sorted(versions))] = 100 + cycle  # one rewritten
        for name, version in versions.items():
            if not (tmp_path / "data/in" / name).exists() or version >= 100 and version == 100 + cycle:
                _write(tmp_path, name, version)
        killed += load_in_child(tmp_path, "orders", rng.uniform(0.3, 3.0)) == -signal.SIGKILL
        if (tmp_path / "data/warehouse.duckdb").exists() and _query(
            tmp_path, "SELECT count(*) FROM information_schema.tables WHERE table_name = 'orders'"
        ) == [(1,)]:
            # whatever the kill interrupted: no file's rows twice, no file with two versions' rows
            assert _query(tmp_path, "SELECT count(*) - count(DISTINCT (_source_file, id)) FROM bronze.orders") == [(0,)]
            mixed = "SELECT count(*) FROM (SELECT _source_file FROM bronze.orders GROUP BY 1 HAVING count(DISTINCT split_part(name, '-', 1)) > 1)"
            assert _query(tmp_path, mixed) == [(0,)]
        load_in_child(tmp_path, "orders")
        expected = sorted((f"data/in/{n}", ROWS, f"v{v}") for n, v in versions.items())
        got = _query(
            tmp_path,
            "SELECT _source_file, count(*), min(split_part(name, '-', 1)) FROM bronze.orders GROUP BY 1 ORDER BY 1",
        )
        assert got == expected, cycle
        state = dict(_query(tmp_path, "SELECT item, state FROM _millpond.load_state WHERE source = 'orders'"))
        for name in versions:
            data = (tmp_path / "data/in" / name).read_bytes()
            assert json.loads(state[f"data/in/{name}"]) == {
                "size": len(data),
                "sha256": hashlib.sha256(data).hexdigest(),
            }
        leftovers = "SELECT count(*) FROM information_schema.tables WHERE table_name LIKE '_mp_tmp_%'"
        assert _query(tmp_path, leftovers) == [(0,)]
    assert killed >= CYCLES // 2  # most loads were interrupted, not finished before the kill
