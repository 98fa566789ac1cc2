"""Checks declared in the pipeline spec run after their stage; an error check stops downstream."""

from __future__ import annotations

import pytest

from millpond.cli import main
from millpond.errors import SpecError
from millpond.pipeline.load import load_pipeline
from millpond.run.runner import open_store, run_pipeline
from millpond.workspace import Workspace
from support.workspaces import COPY_TABLE, make_workspace, query, write_notebook

# ids 1, 2, 2, 3 and statuses with one unknown value: 2 duplicate rows, 1 bad status
MAKE_ORDERS = (
    "import millpond as mp, ibis, pyarrow as pa\nctx = mp.stage()",
    "ctx.materialize(ibis.memtable(pa.table({'id': [1, 2, 2, 3], 'status': ['new', 'new', 'paid', 'lost']})), 'silver.orders')",
)


def workspace(root, checks) -> Workspace:
    write_notebook(root / "notebooks/orders.ipynb", "n = 0", *MAKE_ORDERS)
    write_notebook(root / "notebooks/copy.ipynb", "source = 'silver.orders'\ntable = 'gold.orders'", *COPY_TABLE)
    spec = {
        "stages": [
            {"name": "orders", "notebook": "notebooks/orders.ipynb", "produces": ["silver.orders"], "checks": checks},
            {"name": "publish", "notebook": "notebooks/copy.ipynb", "needs": ["orders"], "produces": ["gold.orders"]},
        ]
    }
    make_workspace(root, {"p": spec})
    return Workspace(root)


def statuses(ws, run_id):
    return {s["stage"]: s for s in open_store(ws).stage_runs(run_id)}


def test_failed_error_check_fails_its_stage_before_the_swap_and_stops_downstream(tmp_path, capsys):
    ws = workspace(
        tmp_path,
        {
            "silver.orders": [
                {"not_null": "id"},
                {"unique": "id"},
                {"accepted_values": {"column": "status", "values": ["new", "paid"], "severity": "warn"}},
            ]
        },
    )
    result = run_pipeline(ws, "p")
    assert result.exit_code == 1
    stages = statuses(ws, result.run_id)
    assert stages["orders"]["status"] == "failed"
    # the error checks audit the new build before its swap (warehouse/audit.py): nothing was published
    assert stages["orders"]["error"] == (
        "cell 3: MillpondError: silver.orders: the new build failed its audit, the previous version stays: "
        "1 error check(s) failed: id is unique (2 rows)"
    )
    assert stages["publish"]["status"] == "upstream_failed"
    assert query(ws, "SELECT table_name FROM information_schema.tables WHERE table_schema = 'silver'") == []

    history = {h["check_name"]: h for h in open_store(ws).check_history("silver.orders")}
    assert {name: (h["status"], h["failing_rows"]) for name, h in history.items()} == {
        "id is not null": ("pass", 0),
        "id is unique": ("fail", 2),
    }
    assert sorted(r["id"] for r in history["id is unique"]["sample"]) == [2, 2]

    capsys.readouterr()
    assert main(["checks", "-C", str(ws.root), "--failing"]) == 0
    out = capsys.readouterr().out
    assert "id is unique" in out and "id is not null" not in out


def test_a_warn_check_that_fails_after_the_swap_is_still_reported(tmp_path):
    ws = workspace(
        tmp_path,
        {
            "silver.orders": [
                {"accepted_values": {"column": "status", "values": ["new", "paid"], "severity": "warn"}},
            ]
        },
    )
    result = run_pipeline(ws, "p")
    assert result.exit_code == 0
    assert statuses(ws, result.run_id)["orders"]["error"] is None
    history = {h["check_name"]: (h["status"], h["failing_rows"]) for h in open_store(ws).check_history("silver.orders")}
    assert history == {"status is one of new, paid": ("warn", 1)}


def test_warn_checks_let_the_run_succeed(tmp_path):
    ws = workspace(
        tmp_path,
        {
            "silver.orders": [
                {"unique": {"columns": "id", "severity": "warn"}},
                {"row_count": {"min": 1}},
                {"unique": {"columns": "id", "name": "ids mostly unique", "error_if": {"percent": 60}}},
            ]
        },
    )
    result = run_pipeline(ws, "p")
    assert result.exit_code == 0
    stages = statuses(ws, result.run_id)
    assert {s["status"] for s in stages.values()} == {"success"}
    states = {h["check_name"]: h["status"] for h in open_store(ws).check_history()}
    # 2 of 4 rows violate: 50 % is under the 60 % error threshold, so only a warn
    assert states == {"id is unique": "warn", "has at least 1 row": "pass", "ids mostly unique": "warn"}


def test_bad_check_declarations_are_spec_errors(tmp_path):
    ws = workspace(tmp_path, {"silver.orders": [{"not_null": "id"}, {"betwen": {"column": "id", "min": 0}}]})
    with pytest.raises(SpecError) as info:
        load_pipeline(ws, "p")
    assert str(info.value).startswith("pipelines/p.yml:")
    assert "stages[0].checks.silver.orders[1]" in str(info.value) and "betwen" in str(info.value)

    ws = workspace(tmp_path, {"gold.other": [{"not_null": "id"}]})
    with pytest.raises(
        SpecError, match=r"stages\[0\]\.checks\.gold\.other: stage 'orders' does not produce gold.other"
    ):
        load_pipeline(ws, "p")


def test_a_failed_run_sends_one_alert_per_incident(tmp_path, monkeypatch):
    import json
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    import yaml

    received: list[dict] = []

    class Hook(BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802 - http.server's naming
            body = self.rfile.read(int(self.headers["Content-Length"]))
            received.append({"auth": self.headers["Authorization"], "body": json.loads(body)})
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Hook)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    monkeypatch.setenv("MILLPOND_TEST_HOOK_TOKEN", "hook-t0ken-value")
    workspace(tmp_path, {"silver.orders": [{"unique": "id"}, {"not_null": "status"}]})
    config = {
        "name": "alerting",
        "secrets": {"hook_token": {"env": "MILLPOND_TEST_HOOK_TOKEN"}},
        "alerts": {
            "channels": [
                {"log": {}},
                {
                    "webhook": {
                        "url": f"http://127.0.0.1:{server.server_port}/hook",
                        "headers": {"Authorization": "Bearer ${secret:hook_token}"},
                    }
                },
            ]
        },
    }
    (tmp_path / "millpond.yml").write_text(yaml.safe_dump(config))
    try:
        result = run_pipeline(Workspace(tmp_path), "p")
    finally:
        server.shutdown()
    assert result.exit_code == 1
    assert len(received) == 1
    alert = received[0]
    assert alert["auth"] == "Bearer hook-t0ken-value"
    assert alert["body"]["kind"] == "check_failed" and alert["body"]["run_id"] == result.run_id
    assert [(c["table"], c["check"], c["failing_rows"]) for c in alert["body"]["failed_checks"]] == [
        ("silver.orders", "id is unique", 2)
    ]
    log = (tmp_path / "data/.millpond/alerts.log").read_text()
    assert result.run_id in log and "hook-t0ken-value" not in log
