"""``mp.stage()``: what a stage notebook holds on to.

The same call works under the runner (``millpond run``), under plain ``papermill``
and top to bottom in JupyterLab:

- under the runner, the kernel's environment names the workspace, run, stage and
  fingerprint (``MILLPOND_*`` variables): nothing of it appears in the notebook;
- elsewhere the workspace is found from ``$MILLPOND_WORKSPACE`` or the current
  directory (upwards), and parameters are the notebook's own defaults; the stage builds
  in a development environment (:mod:`millpond.environment`).

On an embedded DuckDB warehouse a runner stage holds the warehouse lease from its
first query until its kernel ends; an interactive kernel holds it only while a cell
runs (see :mod:`millpond.warehouse.lease`), so exploring never blocks a batch run.
"""

from __future__ import annotations

import atexit
import datetime as dt
import json
import os
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from millpond.environment import activate, current_env, env_output
from millpond.errors import MillpondError
from millpond.pipeline.tables import declared_table_spec
from millpond.processes import die_with, same_process
from millpond.project import project_of
from millpond.quality.monitors import profile_table
from millpond.secrets import resolve
from millpond.settings.tables import PublishSpec
from millpond.stage_api.checks import run_and_record
from millpond.stage_api.interactive import pause_between_cells
from millpond.stage_api.loading import SourceLoads
from millpond.stage_api.reading import TableReads
from millpond.warehouse.lake import LAKE_DIR, publish, read_lake
from millpond.warehouse.materialized import Materialized
from millpond.warehouse.readers import read_files
from millpond.warehouse.sql import existing_kind, split_name
from millpond.workspace import Workspace

if TYPE_CHECKING:
    import ibis.expr.types as ir
    import pandas as pd
    from ibis.backends import BaseBackend

    from millpond.quality.basic import Check
    from millpond.settings.tables import TableSpec
    from millpond.warehouse.lake import Published


