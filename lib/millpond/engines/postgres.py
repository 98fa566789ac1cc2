"""The PostgreSQL engine: a server, through Ibis's ``postgres`` backend (psycopg 3)."""

from __future__ import annotations

import functools
import re
import secrets
from typing import TYPE_CHECKING

from millpond.engines.base import Compacted, Engine, Waste, short_name

if TYPE_CHECKING:
    import ibis.expr.types as ir

SNAPSHOT_SCHEMA = "_mp_versions"
"""Snapshots live in a schema of their own (names are short on PostgreSQL)."""


class PostgresEngine(Engine):
    """PostgreSQL (``con.con`` is the psycopg connection); views bind to tables, so a swap
    drops and recreates the views reading the swapped table."""

    name = dialect = "postgres"
    schemes = ("postgres", "postgresql")
    plan_statement = "EXPLAIN (ANALYZE, BUFFERS)"
    caches_compiles = profiles_in_one_query = True

    def drop_statement(self, kind: str, schema: str, table: str) -> str:
        return f"{super().drop_statement(kind, schema, table)} CASCADE"

    def fetch(self, sql: str) -> list[tuple]:
        with self.con.con.cursor() as cur:
            cur.execute(sql)
            return list(cur.fetchall())

    def run_in_transaction(self, statements: list[str], verify=None) -> None:
        raw = self.con.con
        with raw.transaction(), raw.cursor() as cur:
            for sql in statements:
                cur.execute(sql)
            if verify is not None:
                verify(lambda sql: cur.execute(sql).fetchone()[0])

    def dependent_views(self, schema: str, table: str) -> list[tuple[str, str, str, str]]:
        target = f"'{self.quote(schema, table)}'::regclass"
        sql = f"""
            WITH RECURSIVE deps(oid, depth) AS (
                SELECT r.ev_class, 1 FROM pg_depend d JOIN pg_rewrite r ON d.objid = r.oid
                WHERE d.refobjid = {target} AND r.ev_class <> {target}
                UNION
                SELECT r.ev_class, deps.depth + 1 FROM deps
                JOIN pg_depend d ON d.refobjid = deps.oid JOIN pg_rewrite r ON d.objid = r.oid
                WHERE r.ev_class <> deps.oid AND deps.depth < 50
            )
            SELECT n.nspname, c.relname, c.relkind, pg_get_viewdef(c.oid, true), max(deps.depth) AS depth
            FROM deps JOIN pg_class c ON c.oid = deps.oid JOIN pg_namespace n ON n.oid = c.relnamespace
            GROUP BY n.nspname, c.relname, c.relkind, c.oid ORDER BY depth, n.nspname, c.relname"""
        return [(s, n, k, d) for s, n, k, d, _ in self.fetch(sql)]

    def table_sizes(self, names: list[str]) -> dict[str, int]:
        """``pg_total_relation_size`` of each table or materialized view among ``names``."""
        wanted = set(names)
        rows = self.fetch(
            "SELECT n.nspname, c.relname, pg_total_relation_size(c.oid) FROM pg_class c"
            " JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.relkind IN ('r', 'm', 'p')"
        )
        return {f"{s}.{t}": int(b) for s, t, b in rows if f"{s}.{t}" in wanted}

    def snapshot_location(self, schema: str, table: str, version: int | None) -> tuple[str, str]:
        return SNAPSHOT_SCHEMA, short_name(f"{schema}__{table}__") + f"v{version or 0}_{secrets.token_hex(2)}"

    def snapshot_pattern(self, schema: str, table: str) -> tuple[str, re.Pattern]:
        return SNAPSHOT_SCHEMA, re.compile(re.escape(short_name(f"{schema}__{table}__")) + r"v\d+_[0-9a-f]{4}")

    def content_hash_sql(self, schema: str, table: str) -> str:
        return (
            f"SELECT count(*), sum(('x' || substr(md5(_mp_row::text), 1, 16))::bit(64)::bigint)"
            f" FROM {self.quote(schema, table)} AS _mp_row"
        )

    def measure_waste(self):
        total, dead = self.fetch(
            "SELECT coalesce(sum(n_live_tup + n_dead_tup), 0), coalesce(sum(n_dead_tup), 0) FROM pg_stat_user_tables"
        )[0]
        return Waste(int(total), int(dead), "rows")

    def compact(self) -> Compacted:
        """``VACUUM (ANALYZE)``: dead rows of incremental deletes become reusable (a dropped
        table's files are given back at once); sizes are the database's, in bytes."""
        raw = self.con.con
        autocommit = raw.autocommit
        raw.autocommit = True  # VACUUM cannot run inside a transaction
        try:
            with raw.cursor() as cur:
                cur.execute("SELECT pg_database_size(current_database())")
                before = cur.fetchone()[0]
                cur.execute("SELECT count(*) FROM pg_stat_user_tables")
                tables = cur.fetchone()[0]
                cur.execute("VACUUM (ANALYZE)")
                cur.execute("SELECT pg_database_size(current_database())")
                after = cur.fetchone()[0]
        finally:
            raw.autocommit = autocommit
        return Compacted(int(before), int(after), int(tables))

    def converts_back(self, value: ir.Column, target) -> ir.BooleanValue:
        """PostgreSQL has no ``TRY_CAST``: a small function in schema ``_millpond`` tries the cast."""
        self.run_in_transaction(["CREATE SCHEMA IF NOT EXISTS _millpond", _CONVERTS_BACK])
        spell = lambda dtype: self.con.compiler.type_mapper.to_string(dtype.copy(nullable=True))  # noqa: E731
        return _converts_back_udf()(value.cast("string"), spell(target), spell(value.type()))


_CONVERTS_BACK = """
CREATE OR REPLACE FUNCTION _millpond.converts_back(value text, target text, source text) RETURNS boolean
LANGUAGE plpgsql STABLE AS $$
DECLARE ok boolean;
BEGIN
  IF value IS NULL THEN RETURN true; END IF;
  EXECUTE format('SELECT (%L::%s)::%s = %L::%s', value, target, source, value, source) INTO ok;
  RETURN coalesce(ok, false);
EXCEPTION WHEN others THEN RETURN false;
END $$
"""


@functools.cache
def _converts_back_udf():
    """``_millpond.converts_back(value, target, source)`` as an Ibis function (see ``_CONVERTS_BACK``)."""
    import ibis

    @ibis.udf.scalar.builtin(name="converts_back", database="_millpond")
    def converts_back(value: str, target: str, source: str) -> bool:
        """Whether ``value`` converts to ``target`` and back to ``source`` unchanged."""

    return converts_back
