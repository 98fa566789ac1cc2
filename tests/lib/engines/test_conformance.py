"""Engine conformance: every operation of the engine protocol, on every engine.

DuckDB in memory, a real PostgreSQL server and PySpark on a local Spark Connect server.
Expected values are written by hand from the rows each test creates; where an engine
cannot do a thing by design (Spark has no multi-statement transaction), the test says
so through the engine's declared capability instead of skipping.
"""

from __future__ import annotations

import uuid

import ibis
import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.parquet as pq
import pytest

from millpond.engines import ENGINES, Engine, engine_for
from millpond.engines.base import Waste
from support.spark import spark_connection

ALL = [
    pytest.param("duckdb", id="duckdb"),
    pytest.param("postgres", id="postgres", marks=pytest.mark.postgres),
    pytest.param("pyspark", id="pyspark", marks=pytest.mark.spark),
]


@pytest.fixture(scope="module")
def spark_con(tmp_path_factory):
    with spark_connection(tmp_path_factory.mktemp("conformance") / "workspace") as (_, con):
        yield con


@pytest.fixture(params=ALL)
def engine(request) -> Engine:
    if request.param == "pyspark":
        return engine_for(request.getfixturevalue("spark_con"))
    return engine_for(request.getfixturevalue("pg_con" if request.param == "postgres" else "duckdb_con"))


@pytest.fixture
def schema(engine) -> str:
    """A schema of the test's own (Spark's warehouse outlives a test)."""
    name = f"conf_{uuid.uuid4().hex[:8]}"
    engine.run_in_transaction([f"CREATE SCHEMA IF NOT EXISTS {engine.quote(name)}"])
    return name


def ids(engine: Engine, sql: str) -> list:
    return sorted(row[0] for row in engine.fetch(sql))


def test_every_registered_engine_is_tested():
    assert sorted(ENGINES) == sorted(p.values[0] for p in ALL)


def test_quote_fetch_and_transactions(engine, schema):
    table = engine.quote(schema, "select")  # a reserved word: quoted or it fails
    engine.run_in_transaction([f"CREATE TABLE {table} AS SELECT 1 AS id", f"INSERT INTO {table} SELECT 2 AS id"])
    assert ids(engine, f"SELECT id FROM {table}") == [1, 2]
    statements = [f"INSERT INTO {table} SELECT 3 AS id", "SELECT * FROM no_such_table_anywhere"]
    with pytest.raises(Exception):  # noqa: B017 - each engine's own error
        engine.run_in_transaction(statements)
    assert ids(engine, f"SELECT id FROM {table}") == ([1, 2] if engine.transactional else [1, 2, 3])


def test_verify_runs_before_the_commit_and_can_roll_back(engine, schema):
    table = engine.quote(schema, "t")
    engine.run_in_transaction([f"CREATE TABLE {table} AS SELECT 1 AS id"])
    seen = []

    def verify(fetch_one):
        seen.append(fetch_one(f"SELECT count(*) FROM {table}"))
        raise ValueError("refused")

    with pytest.raises(ValueError, match="refused"):
        engine.run_in_transaction([f"INSERT INTO {table} SELECT 2 AS id"], verify)
    assert seen == [2]  # it saw the insert
    assert ids(engine, f"SELECT id FROM {table}") == ([1] if engine.transactional else [1, 2])


def test_catalog_kinds_names_and_drops(engine, schema):
    engine.run_in_transaction(
        [
            f"CREATE TABLE {engine.quote(schema, 't_a')} AS SELECT 1 AS id",
            f"CREATE VIEW {engine.quote(schema, 'v_a')} AS SELECT id FROM {engine.quote(schema, 't_a')}",
        ]
    )
    assert (engine.existing_kind(schema, "t_a"), engine.existing_kind(schema, "v_a")) == ("table", "view")
    assert engine.existing_kind(schema, "nope") is None
    assert engine.table_names(schema, "t_%") == ["t_a"]
    engine.run_in_transaction(
        [
            engine.drop_statement("view", schema, "v_a"),
            engine.drop_statement("table", schema, "t_a"),
            engine.drop_statement("table", schema, "never_was"),
        ]
    )
    assert engine.existing_kind(schema, "t_a") is None and engine.existing_kind(schema, "v_a") is None


def test_describe_maybe_table_and_create_table_as(engine, schema):
    built = engine.create_table_as("t", ibis.memtable({"id": [1, 2], "name": ["a", None]}), schema)
    assert dict(built.schema().items()) == {"id": ibis.dtype("int64"), "name": ibis.dtype("string")}
    described = engine.describe("t", schema)
    assert described.schema() == built.schema()
    assert sorted(described.to_pyarrow().to_pylist(), key=repr) == [{"id": 1, "name": "a"}, {"id": 2, "name": None}]
    assert engine.maybe_table("t", schema).count().execute() == 2
    assert engine.maybe_table("missing", schema) is None
    copy = engine.create_table_as("t2", described.filter(described.id > 1), schema)
    assert copy.to_pyarrow().to_pylist() == [{"id": 2, "name": None}]


def test_read_files_reads_csv_with_every_value_as_text(engine, tmp_path):
    path = tmp_path / "a.csv"
    path.write_text("id,amount\n1,2.50\n2,three\n")
    import pyarrow.csv as pacsv

    arrow = lambda: pacsv.read_csv(
        path,
        convert_options=pacsv.ConvertOptions(  # noqa: E731
            column_types={"id": pa.string(), "amount": pa.string()}
        ),
    )
    table = engine.read_files("csv", [path], {"all_varchar": True, "header": True}, arrow)
    assert sorted(table.to_pyarrow().to_pylist(), key=repr) == [
        {"id": "1", "amount": "2.50"},
        {"id": "2", "amount": "three"},
    ]


