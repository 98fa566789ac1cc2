"""``ctx.table``: what a stage reads, from where, and the record of it.

:class:`TableReads` is mixed into :class:`~millpond.stage_api.context.StageContext`. A
table is read from the stage's environment when the environment built it, else from
production (:mod:`millpond.environment`); under the runner from the run's staged build
when the run built it in its ``publish_together`` group; every read is checked against the
stage's ``needs`` and recorded (:mod:`millpond.store.reads`).
"""

from __future__ import annotations

import json
import os
from typing import TYPE_CHECKING, Any

from millpond.engines import described_table
from millpond.environment import PROD, active
from millpond.errors import MillpondError
from millpond.pipeline.reads import refusal
from millpond.project import project_of
from millpond.warehouse.sql import split_name
from millpond.warehouse.staging import in_group
from millpond.warehouse.versions import version_table

if TYPE_CHECKING:
    import ibis.expr.types as ir

    from millpond.workspace import Workspace


class TableReads:
    """``ctx.table`` and what it records; uses the context's ``env``, ``store``, ``con``,
    ``workspace``, ``run_id``, ``pipeline``, ``stage_name`` and ``under_runner``."""

    env: str
    workspace: Workspace
    run_id: str | None
    pipeline: str | None
    stage_name: str | None

    @property
    def under_runner(self) -> bool:  # provided by StageContext
        raise NotImplementedError

    @property
    def store(self) -> Any:  # provided by StageContext
        raise NotImplementedError

    @property
    def con(self) -> Any:  # provided by StageContext
        raise NotImplementedError

    def table(self, name: str, version: int | None = None, as_of: Any = None) -> ir.Table:
        """An existing warehouse table, e.g. ``ctx.table("silver.orders")``.

        ``version=N`` reads version N of it, ``as_of=`` (a datetime or ISO string, naive
        means UTC) the latest version built at or before then; see ``millpond versions``.
        """
        env = self._env_of(name)
        schema, table = split_name(name, env)
        if self.under_runner:
            self._note_read(name)
            from millpond.stage_api.build import publish_group

            staged = self.store.staged_location(self.run_id, name) if in_group(name, publish_group()) else None
            schema, table = split_name(staged) if staged else (schema, table)  # built by this run, not yet published
        if version is not None or as_of is not None:
            if env != self.env:  # production's table, with production's versions
                with active(env):
                    return version_table(self.con, project_of(self.workspace).store(env), name, version, as_of)
            return version_table(self.con, self.store, name, version, as_of)

        try:
            return described_table(self.con, table, schema)
        except Exception as exc:
            if type(exc).__name__ in {"TableNotFound", "CatalogException", "UndefinedTable", "IbisError"}:
                raise MillpondError(f"table {name} does not exist in the warehouse; build its stage first") from None
            raise

    def _env_of(self, name: str) -> str:
        """Where ``name`` is read from: this environment when it built the table, else production."""
        if self.env == PROD or self.store.latest_materialization(name) is not None:
            return self.env
        return PROD

    def _note_read(self, name: str) -> None:
        """Refuse a read outside the stage's ``needs``; record the build read (the runner
        reruns the stage when that table is built again, see :mod:`millpond.store.reads`)."""
        producer = json.loads(os.environ.get("MILLPOND_NOT_NEEDED") or "{}").get(name)
        if producer is not None:
            raise MillpondError(refusal(self.stage_name, name, producer))
        latest = self.store.latest_materialization(name)
        self.store.record_read(self.run_id, self.pipeline, self.stage_name, name, latest.id if latest else None)
