"""Profile the tables a stage built and flag the values that left their usual band.

The runner calls :func:`run_stage_monitors` once a stage succeeded (after its checks).
Each table of the stage's ``produces`` is profiled in one aggregate query
(:mod:`millpond.quality.monitors`): by ``ctx.materialize`` in the stage's kernel, right
after the build on the connection it already holds, or else here, for a product the
kernel did not profile (if it exists). The profile is stored, and every value is compared
with the band of the last ``window`` earlier runs (:mod:`millpond.quality.anomaly`).
Anomalies are recorded and shown as a warning on the stage's line; they never fail
the stage. A monitor that cannot run is reported the same way, never raised: like an
alert, it must not break a run.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from millpond.engines import described_table
from millpond.project import project_of
from millpond.quality.anomaly import describe, find_anomalies
from millpond.quality.monitors import profile_table
from millpond.settings.pipeline import StageSpec
from millpond.store.metadata import MetadataStore
from millpond.warehouse.sql import split_name
from millpond.workspace import Workspace

log = logging.getLogger("millpond.monitors")


@dataclass
class MonitorsOutcome:
    """What the monitors of one stage found.

    >>> MonitorsOutcome(["silver.t"]).summary() is None
    True
    >>> MonitorsOutcome(["silver.t"], [{"table": "silver.t", "column": "", "metric": "row_count",
    ...                                 "value": 10, "lower": 99, "upper": 101}]).summary()
    'warning: 1 anomaly: silver.t row_count = 10, outside [99, 101]'
    """

    profiled: list[str]
    anomalies: list[dict[str, Any]] = field(default_factory=list)
    error: str | None = None

    def summary(self) -> str | None:
        """One line for the run log, or ``None`` when nothing is worth saying."""
        if self.error:
            return f"warning: monitors could not run: {self.error}"
        if not self.anomalies:
            return None
        shown = "; ".join(describe(a) for a in self.anomalies[:3])
        more = f"; +{len(self.anomalies) - 3} more" if len(self.anomalies) > 3 else ""
        noun = "anomaly" if len(self.anomalies) == 1 else "anomalies"
        return f"warning: {len(self.anomalies)} {noun}: {shown}{more}"


def profile_products(
    workspace: Workspace, tables: list[str], holder: str, located: Callable[[str], str] = str
) -> dict[str, list[dict[str, Any]]]:
    """The profile of each table of ``tables`` that exists in the warehouse (one query each),
    read where ``located`` says (a run's staged build of it, :mod:`millpond.warehouse.staging`)."""
    warehouse = project_of(workspace).warehouse(holder)
    profiles: dict[str, list[dict[str, Any]]] = {}
    try:
        con = warehouse.hold()
        for name in tables:
            schema, table = split_name(located(name))
            try:  # the runner saw it materialized: asking for it beats listing the schema first
                found = described_table(con, table, schema)
            except Exception:
                if _exists(con, schema, table):
                    raise
                continue
            profiles[name] = profile_table(found, name)
    finally:
        warehouse.close()
    return profiles


def _exists(con: Any, schema: str, table: str) -> bool:
    try:
        return table in con.list_tables(database=schema)
    except Exception:  # noqa: BLE001 - no such schema: nothing of it exists
        return False


def recorded_profiles(
    store: MetadataStore, run_id: str | None, stage: str, tables: list[str]
) -> dict[str, list[dict[str, Any]]]:
    """The profiles the stage's kernel recorded as it materialized ``tables`` in this run
    (``ctx.materialize`` profiles on its own connection, the cheapest place to do it)."""
    if run_id is None:
        return {}
    profiles: dict[str, list[dict[str, Any]]] = {}
    for row in store.profiles(run_id):
        if row["stage"] == stage and row["table_name"] in tables:
            if row["metric"] == "row_count":  # a profile starts here; a table built twice keeps its last
                profiles[row["table_name"]] = []
            profiles.setdefault(row["table_name"], []).append(
                {
                    "table": row["table_name"],
                    "column": row["column_name"],
                    "metric": row["metric"],
                    "value": row["value"],
                }
            )
    return profiles


def run_stage_monitors(
    workspace: Workspace, stage: StageSpec, run_id: str | None, store: MetadataStore
) -> MonitorsOutcome:
    """Profile, record and judge the tables ``stage`` produces; see the module docstring."""
    spec = workspace.spec.quality.monitors
    if not spec.enabled or not stage.produces:
        return MonitorsOutcome([])
    try:
        profiles = recorded_profiles(store, run_id, stage.name, stage.produces)
        missing = [t for t in stage.produces if t not in profiles]
        if missing:
            profiles |= profile_products(
                workspace,
                missing,
                f"monitors of stage {stage.name} of run {run_id}",
                lambda t: store.staged_location(run_id, t) or t,
            )
        found: list[dict[str, Any]] = []
        for table, profile in profiles.items():
            earlier = store.profile_history(table, limit_runs=spec.window, before_run=run_id)
            expected = stage.tables[table].nulls_expected if table in stage.tables else set()
            found += [  # a column null by design is not watched for its null rate
                a
                for a in find_anomalies(profile, earlier, spec)
                if not (a.get("metric") == "null_rate" and a.get("column") in expected)
            ]
            if table in missing:
                store.record_profile(run_id, stage.name, profile)
        if found:
            store.record_anomalies(run_id, stage.name, found)
    except Exception as exc:  # noqa: BLE001 - a monitor must never break a run
        detail = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        log.warning("monitors of stage %s (run %s) could not run: %s", stage.name, run_id, detail)
        return MonitorsOutcome([], error=detail)
    return MonitorsOutcome(list(profiles), found)
