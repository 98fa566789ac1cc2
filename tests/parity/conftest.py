"""The backend-parity suite: the same inputs through the same code on DuckDB and PostgreSQL.

A parity test loads its inputs (Arrow tables) into both warehouses with
``engines.load(...)``, builds a result on each with ``engines.same(build)`` and gets
back the rows, after asserting that both engines returned the same schema and the same
rows, compared exactly and regardless of order:

- decimals as their text, so ``1.50`` and ``1.5`` differ (the scale is part of a value);
- timestamps with a time zone converted to UTC; naive ones as they are;
- NULL as ``None`` (never NaN), floats compared exactly.

The rows come back sorted so that a test can also check them against values worked out
by hand.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import ibis
import ibis.expr.types as ir
import pyarrow as pa
import pytest


def plain(value: Any) -> Any:
    """One value as compared: decimals as text (keeping their scale), aware times in UTC."""
    if isinstance(value, Decimal):
        return ("decimal", str(value))
    if isinstance(value, dt.datetime) and value.tzinfo is not None:
        return value.astimezone(dt.timezone.utc)
    if isinstance(value, list):
        return tuple(plain(v) for v in value)
    if isinstance(value, dict):
        return tuple((k, plain(v)) for k, v in value.items())
    return value


def _sort_key(row: tuple) -> tuple:
    return tuple((v is None, str(v)) for v in row)


class Engines:
    """A DuckDB and a PostgreSQL warehouse holding the same inputs."""

    def __init__(self, duckdb_con: ibis.BaseBackend, pg_con: ibis.BaseBackend):
        self.cons = {"duckdb": duckdb_con, "postgres": pg_con}
        self.tables: dict[str, dict[str, ir.Table]] = {"duckdb": {}, "postgres": {}}

    def load(self, **inputs: pa.Table) -> None:
        """Create each input as a table of that name on both engines."""
        for engine, con in self.cons.items():
            for name, data in inputs.items():
                self.tables[engine][name] = con.create_table(name, ibis.memtable(data), overwrite=True)

    def same(self, build: Callable[..., ir.Table]) -> list[tuple]:
        """Run ``build(con, tables)`` on both engines; assert the same schema and rows; return the rows."""
        results, schemas = {}, {}
        for engine, con in self.cons.items():
            expr = build(con, self.tables[engine])
            arrow = con.to_pyarrow(expr)
            schemas[engine] = expr.schema()
            results[engine] = [tuple(plain(r[c]) for c in arrow.column_names) for r in arrow.to_pylist()]
        assert schemas["duckdb"] == schemas["postgres"], "the engines disagree on the schema"
        duck, pg = Counter(results["duckdb"]), Counter(results["postgres"])
        assert duck == pg, (
            f"only on DuckDB: {sorted(duck - pg, key=_sort_key)}; "
            f"only on PostgreSQL: {sorted(pg - duck, key=_sort_key)}"
        )
        return sorted(results["duckdb"], key=_sort_key)


@pytest.fixture
def engines(duckdb_con: ibis.BaseBackend, pg_con: ibis.BaseBackend) -> Engines:
    return Engines(duckdb_con, pg_con)
