"""``ctx.load(name)``: load a declared source into its bronze table (:mod:`millpond.sources`).

:class:`SourceLoads` is mixed into :class:`~millpond.stage_api.context.StageContext`. The
source is found by name under ``sources:`` (this run's pipeline first, then any, so the same
call works in JupyterLab and plain Papermill), its secret references resolved here, in the
kernel, and its rows built as an incremental table with the state of the load committed in
the same transaction: recorded, versioned and checked as ``ctx.materialize`` does.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from millpond.errors import MillpondError
from millpond.pipeline.sources import declared_source
from millpond.warehouse.staging import in_group

if TYPE_CHECKING:
    import datetime as dt

    from millpond.sources.load import Loaded
    from millpond.workspace import Workspace


class SourceLoads:
    """``ctx.load``; uses the context's ``workspace``, ``pipeline``, ``con``, ``run_id``,
    ``started_at``, ``under_runner``, ``secret`` and ``refreshes``."""

    workspace: Workspace
    pipeline: str | None
    run_id: str | None
    con: Any
    secret: Callable[[str], str]
    refreshes: Callable[[str], bool]

    if TYPE_CHECKING:

        @property
        def under_runner(self) -> bool: ...

        @property
        def started_at(self) -> dt.datetime: ...

    def _source(self, name: str):
        from millpond.sources import source_class

        spec, where = declared_source(self.workspace, name, self.pipeline)
        options = dict(spec.options)
        for option, reference in spec.secrets.items():
            options[option] = self.secret(reference)
        source = source_class(spec.kind)(
            name, spec.model_copy(update={"options": options}), self.workspace.root, declared_in=where
        )
        return spec, where, source

    def remote(self, name: str) -> Any:
        """The live table of the ``postgres_table`` source ``name``, on its own server, as an Ibis
        table: filter and select there, then :meth:`bring` it (docs/sources.md, federation)."""
        from millpond.sources.federation import remote_table
        from millpond.sources.postgres_table import PostgresTableSource

        _, where, source = self._source(name)
        if not isinstance(source, PostgresTableSource):
            raise MillpondError(f"{where}: sources: {name}: only a postgres_table source has a live table to join")
        self._remote = getattr(self, "_remote", {})
        self._remote[name] = source
        return remote_table(source)

    def bring(self, expr: Any, source: str | None = None) -> Any:
        """Run ``expr`` (built on :meth:`remote`) on its server, filters and projections there, and
        return its rows as a table any warehouse expression joins; what moved is ``ctx.moved``."""
        from millpond.sources.federation import bring

        known = getattr(self, "_remote", {})
        if not known:
            raise MillpondError("ctx.bring: call ctx.remote(name) first, and build the expression on its table")
        if source is not None and source not in known:
            raise MillpondError(f"ctx.bring: no remote source {source!r} open (open: {', '.join(known)})")
        if source is None and len(known) > 1:
            raise MillpondError(f"ctx.bring: several remote sources are open ({', '.join(known)}): name one")
        chosen = known[source] if source is not None else next(iter(known.values()))
        rows, self.moved = bring(chosen, expr)
        return rows

    def load(self, name: str) -> Loaded:
        """Load what is new of the source ``name`` into its ``target`` and return what it did.

        Files already loaded are not read again, a changed file replaces its rows, and a
        killed load is redone whole by the next, never doubled (:mod:`millpond.sources.files`).
        ``millpond run --full-refresh TARGET`` loads everything again from scratch.
        """
        from millpond.sources.load import load_source
        from millpond.stage_api.build import build_table, publish_group, record_unchanged

        spec, where, source = self._source(name)
        if self.under_runner and in_group(spec.target, publish_group()):
            raise MillpondError(
                f"{where}: sources: {name}: target {spec.target} is in a layer the run publishes together; "
                "land sources in bronze and publish what is built from them"
            )
        full = self.refreshes(spec.target)

        def build(plan, also: list[str]):
            if plan.rows is None:  # nothing new: no build, no version; recorded as built, unchanged
                return record_unchanged(self, spec.target, plan.incremental.strategy)  # type: ignore[arg-type]
            options = {"run_id": self.run_id, "full_refresh": full, "incremental": plan.incremental, "also": also}
            target, lineage = spec.target, plan.origin
            return build_table(self, plan.rows, target, "incremental", options, None, lineage=lineage)  # type: ignore[arg-type]

        lock = self.workspace.meta_dir / "load_state"
        return load_source(
            self.con, source, build, loaded_at=self.started_at, run_id=self.run_id, full_refresh=full, lock=lock
        )