def test_read_raw_files_keeps_malformed_rows_with_their_file_and_line(engine, tmp_path):
    (tmp_path / "a.csv").write_bytes(b"id,name\n1,ann\n2,bob,extra\n")
    (tmp_path / "b.csv").write_bytes(b"id,name\n3,\n")
    table = engine.read_raw_files([tmp_path / "a.csv", tmp_path / "b.csv"], filename=True)
    rows = sorted(
        (
            (r["id"], r["name"], r["_source_line"], r["_load_error"], r["filename"][-5:])
            for r in table.to_pyarrow().to_pylist()
        ),
        key=repr,
    )
    assert rows == sorted(
        [
            ("1", "ann", None, None, "a.csv"),
            (None, None, 3, "expected 2 fields, found 3", "a.csv"),
            ("3", None, None, None, "b.csv"),
        ],
        key=repr,
    )


def test_snapshot_names_match_their_pattern(engine):
    where, name = engine.snapshot_location("gold", "fct_orders", 7)
    pattern_schema, pattern = engine.snapshot_pattern("gold", "fct_orders")
    assert where == pattern_schema and pattern.fullmatch(name) and len(name) <= 63
    other_schema, other = engine.snapshot_pattern("gold", "fct_order")
    assert not (other_schema == where and other.fullmatch(name))  # a table's snapshots only


def test_content_hash_ignores_row_order_and_sees_any_change(engine, schema):
    rows = {
        "a": "SELECT 1 AS id, 'x' AS v UNION ALL SELECT 2, 'y'",
        "b": "SELECT 2 AS id, 'y' AS v UNION ALL SELECT 1, 'x'",
        "c": "SELECT 1 AS id, 'x' AS v UNION ALL SELECT 2, 'z'",
    }
    engine.run_in_transaction([f"CREATE TABLE {engine.quote(schema, n)} AS {sql}" for n, sql in rows.items()])
    totals = {n: engine.fetch(engine.content_hash_sql(schema, n))[0] for n in rows}
    assert totals["a"] == totals["b"] != totals["c"] and totals["a"][0] == 2


def test_query_plan_is_text(engine, schema):
    built = engine.create_table_as("t", ibis.memtable({"id": [1, 2, 3]}), schema)
    plan = engine.query_plan(built.filter(built.id > 1).count().as_table())
    assert isinstance(plan, str) and len(plan.splitlines()) >= 2
    # measured where the engine measures: each engine's own words for a measured plan or estimate
    marker = {"duckdb": "Total Time", "postgres": "actual time=", "pyspark": "Statistics("}[engine.name]
    assert marker in plan, plan[:500]


def test_measure_waste(engine):
    waste = engine.measure_waste()
    assert isinstance(waste, Waste) and 0.0 <= waste.ratio <= 1.0


def test_converts_back(engine, schema):
    built = engine.create_table_as("t", ibis.memtable({"i": [0, 1, 2, 3], "v": ["1", "1.5", "007", "x"]}), schema)
    fits = built.mutate(fits=engine.converts_back(built.v, ibis.dtype("int64"))).order_by("i")
    assert fits.fits.to_pyarrow().to_pylist() == [True, False, False, False]


def test_views_bound_to_a_swapped_table_are_recreated(engine, schema):
    engine.run_in_transaction(
        [
            f"CREATE TABLE {engine.quote(schema, 't')} AS SELECT 1 AS id",
            f"CREATE TABLE {engine.quote(schema, 'next')} AS SELECT 2 AS id",
            f"CREATE VIEW {engine.quote(schema, 'v')} AS SELECT id FROM {engine.quote(schema, 't')}",
        ]
    )
    views = engine.dependent_views(schema, "t")
    engine.run_in_transaction(
        [
            engine.drop_statement("table", schema, "t"),
            f"ALTER TABLE {engine.quote(schema, 'next')} RENAME TO {engine.quote('t')}",
            *engine.recreate_views(views),
        ]
    )
    assert ids(engine, f"SELECT id FROM {engine.quote(schema, 'v')}") == [2]  # bound by name, or recreated


def test_arrow_datasets_and_parquet_folders(engine, tmp_path):
    folder = tmp_path / "lake"
    folder.mkdir()
    pq.write_table(pa.table({"id": [1, 2, 3]}), folder / "part-0.parquet")
    dataset = ds.dataset(folder, format="parquet")
    table = engine.from_arrow_dataset(dataset, ds.field("id") > 1)
    assert sorted(table.filter(table.id > 1).id.to_pyarrow().to_pylist()) == [2, 3]
    native = engine.read_parquet_folder(folder, ibis.schema({"id": "int64"}), [])
    assert native is None or sorted(native.id.to_pyarrow().to_pylist()) == [1, 2, 3]


def test_table_sizes(engine, schema):
    engine.run_in_transaction([f"CREATE TABLE {engine.quote(schema, 't')} AS SELECT 1 AS id"])
    sizes = engine.table_sizes([f"{schema}.t", f"{schema}.missing"])
    assert set(sizes) <= {f"{schema}.t"} and all(size > 0 for size in sizes.values())
