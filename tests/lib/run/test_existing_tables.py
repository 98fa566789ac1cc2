"""Which warehouse tables exist: answered from a cache while the DuckDB file is unchanged."""

from __future__ import annotations

import json

import duckdb

from millpond.run.products import existing_tables
from millpond.workspace import Workspace
from support.workspaces import make_workspace


def test_the_cache_answers_until_the_file_changes(tmp_path):
    ws = Workspace(make_workspace(tmp_path, {}))
    assert existing_tables(ws) == set()  # no warehouse file yet
    db = ws.warehouse_file()
    db.parent.mkdir(parents=True, exist_ok=True)
    con = duckdb.connect(str(db))
    con.execute("CREATE SCHEMA gold; CREATE TABLE gold.a AS SELECT 1 AS x; CREATE TABLE gold.b AS SELECT 2 AS y")
    con.close()
    assert existing_tables(ws) == {"gold.a", "gold.b"}
    cache = ws.meta_dir / "warehouse_tables.json"
    assert json.loads(cache.read_text())["tables"] == ["gold.a", "gold.b"]

    # a cached answer is used as long as the file is the same: prove it by editing the cache
    cache.write_text(json.dumps({**json.loads(cache.read_text()), "tables": ["gold.a"]}))
    assert existing_tables(ws) == {"gold.a"}

    # a dropped table changes the file (or its write-ahead log): asked again
    con = duckdb.connect(str(db))
    con.execute("DROP TABLE gold.a")
    con.close()
    assert existing_tables(ws) == {"gold.b"}
    assert json.loads(cache.read_text())["tables"] == ["gold.b"]