class StageContext(TableReads, SourceLoads):
    """Connection, tables, parameters and materializations of one stage.

    Use :func:`stage` to get one. ``ctx.con`` is an Ibis backend; ``ctx.table(name)``
    an upstream table; ``ctx.materialize(expr, name, kind=...)`` builds one.
    """

    def __init__(self, workspace: Workspace, params: dict[str, Any] | None = None):
        self.workspace = workspace
        self.run_id = os.environ.get("MILLPOND_RUN_ID") or None
        self.stage_name = os.environ.get("MILLPOND_STAGE") or None
        self.pipeline = os.environ.get("MILLPOND_PIPELINE") or None
        self.fingerprint = os.environ.get("MILLPOND_FINGERPRINT") or f"session-{time.time_ns()}"
        self.params: dict[str, Any] = dict(params or {})
        self.env = current_env(interactive=self.run_id is None)
        """The environment this stage builds in (:mod:`millpond.environment`): production
        under ``millpond run``, the person's own outside it, or ``$MILLPOND_ENV``."""
        activate(self.env)
        holder = f"stage {self.stage_name} of run {self.run_id}" if self.run_id else "an interactive session"
        self.warehouse = project_of(workspace).warehouse(holder)
        self.warehouse.on_wait = lambda who: print(f"waiting for the warehouse, held by {who} ...", file=sys.stderr)
        self._store = None
        self._created_at = dt.datetime.now(dt.timezone.utc).replace(tzinfo=None, microsecond=0)
        if self.under_runner:
            atexit.register(self.close)

            die_with(json.loads(os.environ.get("MILLPOND_RUNNER") or "null"))  # any engine's kernel ends with its run
        else:
            pause_between_cells(self)

    @property
    def started_at(self) -> dt.datetime:
        """When the run started (UTC, naive), or when this session made its context."""
        if self.run_id:
            return dt.datetime.strptime(self.run_id.split("-")[0], "%Y%m%dT%H%M%S")
        return self._created_at

    @property
    def under_runner(self) -> bool:
        """Whether ``millpond run`` started this kernel."""
        return self.run_id is not None

    @property
    def con(self) -> BaseBackend:
        """The Ibis backend on the warehouse (connects on first use)."""
        return self.warehouse.hold()

    @property
    def store(self):
        """The metadata store of this warehouse and environment."""
        if self._store is None:
            self._store = project_of(self.workspace).store(self.env)
        return self._store

    # -- reading ---------------------------------------------------------------
    def path(self, relative: str | Path) -> Path:
        """A path resolved from the workspace root; in a development environment a path under
        the reports folder is the environment's own (:func:`~millpond.environment.env_output`)."""
        return env_output(self.workspace, self.workspace.path(relative), self.env)

    def files(self, pattern: str) -> list[Path]:
        """Files matching a glob relative to the workspace root, sorted; an error if none."""
        base, relative = (
            (Path("/"), pattern.lstrip("/")) if Path(pattern).is_absolute() else (self.workspace.root, pattern)
        )
        matches = sorted(p for p in base.glob(relative) if p.is_file())
        if not matches:
            raise MillpondError(
                f"no file matches {pattern} (from {self.workspace.root}); generate the sample data with `millpond generate`"
            )
        return matches

    def read_csv(self, pattern: str, **options: Any) -> ir.Table:
        """CSV files as a table, every column read as text (bronze keeps data as-is)."""
        return read_files(self.con, "csv", self.files(pattern), options)

    def read_parquet(self, pattern: str, **options: Any) -> ir.Table:
        """Parquet files as a table."""
        return read_files(self.con, "parquet", self.files(pattern), options)

    def read_json(self, pattern: str, **options: Any) -> ir.Table:
        """JSON-lines files as a table."""
        return read_files(self.con, "json", self.files(pattern), options)

    def secret(self, reference: str) -> str:
        """The value behind a secret reference (``secret:NAME``); never print it.

        From then on the kernel masks the value as ``[secret:NAME]`` in everything it sends
        (printed output, displays, an error's message and traceback), see
        :mod:`millpond.kernel_redaction`.
        """
        return resolve(reference, self.workspace.secret_env())

    # -- writing ---------------------------------------------------------------
    def materialize(
        self,
        expr: ir.Table,
        name: str,
        kind: str | None = None,
        *,
        strategy: str | None = None,
        unique_key: str | list[str] | None = None,
        watermark: str | None = None,
        partition_by: str | None = None,
        partitions: Any = None,
        lookback: Any = None,
        full_refresh: bool | None = None,
        on_schema_change: str | None = None,
        contract: dict[str, Any] | None = None,
    ) -> Materialized:
        """Build ``expr`` as ``name`` (``layer.table``) atomically and record it.

        ``kind`` is ``"table"``, ``"view"`` or ``"incremental"``. The record (rows,
        schema, duration, fingerprint) goes to the workspace's metadata store.

        For ``kind="incremental"`` pass the table's *full* expression; only what is new
        is added (see :mod:`millpond.warehouse.incremental`): ``strategy`` is
        ``"append"`` (needs ``watermark`` or ``unique_key``), ``"merge"`` (upsert on
        ``unique_key``, one column or a list) or ``"delete+insert"`` (replaces the
        ``partitions`` of ``partition_by``, e.g. ``partitions=run_date``, or those
        touched by new rows); ``watermark`` is the column whose ``max - lookback`` (e.g.
        ``"3d"``) in the existing table decides what is new. ``millpond run
        --full-refresh TABLE`` (or ``full_refresh=True``) rebuilds it whole::

            ctx.materialize(orders, "silver.orders", kind="incremental", strategy="merge",
                            unique_key="order_id", watermark="updated_at", lookback="3d")

        ``on_schema_change`` (``fail``, ``append_new_columns``, ``sync_all_columns``,
        ``quarantine``) and ``contract`` (``{"columns": {...}, "not_null": [...],
        "primary_key": [...]}``) override what the pipeline declares under ``tables:``
        (see :mod:`millpond.warehouse.evolution`, :mod:`millpond.warehouse.contracts`).
        ``kind="materialized_view"`` refreshes only when its upstream tables changed since
        (their recorded builds), incrementally along ``watermark`` where the expression
        allows it (:mod:`millpond.warehouse.matview`).

        Each of ``kind``, ``strategy``, ``unique_key``, ``watermark``, ``partition_by`` and
        ``lookback`` not given here comes from the table's declaration under ``tables:``
        (:class:`millpond.settings.tables.TableSpec`), so a table's settings live in one
        place and an argument is only an override; ``kind`` defaults to ``table`` and
        ``strategy`` to ``append``.
        """
        declared = self.table_spec(name)
        kind = kind or declared.kind or "table"
        strategy = strategy or declared.strategy or "append"
        unique_key = unique_key if unique_key is not None else declared.unique_key
        watermark = watermark or declared.watermark
        partition_by = partition_by or declared.partition_by
        lookback = lookback if lookback is not None else declared.lookback
        options: dict[str, Any] = {
            "on_schema_change": on_schema_change,
            "contract": contract,
            "run_id": self.run_id,
            "full_refresh": self.refreshes(name) if full_refresh is None else full_refresh,
        }
        if kind == "incremental":
            from millpond.warehouse.incremental import Incremental

            options["incremental"] = Incremental.of(
                strategy, unique_key, watermark, partition_by, partitions, lookback, bool(declared.propagate_deletes)
            )
        elif kind == "materialized_view":
            options |= {"upstream_version": self._recorded_version, "watermark": watermark}
        from millpond.stage_api.build import build_table

        return build_table(self, expr, name, kind, options, [unique_key] if isinstance(unique_key, str) else unique_key)

    def _check_run_alive(self, name: str) -> None:
        """Refuse to build or record ``name`` for a run that is gone (closes the moments before its lifeline acts)."""
        runner = os.environ.get("MILLPOND_RUNNER")
        if self.under_runner and runner:
            if not same_process(json.loads(runner)):
                raise MillpondError(f"run {self.run_id} is gone: {name} is neither built nor recorded")

    # -- the lake --------------------------------------------------------------
    def publish(self, name: str, **options: Any) -> Published:
        """Publish warehouse table ``name`` to the lake, ``data/lake/<layer>/<table>/``.

        The options are those of :class:`~millpond.warehouse.lake.PublishSpec`
        (``format``, ``partition_by``, ``compression``, ``compression_level``,
        ``row_group_size``); given ones override the table's declared ``publish:``.
        ``ctx.materialize`` calls this itself for a table that declares ``publish:`` (for a
        table the run publishes together, the runner does, once the group is published)::

            ctx.publish("gold.fct_orders", partition_by=["order_date"], format="delta")
        """
        declared = self.table_spec(name).publish
        spec = PublishSpec.model_validate({**(declared.model_dump() if declared else {}), **options})
        return publish(self.con, None, name, self.path(LAKE_DIR), spec)

    def lake(self, name: str, version: int | None = None, filters: dict[str, Any] | None = None) -> ir.Table:
        """Lake table ``name`` as an Ibis table: ``version`` of a delta table (latest by default),
        ``filters`` such as ``{"order_date": [d1, d2]}`` read only those partitions."""
        return read_lake(self.con, name, self.path(LAKE_DIR), version=version, filters=filters)

    def table_spec(self, name: str) -> TableSpec:
        """The options declared for ``name`` under a stage's ``tables:``: under the runner as
        the run loaded them, else from ``pipelines/*.yml`` (this run's pipeline first), so a
        notebook run in JupyterLab keeps the same contract, schema policy and retention as
        under the runner (:func:`millpond.pipeline.tables.declared_table_spec`)."""
        return declared_table_spec(self.workspace, name, self.pipeline)

    def _recorded_version(self, name: str) -> str | None:
        """The latest recorded build of table ``name`` (a materialized view's upstream version)."""
        m = self.store.latest_materialization(name)
        return f"{m.fingerprint}@{m.built_at!r}" if m else None

    def refreshes(self, name: str) -> bool:
        """Whether this run rebuilds ``name`` whole (``millpond run --full-refresh NAME``)."""
        return name in {t.strip() for t in os.environ.get("MILLPOND_FULL_REFRESH", "").split(",") if t.strip()}

    def is_incremental(self, name: str) -> bool:
        """Whether ``materialize(..., kind="incremental")`` of ``name`` will add to an existing
        table (rather than build it whole: first build or full refresh)."""
        schema, table = split_name(name)
        return not self.refreshes(name) and existing_kind(self.con, schema, table) == "table"

    def watermark(self, name: str, column: str, lookback: Any = None) -> Any:
        """``max(column) - lookback`` of the existing table ``name``, or ``None`` when it
        will be built whole: filter the source with it to read only what is new::

            since = ctx.watermark("silver.orders", "updated_at", lookback="3d")
            source = raw if since is None else raw.filter(raw.updated_at >= since)
        """
        from millpond.warehouse.incremental import watermark_cutoff

        if not self.is_incremental(name):
            return None
        return watermark_cutoff(self.con, self.table(name), column, lookback)

    def _profile(self, name: str) -> None:
        """Record the monitors' profile of a table just built, on this connection (the runner
        then only judges it; see :mod:`millpond.run.monitoring`). Never fails the build."""
        try:
            profile = profile_table(self.table(name), name)
        except Exception as exc:  # noqa: BLE001 - the runner profiles it itself instead
            print(f"warning: could not profile {name}: {str(exc).strip().splitlines()[0]}", file=sys.stderr)
            return
        self.store.record_profile(self.run_id, self.stage_name, profile)

    # -- checking --------------------------------------------------------------
    def check(
        self,
        target: str | Check | list[Check],
        declared: list[dict[str, Any]] | None = None,
        *,
        record: bool | None = None,
        raise_on_error: bool | None = None,
    ) -> pd.DataFrame:
        """Run checks now, from a notebook, and return one row per check.

        Either a table name and its checks in the YAML syntax of
        :mod:`millpond.quality.declared` (``ctx.check("silver.orders", [{"unique":
        "order_id"}])``) or :class:`~millpond.quality.basic.Check` objects.

        Under the runner the results are stored with the run and stage (samples PII
        masked, as for declared checks) and a failed ``error`` check raises, so the
        stage fails and its downstream stages do not run; interactively nothing is
        stored and nothing raises, unless ``record`` / ``raise_on_error`` say so.
        """
        import pandas as pd

        from millpond.quality.basic import Check
        from millpond.quality.declared import build_checks, parse_checks

        if isinstance(target, str):
            if declared is None:
                raise MillpondError(f"ctx.check({target!r}, ...): give the checks, e.g. [{{'not_null': ['id']}}]")
            declarations = parse_checks({"checks": {target: declared}})
            now = dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)
            checks = build_checks(declarations, self.table, con=self.con, now=now)
        else:
            checks = [target] if isinstance(target, Check) else list(target)
        record = self.under_runner if record is None else record
        outcome = run_and_record(checks, self.workspace, self.store if record else None, self.run_id, self.stage_name)
        if outcome.failed and (self.under_runner if raise_on_error is None else raise_on_error):
            raise MillpondError(f"{len(outcome.failed)} error check(s) failed: {'; '.join(outcome.failed)}")
        columns = ["table", "check", "severity", "status", "failing_rows", "sample"]
        return pd.DataFrame(outcome.results, columns=columns)

    def warn(self, message: str) -> None:
        """Print ``warning: message``, recorded with the stage: its line in ``millpond run``, ``millpond runs RUN_ID``."""
        print(f"warning: {message}", file=sys.stderr)
        self.store.record_warning(self.run_id, self.stage_name, message)

    def close(self) -> None:
        self.warehouse.close()

    def __repr__(self) -> str:
        where = f"run {self.run_id}, stage {self.stage_name}" if self.under_runner else "interactive"
        return f"<millpond stage context ({where}) on {self.workspace.spec.name}>"


def stage(workspace: str | Path | None = None) -> StageContext:
    """The context of the stage notebook calling it.

    Parameters
    ----------
    workspace
        Only for unusual setups: the workspace root. By default the runner's
        workspace, ``$MILLPOND_WORKSPACE``, or the workspace of the current directory
        (or a parent).

    Examples
    --------
    In a notebook, after the ``parameters`` cell::

        import millpond as mp
        ctx = mp.stage()  # also makes the workspace's lib/ importable: import its modules after it
        orders = ctx.table("silver.orders")
        ctx.materialize(orders.group_by("order_date").agg(n=orders.count()), "gold.daily", kind="table")
    """
    ws = Workspace(workspace) if workspace else Workspace.find()
    ws.use_code()
    names = json.loads(os.environ.get("MILLPOND_PARAM_NAMES", "[]"))
    caller = sys._getframe(1).f_globals
    params = {n: caller[n] for n in names if n in caller}
    return StageContext(ws, params)
