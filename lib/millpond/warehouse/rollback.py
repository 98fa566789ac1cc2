"""Rolling a table back to a kept version, as its new latest version (like Delta's ``RESTORE``)."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from millpond.store.metadata import Materialization
from millpond.warehouse.materialize import materialize
from millpond.warehouse.versions import find_version, keeping_versions, record_version, version_table

if TYPE_CHECKING:
    from ibis.backends import BaseBackend

    from millpond.store.metadata import MetadataStore, TableVersion


def rollback(
    con: BaseBackend, store: MetadataStore, name: str, version: int, *, retain: int, run_id: str | None = None
) -> TableVersion:
    """Restore ``version`` of ``name`` as its new latest version, through the atomic swap
    (like Delta's ``RESTORE``); the version rolled back from stays kept as usual."""
    source = find_version(store, name, version)
    old = version_table(con, store, name, version)
    with keeping_versions(con, store, name, "table", retain=max(retain, 2)) as plan:
        result = materialize(con, old.select(*source.schema), name, "table")
    recorded = record_version(
        con,
        store,
        result,
        plan,
        retain=retain,
        run_id=run_id,
        stage="rollback",
        unique_key=source.unique_key,
        note=f"rollback to version {version}",
    )
    store.record_materialization(
        Materialization(
            table_name=name,
            kind="table",
            rows=result.rows,
            schema=result.schema,
            duration=result.duration,
            fingerprint=f"rollback:{version}:{plan.content_hash}",
            run_id=run_id,
            stage="rollback",
            built_at=time.time(),
        )
    )
    return recorded
