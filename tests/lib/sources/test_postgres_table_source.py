"""The ``postgres_table`` source against a real PostgreSQL server (the session's throwaway one).

The warehouse is the embedded DuckDB; the source is a table of a fresh database, changed
with psycopg by the tests. Expected rows are read from the source database itself.
Includes the late-commit interleaving of dlt-hub/dlt#2269: a row whose cursor value was
taken before a larger one committed, itself committed after a load read the larger one.
"""

from __future__ import annotations

import io
import uuid
from decimal import Decimal

import psycopg
import pytest

from millpond.cli import main
from millpond.run.progress import PlainReporter
from millpond.run.runner import RunOptions, open_store, run_pipeline
from millpond.warehouse.connect import connect
from millpond.warehouse.sql import fetch
from millpond.workspace import Workspace
from support.workspaces import make_workspace, write_notebook

pytestmark = pytest.mark.postgres

PASSWORD = "src-s3cret-pw-9f2"
TABLE = """
CREATE TABLE public.customers (
    id integer PRIMARY KEY,
    name text,
    balance numeric(12, 2),
    seen timestamptz,
    updated_at timestamp NOT NULL DEFAULT clock_timestamp()
)
"""


@pytest.fixture
def source_db(postgres_server):
    name = f"src_{uuid.uuid4().hex[:12]}"
    url = postgres_server.fresh_database(name)
    with psycopg.connect(url.replace("postgres://", "postgresql://"), autocommit=True) as db:
        db.execute(TABLE)
    return url


def _workspace(root, url: str, **options) -> Workspace:
    write_notebook(root / "notebooks/ingest.ipynb", "", "import millpond as mp\nctx = mp.stage()", "ctx.load('crm')")
    source = {
        "kind": "postgres_table",
        "target": "bronze.customers",
        "options": {"url": url, "table": "public.customers", "primary_key": ["id"], **options},
        "secrets": {"password": "secret:crm_password"},
    }
    spec = {
        "sources": {"crm": source},
        "stages": [{"name": "ingest", "notebook": "notebooks/ingest.ipynb", "produces": ["bronze.customers"]}],
    }
    make_workspace(root, {"crm": spec}, {"name": "t", "secrets": {"crm_password": {"env": "CRM_PASSWORD"}}})
    return Workspace(root)


def _run(ws: Workspace) -> None:
    result = run_pipeline(ws, "crm", RunOptions(force=True), reporter=PlainReporter(io.StringIO()))
    assert result.exit_code == 0, [s["error"] for s in open_store(ws).stage_runs(result.run_id)]


def _source(
    url: str, sql: str = "SELECT id, name, balance, extract(epoch FROM seen)::float8 FROM public.customers ORDER BY id"
) -> list:
    with psycopg.connect(url.replace("postgres://", "postgresql://")) as db:
        return [tuple(r) for r in db.execute(sql).fetchall()]


def _target(ws: Workspace) -> list:
    con = connect(ws)
    try:
        sql = "SELECT id, name, balance, CAST(epoch(seen) AS DOUBLE) FROM bronze.customers ORDER BY id"
        return [tuple(r) for r in fetch(con, sql)]
    finally:
        con.disconnect()


def _execute(url: str, *statements: str) -> None:
    with psycopg.connect(url.replace("postgres://", "postgresql://"), autocommit=True) as db:
        for sql in statements:
            db.execute(sql)


@pytest.fixture(autouse=True)
def _password(monkeypatch):
    monkeypatch.setenv("CRM_PASSWORD", PASSWORD)


def test_a_whole_table_is_mirrored_exactly(tmp_path, source_db):
    _execute(
        source_db,
        "INSERT INTO public.customers (id, name, balance, seen) VALUES "
        "(1, 'Zoë', 12.50, '2024-01-02 03:04:05+02'), (2, NULL, NULL, NULL), (3, '東京', -0.01, '2024-06-01 00:00:00+00')",
    )
    ws = _workspace(tmp_path, source_db)
    _run(ws)
    got, want = _target(ws), _source(source_db)
    assert got == want and got[0][2] == Decimal("12.50")  # exact decimals, the same instants, NULLs, unicode
    con = connect(ws)
    try:
        types = dict(
            fetch(con, "SELECT column_name, data_type FROM information_schema.columns WHERE table_name = 'customers'")
        )
    finally:
        con.disconnect()
    assert types["balance"] == "DECIMAL(12,2)" and types["seen"] == "TIMESTAMP WITH TIME ZONE"
    _execute(
        source_db, "DELETE FROM public.customers WHERE id = 2", "UPDATE public.customers SET name = 'Zoe' WHERE id = 1"
    )
    _run(ws)
    assert [r[:2] for r in _target(ws)] == [r[:2] for r in _source(source_db)] == [(1, "Zoe"), (3, "東京")]


