"""Tables a run publishes together: a failed run restores the ones it replaced.

A pipeline declares ``publish_together:`` (layers such as ``gold``, or ``layer.table``
names; default ``[gold]``, ``[]`` turns it off). Tables are still swapped in one by one
as their stages build them (a later stage reads them). When the run fails, the runner
restores every table of the group that this run replaced to the version it had before
the run, in one transaction (:func:`millpond.warehouse.restore.restore_together`), and
says so on the console; each restore is a recorded version (``millpond versions``, note
``run RUN failed``). So after a failed run the group is as a successful run left it, all
from one run; after a successful one, all from that run.

Not restored: a table new in this run (it had no version before; it is left, named in
the output), one whose previous version expired (``retain: 1``), views (no versions).
The window that remains: while the run goes on, readers see the group's tables change one
by one. ``--resume`` reruns the stages whose tables were restored.

>>> group_tables(["silver.orders", "gold.a", "gold.b", "marts.x"], ["gold", "marts.x"])
['gold.a', 'gold.b', 'marts.x']
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from millpond.pipeline.load import Pipeline
    from millpond.store.metadata import MetadataStore, TableVersion
    from millpond.workspace import Workspace

RESTORE_STAGE = "restore"


def group_tables(tables: Iterable[str], group: list[str]) -> list[str]:
    """The tables of ``tables`` in ``group`` (a layer, or a table name)."""
    return [t for t in dict.fromkeys(tables) if t in group or t.split(".")[0] in group]


def versions_before(store: MetadataStore, run_id: str, tables: list[str]) -> tuple[dict[str, TableVersion], list[str]]:
    """The version each table had before ``run_id`` changed it, and what cannot be restored."""
    targets: dict[str, TableVersion] = {}
    left: list[str] = []
    for name in tables:
        versions = store.table_versions(name)
        mine = [v for v in versions if v.run_id == run_id and v.stage != RESTORE_STAGE]
        if not mine:
            continue  # not built by this run
        before = [v for v in versions if v.version < mine[0].version]
        if not before:
            left.append(f"{name} (new in this run)")
        elif before[-1].content_hash == versions[-1].content_hash:
            continue  # rebuilt with the same rows
        elif before[-1].location is None:
            left.append(f"{name} (version {before[-1].version} expired; raise retain)")
        else:
            targets[name] = before[-1]
    return targets, left


def restore_failed_run(workspace: Workspace, store: MetadataStore, pipeline: Pipeline, run_id: str) -> list[str]:
    """Restore the ``publish_together`` tables ``run_id`` replaced; lines for the console."""
    group = pipeline.spec.publish_together
    produced = [t for stage in pipeline.spec.stages for t in stage.produces]
    targets, left = versions_before(store, run_id, group_tables(produced, group))
    lines = []
    if targets:
        from millpond.pipeline.tables import declared_table_spec
        from millpond.warehouse.connect import Warehouse
        from millpond.warehouse.restore import restore_together

        retain = {name: declared_table_spec(workspace, name, pipeline.name).retain or workspace.spec.versions.retain
                  for name in targets}
        warehouse = Warehouse(workspace, f"restore after run {run_id}")
        try:
            restore_together(warehouse.hold(), store, targets, retain=retain, run_id=run_id,
                             note=f"run {run_id} failed")
        finally:
            warehouse.close()
        restored = ", ".join(f"{name} to version {v.version}" for name, v in targets.items())
        lines.append(f"restored {restored}: the run failed and publishes {', '.join(group)} together")
    if left:
        lines.append(f"not restored: {', '.join(left)}")
    return lines


def restored_stages(store: MetadataStore, pipeline: Pipeline, run_id: str) -> set[str]:
    """Stages of ``run_id`` whose tables were restored after it failed (``--resume`` reruns them)."""
    restored = {m["table_name"] for m in store.materializations(run_id, RESTORE_STAGE)}
    return {s.name for s in pipeline.spec.stages if restored & set(s.produces)}


def restore_after_failure(runner, run_id: str) -> None:
    """What the runner does when run ``run_id`` of ``runner`` (a :class:`~millpond.run.runner.Runner`)
    failed: :func:`restore_failed_run`, its lines on the run's console. Never raises: the run
    has failed already; a restore that cannot be done is said, and the group stays as it is."""
    group = runner.pipeline.spec.publish_together
    if not group:
        return
    say = getattr(runner.reporter, "_say", print)
    try:
        for line in restore_failed_run(runner.workspace, runner.store, runner.pipeline, run_id):
            say(line)
    except Exception as exc:  # noqa: BLE001
        say(f"could not restore {', '.join(group)}: {(str(exc).strip().splitlines() or [type(exc).__name__])[0]}")
