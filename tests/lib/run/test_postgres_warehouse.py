"""The same runner and stage API on a real PostgreSQL warehouse (any Ibis URL works)."""

from __future__ import annotations

import uuid

import ibis
import pytest

from millpond.run.runner import open_store, run_pipeline
from millpond.workspace import Workspace
from support.workspaces import make_workspace, write_notebook

PASSWORD = "pg-s3cret-value"


@pytest.fixture
def pg_workspace(tmp_path, postgres_server, monkeypatch):
    name = f"wh_{uuid.uuid4().hex[:12]}"
    url = postgres_server.fresh_database(name)
    port = url.split("@", 1)[1].split("/", 1)[0]
    monkeypatch.setenv("MILLPOND_TEST_PG_PASSWORD", PASSWORD)
    write_notebook(
        tmp_path / "notebooks/ingest.ipynb",
        "path = 'data/raw/x.csv'",
        "import millpond as mp\nctx = mp.stage()",
        "ctx.materialize(ctx.read_csv(path), 'bronze.x')",
    )
    write_notebook(
        tmp_path / "notebooks/copy.ipynb",
        "source = 'bronze.x'\ntable = 'silver.x'\nkind = 'table'",
        "import millpond as mp\nctx = mp.stage()",
        "ctx.materialize(ctx.table(source), table, kind=kind)",
    )
    (tmp_path / "data/raw").mkdir(parents=True)
    (tmp_path / "data/raw/x.csv").write_text("id,name\n1,a\n2,b\n3,\n")
    spec = {
        "stages": [
            {
                "name": "ingest",
                "notebook": "notebooks/ingest.ipynb",
                "reads": ["data/raw/x.csv"],
                "produces": ["bronze.x"],
            },
            {"name": "clean", "notebook": "notebooks/copy.ipynb", "needs": ["ingest"], "produces": ["silver.x"]},
            {
                "name": "view",
                "notebook": "notebooks/copy.ipynb",
                "needs": ["clean"],
                "params": {"source": "silver.x", "table": "gold.x", "kind": "view"},
                "produces": ["gold.x"],
            },
        ]
    }
    workspace = {
        "name": "pg",
        "warehouse": f"postgres://postgres:${{secret:pg_password}}@{port}/{name}",
        "secrets": {"pg_password": {"env": "MILLPOND_TEST_PG_PASSWORD"}},
    }
    make_workspace(tmp_path, {"p": spec}, workspace)
    yield Workspace(tmp_path), postgres_server.connect_kwargs(name)
    postgres_server.drop_database(name)


def test_pipeline_runs_on_postgres(pg_workspace):
    ws, kwargs = pg_workspace
    first = run_pipeline(ws, "p")
    assert first.exit_code == 0, open_store(ws).stage_runs(first.run_id)
    con = ibis.postgres.connect(**kwargs)
    try:
        x = con.table("x", database="gold")
        assert x.count().execute() == 3
        assert sorted(x.to_pyarrow()["id"].to_pylist()) == ["1", "2", "3"]  # bronze keeps CSV as text
    finally:
        con.disconnect()
    second = run_pipeline(ws, "p")
    assert {s["status"] for s in open_store(ws).stage_runs(second.run_id)} == {"skipped"}
    leaks = [p for p in ws.root.rglob("*") if p.is_file() and PASSWORD.encode() in p.read_bytes()]
    assert leaks == []
    assert PASSWORD not in ws.warehouse_url()


def test_lineage_on_postgres_reaches_the_raw_file(pg_workspace):
    """Issue 21.2: PostgreSQL gets the file through Arrow, yet lineage ends at the file, not at
    an in-memory table (the file is named in the workspace's own words: data/raw/x.csv)."""
    from millpond.lineage.columns import ColumnRef
    from millpond.lineage.workspace import workspace_lineage

    workspace, _ = pg_workspace
    assert run_pipeline(workspace, "p").exit_code == 0
    graph = workspace_lineage(workspace).graph
    assert graph.reads["bronze.x"] == {"file:data/raw/x.csv"}
    assert graph.origins(ColumnRef("gold.x", "name")) == {ColumnRef("file:data/raw/x.csv", "name")}
