"""Federation: join a live table of a source's PostgreSQL server with warehouse tables,
without copying the table.

:func:`remote_table` is an Ibis table on the source's live table, on its own server. Filter
it and select columns there: :func:`bring` runs that expression on the source's server (so
the filters and projections are PostgreSQL's to apply: only the rows and columns asked for
travel), as Arrow, and returns it as an in-memory table any warehouse expression can join,
with what moved (rows, bytes, the SQL sent). No DuckDB extension is involved (the offline
warehouse has no ``postgres_scanner``); nothing is stored.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

import ibis

from millpond.errors import MillpondError
from millpond.sources.postgres_table import PostgresTableSource

if TYPE_CHECKING:
    import ibis.expr.types as ir


@dataclass
class Moved:
    """What :func:`bring` moved from a source's server into the warehouse's process."""

    source: str
    sql: str
    rows: int
    bytes: int
    seconds: float

    def __str__(self) -> str:
        return f"brought {self.rows:,} rows ({self.bytes / 1e3:,.1f} kB) from {self.source} in {self.seconds:.2f} s"


def remote_table(source: PostgresTableSource) -> ir.Table:
    """The live table of ``source`` as an Ibis table on its own server (nothing read yet)."""
    schema, _, table = source.options.table.rpartition(".")
    try:
        backend = ibis.connect(source.connection_url())
        return backend.table(table, database=schema or None)
    except Exception as exc:  # the driver's word, one line, the password masked
        raise source.failure("cannot open", exc) from None


def bring(source: PostgresTableSource, expr: ir.Table) -> tuple[ir.Table, Moved]:
    """Run ``expr`` (built on :func:`remote_table`) on the source's server; its rows as an
    in-memory table, and what moved."""
    try:
        sql = str(ibis.to_sql(expr))
    except Exception as exc:
        raise MillpondError(f"source {source.name}: the expression cannot run on its server: {exc}") from None
    started = time.perf_counter()
    try:
        data = expr.to_pyarrow()
    except Exception as exc:
        raise source.failure("cannot read", exc) from None
    moved = Moved(source.name, sql, data.num_rows, data.nbytes, time.perf_counter() - started)
    return ibis.memtable(data), moved
