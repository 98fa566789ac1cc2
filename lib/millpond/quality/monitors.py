"""Table profiles: the numbers recorded for a table after every build, in one query.

A profile is one aggregate query per table (a single scan, whatever the engine):

- ``row_count`` for the table (``column`` is ``""``);
- ``null_rate`` (share of rows that are NULL, ``None`` for an empty table) and
  ``distinct_count`` (distinct non-NULL values) for every profiled column;
- ``min``, ``max``, ``mean`` and ``stddev`` (sample standard deviation; ``None`` with
  fewer than two values) for numeric columns, mean and stddev computed in float64.

Profiled columns are numeric, boolean, string, temporal and UUID ones; nested,
binary, JSON, geospatial and unknown types are skipped (they have no cheap, portable
``COUNT(DISTINCT ...)``). The run side (:mod:`millpond.run.monitoring`) stores the
profile and compares it with the band of the recent runs (:mod:`millpond.quality.anomaly`).

Examples
--------
>>> import ibis, pyarrow as pa
>>> con = ibis.duckdb.connect()
>>> t = con.create_table("t", pa.table({"id": [1, 2, 3, None], "kind": ["a", "b", "a", "a"]}))
>>> for p in profile_table(t, "silver.t"):
...     print(p["column"] or "(table)", p["metric"], p["value"])
(table) row_count 4
id null_rate 0.25
id distinct_count 3
id min 1.0
id max 3.0
id mean 2.0
id stddev 1.0
kind null_rate 0.0
kind distinct_count 2
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from millpond.engines import ENGINES, engine_for

if TYPE_CHECKING:
    import ibis.expr.datatypes as dt
    import ibis.expr.types as ir

TABLE_METRICS = ("row_count",)
COLUMN_METRICS = ("null_rate", "distinct_count")
NUMERIC_METRICS = ("min", "max", "mean", "stddev")


def is_profiled(dtype: dt.DataType) -> bool:
    """Whether columns of ``dtype`` are profiled (see the module docstring).

    >>> import ibis.expr.datatypes as dt
    >>> [is_profiled(dt.dtype(t)) for t in ("int64", "decimal(18, 2)", "string", "date", "array<int64>", "binary")]
    [True, True, True, True, False, False]
    """
    return dtype.is_numeric() or dtype.is_boolean() or dtype.is_string() or dtype.is_temporal() or dtype.is_uuid()


def profile_columns(schema: Any) -> dict[str, bool]:
    """The profiled columns of an Ibis schema, each with whether it is numeric.

    >>> import ibis
    >>> profile_columns(ibis.schema({"id": "int64", "tags": "array<string>", "name": "string"}))
    {'id': True, 'name': False}
    """
    return {name: dtype.is_numeric() for name, dtype in schema.items() if is_profiled(dtype)}


def profile_query(table: ir.Table) -> tuple[ir.Table, list[tuple[str, str]]]:
    """The one-row aggregate of ``table`` and what each of its columns is.

    Result columns are named ``m0``, ``m1``, ... (any column name is safe that way);
    the list says which ``(column, measure)`` each one holds, where the measures are
    ``rows``, ``non_null``, ``distinct_count``, ``min``, ``max``, ``mean``, ``stddev``.

    >>> import ibis
    >>> query, measures = profile_query(ibis.table({"x": "float64"}, name="t"))
    >>> measures
    [('', 'rows'), ('x', 'non_null'), ('x', 'distinct_count'), ('x', 'min'), ('x', 'max'), ('x', 'mean'), ('x', 'stddev')]
    >>> query.columns[:3]
    ('m0', 'm1', 'm2')
    """
    measures: list[tuple[str, str]] = [("", "rows")]
    exprs = [table.count()]
    for name, numeric in profile_columns(table.schema()).items():
        col = table[name]
        measures += [(name, "non_null"), (name, "distinct_count")]
        exprs += [col.count(), col.nunique()]
        if numeric:
            as_float = col.cast("float64")
            measures += [(name, "min"), (name, "max"), (name, "mean"), (name, "stddev")]
            exprs += [col.min(), col.max(), as_float.mean(), as_float.std(how="sample")]
    return table.aggregate([e.name(f"m{i}") for i, e in enumerate(exprs)]), measures


def profile_values(row: dict[str, Any], measures: list[tuple[str, str]], table_name: str) -> list[dict[str, Any]]:
    """Profile values (dicts for ``record_profile``) from the one result row of :func:`profile_query`.

    >>> profile_values({"m0": 0, "m1": 0, "m2": 0}, [("", "rows"), ("x", "non_null"), ("x", "distinct_count")], "t")
    ... # doctest: +NORMALIZE_WHITESPACE
    [{'table': 't', 'column': '', 'metric': 'row_count', 'value': 0},
     {'table': 't', 'column': 'x', 'metric': 'null_rate', 'value': None},
     {'table': 't', 'column': 'x', 'metric': 'distinct_count', 'value': 0}]
    """
    results = [row[f"m{i}"] for i in range(len(measures))]
    rows = int(results[0] or 0)
    values = []
    for (column, measure), result in zip(measures, results):
        if measure == "rows":
            metric, value = "row_count", rows
        elif measure == "non_null":
            metric, value = "null_rate", (rows - int(result)) / rows if rows else None
        else:
            metric, value = (
                measure,
                None if result is None else (int(result) if measure == "distinct_count" else float(result)),
            )
        values.append({"table": table_name, "column": column, "metric": metric, "value": value})
    return values


def profile_table(table: ir.Table, table_name: str) -> list[dict[str, Any]]:
    """Profile ``table`` in one query; ``table_name`` (``layer.table``) labels the values.

    Returns dicts with ``table``, ``column`` (``""`` for ``row_count``), ``metric``, ``value``,
    ready for :meth:`~millpond.store.metadata.MetadataStore.record_profile`.

    A stored table on DuckDB or PostgreSQL is profiled with the same aggregate written
    directly as SQL (:func:`profile_sql`): a wide table's Ibis expression costs more to build
    and compile (30 ms and up) than the query takes to run.
    """
    direct = profile_sql(table)
    if direct is not None:
        backend, sql, measures = direct
        (values,) = engine_for(backend).fetch(sql)
        return profile_values({f"m{i}": v for i, v in enumerate(values)}, measures, table_name)
    query, measures = profile_query(table)
    (row,) = query.to_pyarrow().to_pylist()
    return profile_values(row, measures, table_name)


def profile_sql(table: ir.Table) -> tuple[Any, str, list[tuple[str, str]]] | None:
    """``(backend, sql, measures)``: :func:`profile_query`'s aggregate as SQL text, for a table
    stored on DuckDB or PostgreSQL; ``None`` for anything else (an expression, another engine).

    >>> import ibis
    >>> con = ibis.duckdb.connect()
    >>> t = con.create_table("t", ibis.memtable({"x": [1.5, None]}))
    >>> print(profile_sql(t)[1])
    SELECT COUNT(*) AS m0, COUNT("x") AS m1, COUNT(DISTINCT "x") AS m2, MIN("x") AS m3, MAX("x") AS m4, AVG(CAST("x" AS DOUBLE)) AS m5, STDDEV_SAMP(CAST("x" AS DOUBLE)) AS m6 FROM "memory"."main"."t"
    """
    import ibis.expr.operations as ops
    import sqlglot as sg
    import sqlglot.expressions as sge

    op = table.op()

    if (
        not isinstance(op, ops.DatabaseTable)
        or getattr(op.source, "name", None) not in ENGINES
        or not engine_for(op.source).profiles_in_one_query
    ):
        return None
    database = op.namespace.database
    catalog, database = database if isinstance(database, tuple) else (op.namespace.catalog, database)
    measures: list[tuple[str, str]] = [("", "rows")]
    exprs: list[sge.Expression] = [sge.Count(this=sge.Star())]
    for name, numeric in profile_columns(op.schema).items():
        column = sg.column(name, quoted=True)
        measures += [(name, "non_null"), (name, "distinct_count")]
        exprs += [sge.Count(this=column), sge.Count(this=sge.Distinct(expressions=[column]))]
        if numeric:
            as_float = sge.Cast(this=column, to=sge.DataType.build("double"))
            measures += [(name, "min"), (name, "max"), (name, "mean"), (name, "stddev")]
            exprs += [sge.Min(this=column), sge.Max(this=column), sge.Avg(this=as_float), sge.StddevSamp(this=as_float)]
    source = sg.table(op.name, db=database, catalog=catalog, quoted=True)
    query = sg.select(*(e.as_(f"m{i}") for i, e in enumerate(exprs))).from_(source)
    return op.source, query.sql(op.source.name), measures
