"""Table sizes in bytes, asked of the warehouse only when that is cheap.

Each engine measures its own (:meth:`~millpond.engines.base.Engine.table_sizes`, and for
a warehouse file :meth:`~millpond.engines.base.Engine.file_table_sizes`, asked only when
the warehouse lease is free at once: the catalog never waits for a running stage; then
sizes are left out).

Views have no size. Any failure leaves the sizes out rather than failing the catalog.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from millpond.engines import engine_class, engine_for
from millpond.errors import MillpondError
from millpond.project import project_of
from millpond.warehouse.lease import Lease

if TYPE_CHECKING:
    from millpond.workspace import Workspace


def warehouse_sizes(workspace: Workspace, names: list[str]) -> dict[str, int]:
    """``{layer.table: bytes}`` for the tables among ``names`` the warehouse holds."""
    url = workspace.warehouse_url()
    engine = engine_class(url)
    db_file = engine.database_file(url)
    if db_file is not None:
        if not db_file.is_file():
            return {}
        lease = Lease(db_file, "millpond catalog (sizes)")
        if not lease.try_acquire():
            return {}
        try:
            return engine.file_table_sizes(db_file, names)
        finally:
            lease.release()
    try:
        con = project_of(workspace).connect()
    except MillpondError:
        return {}
    try:
        return engine_for(con).table_sizes(names)
    except Exception:  # noqa: BLE001 - sizes are optional
        return {}
    finally:
        con.disconnect()
