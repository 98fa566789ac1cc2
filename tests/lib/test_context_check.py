"""``ctx.check(...)``: checks called from a notebook, under the runner and interactively."""

from __future__ import annotations

import ibis
import pytest

from millpond.errors import MillpondError
from millpond.quality.basic import Check, not_null
from millpond.quality.pii import MASK
from millpond.run.runner import RunOptions, open_store, run_pipeline
from millpond.stage_api.context import StageContext
from millpond.workspace import Workspace
from support.workspaces import COPY_TABLE, make_workspace, write_notebook

# Three customers: id 2 twice (a duplicate key), one missing e-mail.
MAKE_CUSTOMERS = (
    "import millpond as mp, ibis\nctx = mp.stage()",
    "ctx.materialize(ibis.memtable({'id': [1, 2, 2], 'email': ['a@x.org', 'b@x.org', None]}), 'silver.customers')",
    "results = ctx.check('silver.customers', [{'unique': {'columns': 'id', 'severity': severity}},"
    " {'not_null': {'columns': ['email'], 'severity': 'warn'}}])",
)


def _workspace(root, severity: str) -> Workspace:
    write_notebook(root / "notebooks/customers.ipynb", f"severity = {severity!r}", *MAKE_CUSTOMERS)
    write_notebook(root / "notebooks/copy.ipynb", "source = 'silver.customers'\ntable = 'gold.customers'", *COPY_TABLE)
    spec = {
        "stages": [
            {
                "name": "customers",
                "notebook": "notebooks/customers.ipynb",
                "params": {"severity": severity},
                "produces": ["silver.customers"],
            },
            {
                "name": "copy",
                "notebook": "notebooks/copy.ipynb",
                "needs": ["customers"],
                "produces": ["gold.customers"],
            },
        ]
    }
    make_workspace(root, {"p": spec})
    return Workspace(root)


def test_a_failed_error_check_in_a_notebook_fails_its_stage_and_blocks_downstream(tmp_path):
    ws = _workspace(tmp_path, "error")
    result = run_pipeline(ws, "p", RunOptions())
    assert result.stages == {"customers": "failed", "copy": "upstream_failed"}
    stored = {r["check_name"]: r for r in open_store(ws).check_results(result.run_id)}
    assert set(stored) == {"id is unique", "email is not null"}
    unique = stored["id is unique"]
    assert (unique["stage"], unique["status"], unique["failing_rows"]) == ("customers", "fail", 2)
    assert sorted(r["id"] for r in unique["sample"]) == [2, 2]
    # the e-mail column is PII: its values are masked in the stored sample
    assert sorted(r["email"] or "" for r in unique["sample"]) == ["", MASK]
    assert stored["email is not null"]["status"] == "warn"
    error = {s["stage"]: s["error"] for s in open_store(ws).stage_runs(result.run_id)}["customers"]
    assert "1 error check(s) failed: silver.customers: id is unique (2 rows)" in error


def test_a_warning_in_a_notebook_is_recorded_and_the_run_goes_on(tmp_path):
    ws = _workspace(tmp_path, "warn")
    result = run_pipeline(ws, "p", RunOptions())
    assert result.status == "success"
    statuses = sorted((r["check_name"], r["status"]) for r in open_store(ws).check_results(result.run_id))
    assert statuses == [("email is not null", "warn"), ("id is unique", "warn")]


def test_interactively_checks_return_results_and_store_nothing(tmp_path, monkeypatch):
    for name in ("MILLPOND_RUN_ID", "MILLPOND_STAGE"):
        monkeypatch.delenv(name, raising=False)
    make_workspace(tmp_path, {})
    ws = Workspace(tmp_path)
    ctx = StageContext(ws)
    try:
        ctx.materialize(ibis.memtable({"id": [1, None, None]}), "silver.t")
        frame = ctx.check("silver.t", [{"not_null": ["id"]}])
        assert frame[["check", "status", "failing_rows"]].to_dict("records") == [
            {"check": "id is not null", "status": "fail", "failing_rows": 2}
        ]
        # Check objects work too; recording can be asked for
        t = ctx.table("silver.t")
        frame = ctx.check(Check("id is not null", "silver.t", not_null(t, "id"), "warn"), record=True)
        assert frame["status"].tolist() == ["warn"]
        with pytest.raises(MillpondError, match="1 error check"):
            ctx.check("silver.t", [{"not_null": ["id"]}], raise_on_error=True)
    finally:
        ctx.close()
    history = open_store(ws).check_history()
    assert [(r["check_name"], r["status"]) for r in history] == [("id is not null", "warn")]
