"""The ``postgres_table`` source: a table of a PostgreSQL server, read as Arrow (ADBC), loaded
whole or by a cursor column.

Without ``cursor`` every load reads the whole table and the target follows it by
``primary_key``: changed rows replace theirs, new ones are added, rows gone from the
source go (a merge that propagates deletes). With ``cursor`` (a column that grows with each
change: an ``updated_at``, a sequence) a load reads the rows whose cursor is at or after
the largest one loaded **less** ``lookback``, and merges them on ``primary_key``. The
lookback is what catches a row committed late: a transaction that took its cursor value
before another one committed a larger value is not visible when that larger value is
read, and a load without a lookback would never read it (dlt-hub/dlt#2269); rows read
twice in the overlap replace themselves. The largest cursor loaded is the source's state,
committed with the rows.

Declared as::

    sources:
      crm_customers:
        kind: postgres_table
        target: bronze.crm_customers
        options: {url: "postgresql://loader@db.internal/crm", table: public.customers,
                  primary_key: [customer_id], cursor: updated_at, lookback: 10m}
        secrets: {password: secret:crm_password}

The password comes from a secret reference and joins the URL only in the connection;
it is never written, and every error names the URL with ``***`` where it would be.

>>> PostgresTableOptions.model_validate({"url": "postgresql://h/db", "table": "s.t", "primary_key": ["id"]}).lookback
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import ibis
import pyarrow as pa
import pyarrow.compute as pc
from pydantic import BaseModel, ConfigDict, Field, field_validator

from millpond.engines import shown_url
from millpond.engines.postgres_arrow import connection_url, is_server_url, read_arrow
from millpond.errors import MillpondError
from millpond.sources.registry import LoadPlan, Source, register_source
from millpond.warehouse.incremental import Incremental, parse_lookback

if TYPE_CHECKING:
    from ibis.backends import BaseBackend

NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_$]*$")
LOADED_AT = "_loaded_at"


class ServerTableOptions(BaseModel):
    """What every source of a PostgreSQL table declares: the server, the table and its key."""

    model_config = ConfigDict(extra="forbid")

    url: str = Field(description="libpq URL of the database, without its password")
    password: str | None = Field(default=None, description="from a secret reference (secrets: {password: ...})")
    table: str = Field(description="the table, schema.table or table")
    primary_key: list[str] = Field(min_length=1, description="the key rows are merged on")

    @field_validator("url")
    @classmethod
    def _url(cls, value: str) -> str:
        if not is_server_url(value):
            raise ValueError(f"{shown_url(value)} is not a PostgreSQL URL (postgresql://user@host:port/database)")
        return value

    @field_validator("table")
    @classmethod
    def _table(cls, value: str) -> str:
        if not all(NAME.match(part) for part in value.split(".")) or value.count(".") > 1:
            raise ValueError(f"{value!r} is not a table name (table or schema.table)")
        return value

    @field_validator("primary_key")
    @classmethod
    def _key(cls, value: list[str]) -> list[str]:
        for name in value:
            if not NAME.match(name):
                raise ValueError(f"{name!r} is not a column name")
        return value


class PostgresTableOptions(ServerTableOptions):
    """The options of a ``postgres_table`` source."""

    columns: list[str] | None = Field(default=None, description="the columns to read (default: all)")
    cursor: str | None = Field(default=None, description="a column that grows with each change; none: whole loads")
    lookback: str | int | None = Field(default=None, description="how far behind the cursor to read again, e.g. 10m")

    @field_validator("columns")
    @classmethod
    def _columns(cls, value: list[str] | None) -> list[str] | None:
        for name in value or []:
            if not NAME.match(name):
                raise ValueError(f"{name!r} is not a column name")
        return value

    @field_validator("cursor")
    @classmethod
    def _cursor(cls, value: str | None) -> str | None:
        if value is not None and not NAME.match(value):
            raise ValueError(f"{value!r} is not a column name")
        return value

    @field_validator("lookback")
    @classmethod
    def _lookback(cls, value: str | int | None) -> str | int | None:
        try:
            parse_lookback(value)
        except MillpondError as exc:
            raise ValueError(str(exc)) from None
        return value


def _ident(name: str) -> str:
    return ".".join('"' + part + '"' for part in name.split("."))


def _literal(value: Any) -> str:
    """A cursor value as a SQL literal (it comes from the state as JSON: a number or a time)."""
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise MillpondError(f"cursor value {value!r} in the load state is neither a number nor a time")
    if isinstance(value, (int, float)):
        return repr(value)
    moment = dt.datetime.fromisoformat(value)  # refuses anything but a time
    kind = "TIMESTAMPTZ" if moment.tzinfo else "TIMESTAMP"
    return f"{kind} '{moment.isoformat(sep=' ')}'"


def _json_value(value: Any) -> Any:
    return value.isoformat() if isinstance(value, (dt.datetime, dt.date)) else value


@register_source
class PostgresTableSource(Source):
    """A PostgreSQL table; see the module docstring."""

    kind = "postgres_table"
    Options = PostgresTableOptions
    options: PostgresTableOptions

    def connection_url(self) -> str:
        """The URL with the password in it: for a connection only, never to show or write."""
        return self._uri()

    def failure(self, what: str, exc: Exception) -> MillpondError:
        """One line saying ``what`` failed on this source, the password masked."""
        return self._fail(what, exc)

    def _uri(self) -> str:
        return connection_url(self.options.url, self.options.password)

    def _fail(self, what: str, exc: Exception) -> MillpondError:
        message = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        if self.options.password:
            message = message.replace(self.options.password, "***")
        return MillpondError(f"source {self.name}: {what} {shown_url(self.options.url)}: {message}")

    def query(self, state: dict[str, dict[str, Any]]) -> str:
        """The SELECT this load runs, given the state."""
        columns = "*" if self.options.columns is None else ", ".join(_ident(c) for c in self.options.columns)
        sql = f"SELECT {columns} FROM {_ident(self.options.table)}"
        last = state.get("cursor", {}).get("max")
        if self.options.cursor is not None and last is not None:
            bound = _literal(last)
            lookback = parse_lookback(self.options.lookback)
            if isinstance(lookback, dt.timedelta):
                bound = f"({bound} - INTERVAL '{int(lookback.total_seconds())} seconds')"
            elif lookback:
                bound = f"({bound} - {lookback!r})"
            sql += f" WHERE {_ident(self.options.cursor)} >= {bound}"
        return sql

    def read(self, sql: str) -> pa.Table:
        """The rows of ``sql`` as an Arrow table, read by ADBC's PostgreSQL driver."""
        try:
            return read_arrow(self._uri(), sql, self.options.table)
        except Exception as exc:  # the driver's errors: one line, the password masked
            raise self._fail("cannot read", exc) from None

    def plan(self, con: BaseBackend, state: dict[str, dict[str, Any]], *, loaded_at: dt.datetime) -> LoadPlan:
        keys: Sequence[str] = self.options.primary_key
        read = self.read(self.query(state))
        missing = [
            c for c in [*keys, *([self.options.cursor] if self.options.cursor else [])] if c not in read.column_names
        ]
        if missing:
            raise MillpondError(f"source {self.name}: {self.options.table} has no column {', '.join(missing)}")
        stamped = read.append_column(LOADED_AT, pa.array([loaded_at] * read.num_rows, type=pa.timestamp("us")))
        whole = self.options.cursor is None
        merge = Incremental.of("merge", unique_key=list(keys), propagate_deletes=whole)
        counts = {"rows read": read.num_rows}
        if not whole and read.num_rows == 0:
            return LoadPlan(None, merge, {}, counts=counts)
        items: dict[str, dict[str, Any]] = {}
        if not whole:
            top = pc.max(read.column(self.options.cursor)).as_py()  # type: ignore[arg-type]
            items["cursor"] = {"max": _json_value(top)}
        return LoadPlan(ibis.memtable(stamped), merge, items, counts=counts)
