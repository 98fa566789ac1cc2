"""What every warehouse engine provides: the protocol of :mod:`millpond.engines`.

:class:`Engine` wraps one Ibis backend connection. The defaults here are standard SQL
(``information_schema``, ``DROP ... IF EXISTS``, ``ALTER TABLE ... RENAME``); an engine
overrides what its backend does otherwise. The conformance suite
(``tests/lib/engines/test_conformance.py``) runs every operation on every engine.
"""

from __future__ import annotations

import functools
import hashlib
import re
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol
from urllib.parse import urlsplit

from millpond.engines.file_origins import from_files, kind_of
from millpond.errors import MillpondError

if TYPE_CHECKING:
    from collections.abc import Callable

    import ibis.expr.types as ir
    from ibis.backends import BaseBackend

SNAPSHOT_PREFIX = "_mp_v_"
MB = 1024 * 1024


@dataclass
class Waste:
    """How much of a warehouse is free space."""

    total_bytes: int
    free_bytes: int
    unit: str = "bytes"
    """``bytes`` (DuckDB blocks) or ``rows`` (PostgreSQL live and dead rows)."""

    @property
    def ratio(self) -> float:
        return self.free_bytes / self.total_bytes if self.total_bytes else 0.0

    def __str__(self) -> str:
        if self.unit == "rows":
            return f"{self.free_bytes:,} dead rows of {self.total_bytes:,} ({self.ratio:.0%})"
        return f"{self.free_bytes / MB:.1f} MB free of {self.total_bytes / MB:.1f} MB ({self.ratio:.0%})"


@dataclass
class Compacted:
    """What a compaction did."""

    before: int
    after: int
    tables: int

    def __str__(self) -> str:
        return f"compacted the warehouse: {self.before / MB:.1f} MB -> {self.after / MB:.1f} MB ({self.tables} tables)"


class WorkspaceView(Protocol):
    """What an engine reads of a workspace (:class:`millpond.workspace.Workspace` is one;
    the engine layer sits below it and never imports it)."""

    root: Path
    meta_dir: Path
    spec: Any

    def path(self, relative: str | Path) -> Path: ...
    def relative(self, path: Path) -> str: ...
    def warehouse_url(self, *, resolve_secrets: bool = False) -> str: ...
    def secret_env(self) -> dict[str, str]: ...


def sql_literal(value: Any) -> str:
    """A Python value as a SQL literal (strings quoted, lists as ``[...]``).

    >>> sql_literal(["a'b", 1, True])
    "['a''b', 1, true]"
    """
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(sql_literal(v) for v in value) + "]"
    return "'" + str(value).replace("'", "''") + "'"


