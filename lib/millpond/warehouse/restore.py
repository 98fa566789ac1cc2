"""Restoring several tables to earlier versions together, in one transaction.

:func:`millpond.warehouse.versions.rollback` restores one table through its own swap.
:func:`restore_together` restores a group: each version's rows are first copied under a
temporary name (outside the transaction, like any build), then one transaction swaps
them all in, each replaced table kept as a version of its own (so the restore itself
can be undone with ``millpond rollback``). A reader sees every table of the group as it
was before, or every one as restored, never a mix. Each restore is then recorded as a new
version (``stage`` ``restore``, with a ``note``) and a materialization, so the stage that
built the replaced table runs again next time.
"""

from __future__ import annotations

import secrets
import time
from typing import TYPE_CHECKING

from millpond.errors import MillpondError
from millpond.warehouse.materialize import (
    TEMP_PREFIX,
    Materialized,
    _drop_statement,
    _quote,
    existing_kind,
    run_in_transaction,
    split_name,
)
from millpond.warehouse.versions import _KEEPING, Keeping, latest_version, record_version, swap_statements

if TYPE_CHECKING:
    from ibis.backends import BaseBackend

    from millpond.store.metadata import MetadataStore, TableVersion


def restore_together(con: BaseBackend, store: MetadataStore, targets: dict[str, TableVersion], *,
                     retain: dict[str, int], run_id: str | None, note: str) -> list[TableVersion]:
    """Make each table of ``targets`` hold the rows of the version given for it, in one transaction.

    Parameters
    ----------
    targets
        Table name -> the kept version to restore (its ``location`` holds the rows); the
        live table must be the table's latest version.
    retain
        Versions kept per table (retention applies after the restore as after a build).
    run_id, note
        Recorded with each restored version.

    Returns
    -------
    The new versions, one per table, in the order of ``targets``.
    """
    temps: dict[str, str] = {}
    plans: dict[str, Keeping] = {}
    try:
        for name, version in targets.items():
            schema, table = split_name(name)
            latest = latest_version(store, name)
            if version.location is None or latest is None or latest.location != name:
                raise MillpondError(f"{name}: cannot restore version {version.version} (not kept, or no live version)")
            source = _quote(con, *version.location.split(".", 1))
            temps[name] = f"{TEMP_PREFIX}{table}_{secrets.token_hex(4)}"
            run_in_transaction(con, [f"CREATE TABLE {_quote(con, schema, temps[name])} AS SELECT * FROM {source}"])
        statements: list[str] = []
        for name in targets:
            schema, table = split_name(name)
            latest = latest_version(store, name)
            plans[name] = Keeping(target=(schema, table), keep=True, version=latest.version,
                                  previous_hash=latest.content_hash)
            token = _KEEPING.set(plans[name])  # the swap keeps the replaced table as a version
            try:
                statements += swap_statements(con, schema, table, temps[name], existing_kind(con, schema, table))
            finally:
                _KEEPING.reset(token)
        run_in_transaction(con, statements)
    except BaseException:
        for name, temp in temps.items():
            try:
                run_in_transaction(con, [_drop_statement(con, "table", split_name(name)[0], temp)])
            except Exception:  # noqa: S110 - the original error matters more
                pass
        raise
    from millpond.store.metadata import Materialization

    restored = []
    for name, version in targets.items():
        result = Materialized(name, "table", version.rows, version.schema, 0.0)
        restored.append(record_version(con, store, result, plans[name], retain=max(retain.get(name, 2), 2),
                                       run_id=run_id, stage="restore", unique_key=version.unique_key,
                                       note=f"{note}: version {version.version} restored"))
        store.record_materialization(Materialization(
            table_name=name, kind="table", rows=version.rows, schema=version.schema, duration=0.0,
            fingerprint=f"restore:{version.version}:{plans[name].content_hash}", run_id=run_id, stage="restore",
            built_at=time.time(),
        ))
    return restored
