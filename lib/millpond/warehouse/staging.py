"""Tables a run builds under staged names and publishes together in one transaction.

A pipeline's ``publish_together:`` group (default ``[gold]``) is written, audited and
published in the write-audit-publish way: during a run each table of the group is built
under a staged name in its own schema (:func:`staged_name`, e.g.
``gold._mp_pending_3f9a01bc_fct_orders``), starting from a copy of the live table so that
incremental builds, schema policies and volume guards see what they see today. The
stages of the same run read the staged tables (``ctx.table`` and the runner's checks ask
:meth:`~millpond.store.pending.PendingBuildRecords.staged_location`); everyone else keeps
reading the live tables, which do not change. When every stage succeeded the runner swaps
every staged table in with one transaction (:func:`publish_staged`), each replaced table
kept as a version; a failed or killed run never swaps, and its staged tables are dropped
(:func:`drop_staged`), by the run itself or by the next one.

A view of the group is not staged: its SQL is rewritten to read the live tables
(:func:`unstaged`), so it shows the group as last published.

>>> name = staged_name("gold.fct_orders", "20240131T120000-3f9a")
>>> name.startswith("gold._mp_pending_") and name.endswith("_fct_orders"), len(name) == len("gold._mp_pending_") + 8 + 11
(True, True)
>>> unstaged(f'SELECT * FROM "gold"."{name.split(".")[1]}"')
'SELECT * FROM "gold"."fct_orders"'
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

from millpond.environment import active_env, env_schema
from millpond.errors import MillpondError
from millpond.warehouse.materialized import Materialized
from millpond.warehouse.sql import (
    drop_statement,
    ensure_schema,
    existing_kind,
    fetch,
    quote,
    run_in_transaction,
    split_name,
)
from millpond.warehouse.versions import KEEPING, Keeping, latest_version, record_version, swap_statements

if TYPE_CHECKING:
    from ibis.backends import BaseBackend

    from millpond.store.metadata import MetadataStore, TableVersion

PENDING_PREFIX = "_mp_pending_"
_STAGED = re.compile(re.escape(PENDING_PREFIX) + r"[0-9a-f]{8}_")
STAGED_KINDS = ("table", "incremental")
"""The kinds built under a staged name (a view is rewritten instead; a materialized view is built live)."""


def run_token(run_id: str) -> str:
    """Eight hex digits naming ``run_id``'s staged tables."""
    return hashlib.sha256(run_id.encode()).hexdigest()[:8]


def staged_name(name: str, run_id: str) -> str:
    """Where run ``run_id`` builds table ``name`` (``layer.table``) before publishing it."""
    schema, table = split_name(name)
    staged = f"{PENDING_PREFIX}{run_token(run_id)}_{table}"
    if len(staged) > 63:  # PostgreSQL's longest name
        raise MillpondError(
            f"{name}: the name is too long to publish together (at most 42 characters after the"
            " layer); shorten it or leave it out of publish_together"
        )
    return f"{schema}.{staged}"


def unstaged(text: str) -> str:
    """``text`` (SQL, an error message) with every staged table name replaced by its table's name."""
    return _STAGED.sub("", text)


def in_group(name: str, group: list[str]) -> bool:
    """Whether table ``name`` belongs to ``group`` (layers, or ``layer.table`` names).

    >>> in_group("gold.a", ["gold"]), in_group("marts.x", ["gold", "marts.x"]), in_group("silver.s", ["gold"])
    (True, True, False)
    """
    return name in group or name.split(".")[0] in group


def start_staged(con: BaseBackend, name: str, run_id: str) -> str:
    """Create the staged table of ``name`` for ``run_id`` as a copy of the live table (when
    there is one); returns the staged name. A staged table left by an earlier attempt of the
    same stage is replaced."""
    staged = staged_name(name, run_id)
    schema, table = split_name(name)
    ensure_schema(con, schema)
    statements = [drop_statement(con, "table", *split_name(staged))]
    if existing_kind(con, schema, table) == "table":
        statements.append(
            f"CREATE TABLE {quote(con, *split_name(staged))} AS SELECT * FROM {quote(con, schema, table)}"
        )
    run_in_transaction(con, statements)
    return staged


def drop_staged(con: BaseBackend, schemas: list[str], *, keep_run: str | None = None) -> list[str]:
    """Drop the staged tables in ``schemas`` (all, or all but ``keep_run``'s); returns their names."""
    keep = f"{PENDING_PREFIX}{run_token(keep_run)}_" if keep_run else None
    dropped = []
    for schema in dict.fromkeys(env_schema(s, active_env()) for s in schemas):
        rows = fetch(
            con,
            "SELECT table_name FROM information_schema.tables "
            f"WHERE table_schema = '{schema}' AND table_name LIKE '{PENDING_PREFIX}%'",
        )
        names = [r[0] for r in rows if _STAGED.match(r[0]) and not (keep and r[0].startswith(keep))]
        if names:
            run_in_transaction(con, [drop_statement(con, "table", schema, n) for n in names])
            dropped += [f"{schema}.{n}" for n in names]
    return dropped


@dataclass
class StagedBuild:
    """One table a run built under a staged name, waiting to be published."""

    name: str
    staged: str
    kind: str
    rows: int | None
    schema: dict[str, str]
    unique_key: list[str] | None
    retain: int
    stage: str | None = None


def publish_staged(
    con: BaseBackend, store: MetadataStore, builds: list[StagedBuild], *, run_id: str | None, note: str | None = None
) -> list[TableVersion | None]:
    """Swap every staged table of ``builds`` in place of its table in one transaction, then
    record each as the table's next version (the replaced table kept as a version when its
    ``retain`` allows). A reader sees all the tables as before or all as built, never a mix.

    Raises whatever the engine raises when a statement fails; then nothing was swapped.
    """

    plans: dict[str, Keeping] = {}
    statements: list[str] = []
    for build in builds:
        schema, table = split_name(build.name)
        old = existing_kind(con, schema, table)
        latest = latest_version(store, build.name)
        live = latest is not None and latest.location == build.name and old == "table"
        plans[build.name] = Keeping(
            target=(schema, table),
            keep=build.retain >= 2 and live,
            version=latest.version if live else None,
            previous_hash=latest.content_hash if live else None,
        )
        token = KEEPING.set(plans[build.name])  # the swap keeps the replaced table as a version
        try:
            statements += swap_statements(con, schema, table, split_name(build.staged)[1], old)
        finally:
            KEEPING.reset(token)
    run_in_transaction(con, statements)
    return [
        record_version(
            con,
            store,
            Materialized(b.name, b.kind, b.rows, b.schema, 0.0),
            plans[b.name],
            retain=b.retain,
            run_id=run_id,
            stage=b.stage,
            unique_key=b.unique_key,
            note=note,
        )
        for b in builds
    ]