class Engine:
    """One warehouse backend's way of doing what millpond needs."""

    name: str = ""
    dialect: str = ""
    """The sqlglot dialect its SQL is written in."""
    transactional: bool = True
    """Whether :meth:`run_in_transaction` is atomic (all statements or none)."""
    reads_raw_files: bool = False
    """Whether :meth:`read_files` reads CSV, JSON and Parquet itself (else Arrow reads them)."""
    caches_compiles: bool = False
    """Whether compiled SQL may be cached across processes (:mod:`millpond.warehouse.compile_cache`)."""
    plan_statement: str = "EXPLAIN"
    """How :meth:`query_plan` asks for the plan (shown in the ``--profile`` title)."""
    profiles_in_one_query: bool = False
    """Whether a table's profile is one aggregate query (:func:`millpond.quality.monitors.profile_query`)."""

    schemes: tuple[str, ...] = ()
    """The warehouse URL schemes it answers (``engines.register``)."""
    resource_defaults: dict[str, str] = {}
    """What each ``resources:`` setting falls back to when unset (shown by ``millpond run``)."""
    warm_modules: tuple[str, ...] = ()
    """Modules a stage kernel on this engine imports anyway (the warm kernels preload them)."""
    companion_suffixes: tuple[str, ...] = ()
    """Files beside a warehouse file that the engine writes too (``.wal``: a write-ahead log)."""
    connect_before_run: bool = True
    """Whether a run connects once before deciding anything, so that a server that does not
    answer fails it in one line (not for a file, nor a server the run starts itself)."""
    cannot_compact: str = ""
    """Why ``millpond compact`` has nothing to do here (empty: it has)."""

    def __init__(self, con: BaseBackend):
        self.con = con

    # -- where the warehouse is: class level, before any connection -----------------------
    @classmethod
    def absolute_url(cls, url: str, root: Path) -> str:
        """``url`` with what it names relative to the workspace ``root`` made absolute."""
        return url

    @classmethod
    def database_file(cls, url: str) -> Path | None:
        """The one file that holds the warehouse (an embedded engine), else ``None``."""
        return None

    @classmethod
    def identity(cls, url: str) -> str:
        """Which warehouse an (absolute) ``url`` names, with no credentials and no options:
        every URL of one warehouse gives one identity, and the metadata store keeps one
        history per identity (:mod:`millpond.project`).

        >>> from millpond.engines import engine_class
        >>> engine_class("postgresql://x").identity("postgresql://me:s3cret@db.example:5433/shop?sslmode=require")
        'postgres://db.example:5433/shop'
        >>> engine_class("postgres://x").identity("postgres://me:${secret:pg}@localhost/shop")
        'postgres://localhost/shop'
        """
        try:
            parts = urlsplit(url)
            host = parts.hostname or ""
            port = f":{parts.port}" if parts.port else ""
        except ValueError:  # a malformed port: keep what follows the credentials
            host, port = url.split("://", 1)[-1].rpartition("@")[2].split("/")[0], ""
            parts = urlsplit(url.split("?")[0])
        return f"{cls.name}://{host}{port}{parts.path}"

    @classmethod
    def open(cls, url: str, workspace: WorkspaceView) -> BaseBackend:
        """An Ibis backend on ``url`` (secrets already expanded: never show it)."""
        import ibis

        return ibis.connect(url)

    @classmethod
    def prepare_run(cls, workspace: WorkspaceView, say: Callable[[str], None]) -> None:
        """Before a run's first stage: start what the stages' kernels will connect to."""

    @classmethod
    def server_action(cls, workspace: WorkspaceView, action: str) -> str:
        """``millpond server status|start|stop``: the engine's server that millpond runs."""
        scheme = workspace.warehouse_url().split("://")[0]
        raise MillpondError(f"the warehouse ({scheme}://) has no server that millpond starts or stops")

    @classmethod
    def scratch(cls) -> BaseBackend:
        """A private in-memory backend (the warm kernels exercise Ibis on one)."""
        raise MillpondError(f"the {cls.name} engine has no in-memory database")

    # -- a database file (embedded engines, where :meth:`database_file` is not None) --------
    @classmethod
    def file_tables(cls, path: Path) -> set[str]:
        """``{"schema.table", ...}`` of the file, opened read-only (the caller holds the lease)."""
        raise NotImplementedError

    @classmethod
    def file_table_sizes(cls, path: Path, names: list[str]) -> dict[str, int]:
        """Bytes of each table among ``names`` in the file, opened read-only."""
        return {}

    @classmethod
    def file_waste(cls, path: Path) -> Waste:
        """:meth:`measure_waste` of the file, opened read-only."""
        return Waste(0, 0)

    @classmethod
    def compact_file(cls, path: Path) -> Compacted:
        """Rewrite the file without its free space (the caller holds the lease)."""
        raise MillpondError(f"the {cls.name} engine cannot compact its file")

    # -- SQL text ------------------------------------------------------------------------
    def quote(self, *parts: str) -> str:
        """``"schema"."table"`` in this engine's dialect."""
        return _quote(self.dialect, parts)

    def drop_statement(self, kind: str, schema: str, table: str) -> str:
        """``DROP TABLE|VIEW IF EXISTS schema.table`` (with what the engine needs to drop dependants)."""
        return f"DROP {kind.upper()} IF EXISTS {self.quote(schema, table)}"

    # -- running SQL ---------------------------------------------------------------------
    def fetch(self, sql: str) -> list[tuple]:
        """The rows of ``sql``."""
        with self.con.raw_sql(sql) as cur:
            return list(cur.fetchall())

    def run_in_transaction(self, statements: list[str], verify=None) -> None:
        """Run ``statements`` as one transaction; ``verify(fetch_one)`` runs before the commit
        (``fetch_one(sql)`` is the first value of ``sql``) and rolls everything back by raising."""
        raise NotImplementedError

    # -- the catalog ---------------------------------------------------------------------
    def existing_kind(self, schema: str, table: str) -> str | None:
        """``"table"``, ``"view"`` or ``None``."""
        rows = self.fetch(
            "SELECT table_type FROM information_schema.tables "
            f"WHERE table_schema = '{schema}' AND table_name = '{table}'"
        )
        if not rows:
            return None
        return "view" if "VIEW" in str(rows[0][0]).upper() else "table"

    def table_names(self, schema: str, like: str) -> list[str]:
        """Names of the tables in ``schema`` matching the SQL pattern ``like``."""
        return [
            r[0]
            for r in self.fetch(
                "SELECT table_name FROM information_schema.tables "
                f"WHERE table_schema = '{schema}' AND table_name LIKE '{like}'"
            )
        ]

    def describe(self, table: str, schema: str) -> ir.Table:
        """The Ibis table ``schema.table`` (raises the backend's error when it is missing)."""
        return self.con.table(table, database=schema)

    def maybe_table(self, table: str, schema: str) -> ir.Table | None:
        """The Ibis table ``schema.table``, or ``None`` when there is none."""
        return self.describe(table, schema) if self.existing_kind(schema, table) else None

    def dependent_views(self, schema: str, table: str) -> list[tuple[str, str, str, str]]:
        """Views a swap of ``schema.table`` drops and must recreate, as ``(schema, name,
        relkind, definition)``; none where views bind by name."""
        return []

    def recreate_views(self, views: list[tuple[str, str, str, str]]) -> list[str]:
        """The statements that recreate :meth:`dependent_views` after a swap."""
        return [
            f"CREATE {'MATERIALIZED VIEW' if kind == 'm' else 'VIEW'} {self.quote(s, n)} AS "
            f"{definition.rstrip().rstrip(';')}"
            for s, n, kind, definition in views
        ]

    def table_sizes(self, names: list[str]) -> dict[str, int]:
        """Bytes of each table among ``names`` (empty where the engine cannot tell)."""
        return {}

    # -- building ------------------------------------------------------------------------
    def create_table_as(self, name: str, expr: ir.Table, database: str) -> ir.Table:
        """Create ``database.name`` holding ``expr``'s rows and return it."""
        return self.con.create_table(name, expr, database=database)

    def stage_arrow(self, table, name: str, database: str) -> tuple[str, list[str], Callable[[], None]]:
        """Rows of an Arrow ``table`` readable by SQL on this connection until a transaction uses
        them: ``(what SQL reads them by, statements that drop them in that transaction, what to
        call after it)``. Here a staging table ``database.name``, which the transaction drops
        (one a kill leaves is the caller's to drop); an engine that can read Arrow in place
        needs no table."""
        import ibis

        self.create_table_as(name, ibis.memtable(table), database)
        return self.quote(database, name), [f"DROP TABLE {self.quote(database, name)}"], lambda: None

    def read_files(self, kind: str, paths: list[Path], options: dict[str, Any], arrow) -> ir.Table:
        """Raw ``csv``/``parquet``/``json`` files as a table; ``arrow()`` reads them with Arrow."""
        import ibis

        return from_files(ibis.memtable(arrow()), kind, paths)

    def read_raw_files(self, paths: list[Path], *, filename: bool = False, expected=None, json_schema=None) -> ir.Table:
        """Raw files of one format as one table, typed as :mod:`millpond.warehouse.raw_files`
        says (CSV all text, malformed rows kept); where the engine has no readers of its own
        (``reads_raw_files`` false), Arrow reads them into a memtable."""
        import ibis
        import pyarrow as pa

        from millpond.engines.raw_arrow import read_any_arrow

        tables = [read_any_arrow(p, expected, json_schema) for p in paths]
        if filename:
            tables = [
                t.append_column("filename", pa.array([str(p)] * t.num_rows, pa.string()))
                for t, p in zip(tables, paths, strict=True)
            ]
        table = ibis.memtable(pa.concat_tables(tables, promote_options="default") if len(tables) > 1 else tables[0])
        return from_files(table, kind_of(paths[0]), paths)

    def from_arrow_dataset(self, dataset, arrow_filter) -> ir.Table:
        """A table of a pyarrow ``dataset`` (``arrow_filter``: the filter to apply when read eagerly)."""
        import ibis

        return ibis.memtable(dataset.to_table(filter=arrow_filter))

    def read_parquet_folder(self, folder: Path, schema, partition_by: list[str]) -> ir.Table | None:
        """The Parquet files under ``folder`` (hive-partitioned by ``partition_by``) read by the
        engine itself, lazily, as ``schema``; ``None`` where it cannot (Arrow reads them then)."""
        return None

    # -- versions ------------------------------------------------------------------------
    def snapshot_location(self, schema: str, table: str, version: int | None) -> tuple[str, str]:
        """A fresh ``(schema, name)`` for a snapshot of ``schema.table`` holding ``version``."""
        return schema, f"{SNAPSHOT_PREFIX}{table}__v{version or 0}_{secrets.token_hex(2)}"

    def snapshot_pattern(self, schema: str, table: str) -> tuple[str, re.Pattern]:
        """The schema and name pattern of every snapshot of ``schema.table``."""
        return schema, re.compile(re.escape(f"{SNAPSHOT_PREFIX}{table}__") + r"v\d+_[0-9a-f]{4}")

    def content_hash_sql(self, schema: str, table: str) -> str:
        """``SELECT count, sum of one 64-bit hash per row`` of ``schema.table``."""
        raise NotImplementedError

    # -- looking inside ------------------------------------------------------------------
    def query_plan(self, expr: ir.Table) -> str:
        """The plan of ``expr``, measured where the engine can."""
        import ibis

        return "\n".join(
            str(r[0]) for r in self.fetch(f"{self.plan_statement} {ibis.to_sql(expr, dialect=self.dialect)}")
        )

    def measure_waste(self) -> Waste:
        """How much of the warehouse is reclaimable."""
        return Waste(0, 0)

    def compact(self) -> Compacted:
        """Give back the warehouse's free space (a server engine; files: :meth:`compact_file`)."""
        raise MillpondError(self.cannot_compact or f"the {self.name} engine cannot compact")

    def converts_back(self, value: ir.Column, target) -> ir.BooleanValue:
        """Whether a non-null ``value`` converts to ``target`` and back unchanged."""
        converted = value.try_cast(target)
        return converted.notnull() & (converted.cast(value.type()) == value).fill_null(False)


@functools.lru_cache(maxsize=4096)
def _quote(dialect: str, parts: tuple[str, ...]) -> str:
    import sqlglot as sg

    return ".".join(sg.to_identifier(p, quoted=True).sql(dialect) for p in parts)


def short_name(prefix: str, limit: int = 48) -> str:
    """``prefix``, shortened with a hash when longer than ``limit`` (PostgreSQL names stop at 63 bytes)."""
    if len(prefix) > limit:
        prefix = f"{prefix[:38]}_{hashlib.md5(prefix.encode()).hexdigest()[:8]}__"  # noqa: S324 - a name
    return prefix