def test_a_cursor_with_a_lookback_catches_a_row_committed_late(tmp_path, source_db):
    """dlt-hub/dlt#2269: T1 takes its updated_at, T2 takes a later one and commits, a load reads
    T2's row (the cursor moves past T1's), then T1 commits. The lookback reads it next time."""
    _execute(source_db, "INSERT INTO public.customers (id, name) VALUES (1, 'a')")
    ws = _workspace(tmp_path, source_db, cursor="updated_at", lookback="1h")
    _run(ws)
    url = source_db.replace("postgres://", "postgresql://")
    with psycopg.connect(url) as late, psycopg.connect(url, autocommit=True) as early:
        late.execute("INSERT INTO public.customers (id, name) VALUES (2, 'late')")  # its updated_at is taken now
        early.execute("INSERT INTO public.customers (id, name) VALUES (3, 'early')")  # later, committed first
        _run(ws)
        assert [r[0] for r in _target(ws)] == [1, 3]  # 2 is not committed: invisible
        late.commit()
    (t2,), (t3,) = _source(source_db, "SELECT updated_at FROM public.customers WHERE id IN (2, 3) ORDER BY id")
    assert t2 < t3  # the late row's cursor is below what the load already read
    _run(ws)
    assert [r[:2] for r in _target(ws)] == [(1, "a"), (2, "late"), (3, "early")]
    _execute(source_db, "UPDATE public.customers SET name = 'A', updated_at = clock_timestamp() WHERE id = 1")
    _run(ws)
    assert [r[:2] for r in _target(ws)] == [(1, "A"), (2, "late"), (3, "early")]  # merged, never doubled


def test_without_a_lookback_the_late_row_is_missed(tmp_path, source_db):
    """The same interleaving with no lookback: the row committed late is never read (the
    reason the lookback exists; `--full-refresh` recovers it)."""
    _execute(source_db, "INSERT INTO public.customers (id, name) VALUES (1, 'a')")
    ws = _workspace(tmp_path, source_db, cursor="updated_at")
    _run(ws)
    url = source_db.replace("postgres://", "postgresql://")
    with psycopg.connect(url) as late, psycopg.connect(url, autocommit=True) as early:
        late.execute("INSERT INTO public.customers (id, name) VALUES (2, 'late')")
        early.execute("INSERT INTO public.customers (id, name) VALUES (3, 'early')")
        _run(ws)
        late.commit()
    _run(ws)
    assert [r[0] for r in _target(ws)] == [1, 3]
    result = run_pipeline(
        ws, "crm", RunOptions(full_refresh=["bronze.customers"]), reporter=PlainReporter(io.StringIO())
    )
    assert result.exit_code == 0
    assert [r[0] for r in _target(ws)] == [1, 2, 3]


def test_the_password_is_never_written_nor_shown(tmp_path, source_db, capsys):
    _execute(source_db, "INSERT INTO public.customers (id, name) VALUES (1, 'a')")
    ws = _workspace(tmp_path, source_db)
    _run(ws)
    written = [p for p in tmp_path.rglob("*") if p.is_file()]
    assert written and not [p for p in written if PASSWORD.encode() in p.read_bytes()]
    # a failing read says where, in one line, with the password masked
    spec = ws.root / "pipelines/crm.yml"
    spec.write_text(spec.read_text().replace("public.customers", "public.nothing"))
    assert main(["run", "crm", "-C", str(ws.root), "--plain"]) == 1
    out = capsys.readouterr()
    shown = out.out + out.err
    assert "source crm: cannot read" in shown and "nothing" in shown and PASSWORD not in shown
    assert "Traceback" not in shown
    assert not [p for p in tmp_path.rglob("*") if p.is_file() and PASSWORD.encode() in p.read_bytes()]
