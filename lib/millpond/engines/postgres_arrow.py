"""A PostgreSQL server's rows as Arrow, read by ADBC's PostgreSQL driver: what the
``postgres_table`` source and federation (:mod:`millpond.sources`) use to reach a source's
server (not the warehouse: that is :mod:`millpond.engines.postgres`).

>>> connection_url("postgres://loader@db:5432/crm", "p@ss")
'postgresql://loader:p%40ss@db:5432/crm'
>>> is_server_url("postgresql://db/crm"), is_server_url("mysql://db/crm")
(True, False)
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from urllib.parse import quote as url_quote

import adbc_driver_postgresql.dbapi as adbc
import pyarrow as pa

_SCHEME = re.compile(r"^postgres(ql)?://")


def is_server_url(url: str) -> bool:
    """Whether ``url`` names a PostgreSQL server (``postgres://`` or ``postgresql://``)."""
    return bool(_SCHEME.match(url))


def connection_url(url: str, password: str | None) -> str:
    """``url`` as libpq takes it, with ``password`` in it: for a connection only, never to show."""
    url = _SCHEME.sub("postgresql://", url, count=1)
    if password is None:
        return url
    return re.sub(
        r"^postgresql://([^@/:]*)(?::[^@/]*)?@",
        lambda m: f"postgresql://{m[1]}:{url_quote(password, safe='')}@",
        url,
        count=1,
    )


def read_arrow(url: str, sql: str, table: str, session: Sequence[str] = ()) -> pa.Table:
    """The rows of ``sql`` on the server at ``url`` (with its password), as Arrow; the columns of
    ``table`` (``schema.table``) that are ``numeric(p, s)`` come as exact ``decimal(p, s)``.
    ``session`` are statements run first (``SET TimeZone = 'UTC'``: how values print as text)."""
    schema, _, name = table.rpartition(".")
    numeric = (
        "SELECT column_name, numeric_precision, numeric_scale FROM information_schema.columns"
        f" WHERE table_schema = '{schema or 'public'}' AND table_name = '{name}' AND data_type = 'numeric'"
    )
    with adbc.connect(url) as conn, conn.cursor() as cur:
        for statement in session:
            cur.execute(statement)
        cur.execute(numeric)
        scales = {r[0]: (r[1], r[2]) for r in cur.fetchall()}
        cur.execute(sql)
        return _plain_types(cur.fetch_arrow_table(), scales)


def _plain_types(table: pa.Table, numeric: dict[str, tuple[int | None, int | None]]) -> pa.Table:
    """The driver's opaque columns as plain Arrow: ``numeric(p, s)`` as ``decimal128(p, s)`` (exact),
    any other (an unconstrained numeric, a type Arrow has no match for) as its text."""
    for index, name in enumerate(table.column_names):
        column = table.column(index)
        if not isinstance(column.type, pa.BaseExtensionType):
            continue
        text = pa.chunked_array([chunk.storage for chunk in column.chunks], type=column.type.storage_type)
        precision, scale = numeric.get(name, (None, None))
        if precision is not None and precision <= 38:
            text = text.cast(pa.decimal128(precision, scale or 0))
        table = table.set_column(index, name, text)
    return table
