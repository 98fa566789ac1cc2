"""Tables a run publishes together: all from one successful run, or none change.

A pipeline declares ``publish_together:`` (layers such as ``gold``, or ``layer.table``
names; default ``[gold]``, ``[]`` turns it off). The stages of a run build those tables
under staged names and read each other's staged builds (:mod:`millpond.warehouse.staging`);
anyone else, a reader in JupyterLab or the docs site, keeps seeing the tables as the last
successful run left them. When the run ends:

- every stage succeeded: :func:`publish_run` swaps all the staged tables in with one
  transaction, records each as a version, then writes the lake copies the tables declare
  (``publish:``); one line on the console names them;
- anything failed, or the run was interrupted: nothing is swapped; :func:`discard_run`
  drops the staged tables and says which tables were left as they were;
- the run was killed: nothing is swapped either; the next run's publish or discard drops
  what it left, and the stages whose builds were never published run again (their
  builds no longer count as the tables' latest, see :mod:`millpond.store.pending`;
  ``--resume`` reruns them too).

Tables outside the group are swapped in one by one as their stages build them.

>>> sorted(staged_schemas(["gold", "marts.daily"]))
['gold', 'marts']
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from millpond.environment import PROD, active, active_env
from millpond.kernels.forkserver import call_forked
from millpond.pipeline.tables import declared_table_spec
from millpond.project import project_of
from millpond.settings.tables import TableSpec
from millpond.warehouse.lake import LAKE_DIR, publish
from millpond.workspace import Workspace

if TYPE_CHECKING:
    from millpond.run.runner import Runner


def staged_schemas(group: list[str]) -> list[str]:
    """The schemas where the tables of ``group`` are staged."""
    return list(dict.fromkeys(entry.split(".")[0] for entry in group))


def declared_tables(runner: Runner) -> dict[str, dict]:
    """The ``tables:`` declarations of ``runner``'s pipeline as the run loaded them (JSON)."""
    return {
        name: spec.model_dump(mode="json", exclude_unset=True)
        for stage in runner.pipeline.spec.stages
        for name, spec in stage.tables.items()
    }


def _table_spec(workspace, tables: dict[str, dict], pipeline: str, name: str):
    """``name``'s declarations: the run's, else any pipeline file's (a table its stage does not declare)."""
    return TableSpec.model_validate(tables[name]) if name in tables else declared_table_spec(workspace, name, pipeline)


def publish_run(
    root: str, pipeline: str, group: list[str], tables: dict[str, dict], run_id: str, env: str = PROD
) -> list[str]:
    """Publish ``run_id``'s staged builds of ``pipeline``'s ``group`` together, with the
    ``tables`` declarations the run loaded, and sweep what killed runs left; lines for the
    console (JSON, for :func:`~millpond.kernels.forkserver.call_forked`). ``env``: the
    run's environment."""
    with active(env):
        return _publish_run(root, pipeline, group, tables, run_id)


def _publish_run(root: str, pipeline: str, group: list[str], tables: dict[str, dict], run_id: str) -> list[str]:
    from millpond.warehouse.staging import StagedBuild, drop_staged, publish_staged

    workspace = Workspace(root)
    store = project_of(workspace).store()
    pending = store.pending_builds(run_id)
    retain = workspace.spec.versions.retain
    specs = {p["table_name"]: _table_spec(workspace, tables, pipeline, p["table_name"]) for p in pending}
    builds = [
        StagedBuild(
            p["table_name"],
            p["staged"],
            p["kind"],
            p["rows"],
            p["schema"],
            p["unique_key"],
            specs[p["table_name"]].retain or retain,
            p["stage"],
        )
        for p in pending
    ]
    warehouse = project_of(workspace).warehouse(f"publish of run {run_id}")
    lines = []
    try:
        con = warehouse.hold()
        if builds:
            try:
                publish_staged(con, store, builds, run_id=run_id)
            except BaseException:  # nothing was swapped: the staged builds go
                drop_staged(con, staged_schemas(group))
                raise
            store.published(run_id)  # after the swap: a crash between the two reruns the stages, never less
            lines.append(f"published {', '.join(b.name for b in builds)} together")
            lines += _lake_copies(workspace, con, {b.name: specs[b.name] for b in builds})
        drop_staged(con, staged_schemas(group))  # what killed runs left
    finally:
        warehouse.close()
    return lines


def _lake_copies(workspace, con, tables: dict) -> list[str]:
    """Write the lake copies that ``tables`` (name: declarations) declare (``publish:``), now that they are published."""
    lines = []
    for name, spec in tables.items():
        declared = spec.publish
        if declared is not None:
            try:
                publish(con, None, name, workspace.root / LAKE_DIR, declared)
            except Exception as exc:  # noqa: BLE001 - the warehouse is published; the lake copy is said to lag
                lines.append(f"warning: {name} is published but its lake copy failed: {_first_line(exc)}")
    return lines


def discard_run(
    root: str, pipeline: str, group: list[str], tables: dict[str, dict], run_id: str, env: str = PROD
) -> list[str]:
    """Drop ``run_id``'s staged tables of ``group`` (it failed): the group stays as it was;
    lines for the console."""
    with active(env):
        return _discard_run(root, pipeline, group, run_id)


def _discard_run(root: str, pipeline: str, group: list[str], run_id: str) -> list[str]:
    from millpond.warehouse.staging import drop_staged

    workspace = Workspace(root)
    store = project_of(workspace).store()
    built = [p["table_name"] for p in store.pending_builds(run_id)]
    warehouse = project_of(workspace).warehouse(f"discard of run {run_id}")
    try:
        drop_staged(warehouse.hold(), staged_schemas(group))
    finally:
        warehouse.close()
    return (
        [
            f"not published: {', '.join(built)} (left as they were: the run failed, and {', '.join(group)} publish together)"
        ]
        if built
        else []
    )


def finish_publishing(runner: Runner, run_id: str, ok: bool) -> bool:
    """What ``runner`` does at the end of run ``run_id``: publish the group if ``ok``, else
    discard it; its lines on the console. Returns whether the run is still ``ok`` (a publish
    that fails fails the run; nothing was swapped then). On the warm engine the work runs in
    a child of the fork server, so the runner imports no Ibis."""
    if not runner.pipeline.spec.publish_together:
        return ok
    say = getattr(runner.reporter, "_say", print)
    if not runner.store.pending_builds(run_id):
        return ok  # nothing built under a staged name: nothing to swap or drop
    target = "publish_run" if ok else "discard_run"
    payload = {
        "root": str(runner.workspace.root),
        "pipeline": runner.pipeline.name,
        "run_id": run_id,
        "group": list(runner.pipeline.spec.publish_together),
        "tables": declared_tables(runner),
        "env": active_env(),
    }
    try:
        if runner._engine() == "warm":
            lines = call_forked(f"millpond.run.publish_together:{target}", payload)
        else:
            lines = globals()[target](**payload)
    except Exception as exc:  # noqa: BLE001 - said on the console; the run fails, the group stays
        say(
            f"could not {'publish' if ok else 'drop the staged builds of'} {', '.join(runner.pipeline.spec.publish_together)}:"
            f" {_first_line(exc)}"
        )
        return False
    for line in lines:
        say(line)
    return ok


def _first_line(exc: BaseException) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0]
