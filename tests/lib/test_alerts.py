"""Alerts: one incident per failed run, delivered to a real HTTP server and a real program."""

from __future__ import annotations

import json
import socket
import sys

import pydantic
import pytest
import yaml

from millpond.alerts import AlertsSpec, ChannelSpec, Incident, incident_for_run, send
from support.webhook import PROXY_VARIABLES, Hook

SECRET = "tok-5up3r-s3cret"
SECRETS = {"hook_token": "MILLPOND_TEST_HOOK_TOKEN"}


@pytest.fixture
def hook_factory(monkeypatch):
    monkeypatch.setenv(SECRETS["hook_token"], SECRET)
    for var in PROXY_VARIABLES:
        monkeypatch.delenv(var, raising=False)
    hooks = []

    def make(statuses=()):
        hooks.append(Hook(list(statuses)))
        return hooks[-1]

    yield make
    for hook in hooks:
        hook.close()


def webhook(url: str, **settings) -> dict:
    return {
        "webhook": {
            "url": url,
            "headers": {"Authorization": "Bearer ${secret:hook_token}"},
            "timeout": 2,
            "retries": 2,
            "retry_backoff": 0.01,
            **settings,
        }
    }


def failed_run() -> Incident:
    stages = [
        {
            "stage": "load",
            "status": "success",
            "error": None,
            "started_at": 1_700_000_000.0,
            "finished_at": 1_700_000_005.0,
        },
        {
            "stage": "clean",
            "status": "failed",
            "error": "cell 3: KeyError: 'amount'\nTraceback...",
            "started_at": 1_700_000_005.0,
            "finished_at": 1_700_000_009.0,
        },
        {
            "stage": "report",
            "status": "upstream_failed",
            "error": "upstream clean did not succeed",
            "finished_at": 1_700_000_010.0,
        },
    ]
    return incident_for_run("demo", "shop", "r1", stages, [])


def test_one_incident_is_one_post_with_the_expanded_secret_header(hook_factory, tmp_path):
    hook = hook_factory()
    spec = AlertsSpec.model_validate({"channels": [{"log": {}}, webhook(hook.url)]})
    incident = failed_run()

    results = send(incident, spec, meta_dir=tmp_path, secret_env=SECRETS)

    assert [r.ok for r in results] == [True, True]
    (request,) = hook.requests
    assert request["headers"]["Authorization"] == f"Bearer {SECRET}"
    assert request["headers"]["Content-Type"] == "application/json"
    body = json.loads(request["body"])
    assert body == json.loads(incident.to_json())
    assert (body["kind"], body["run_id"], body["started"], body["finished"]) == (
        "run_failed",
        "r1",
        "2023-11-14T22:13:20+00:00",
        "2023-11-14T22:13:30+00:00",
    )
    assert body["failed_stages"] == [{"name": "clean", "error": "cell 3: KeyError: 'amount'"}]
    assert body["blocked_stages"] == ["report"]
    assert body["summary"].startswith("[demo] shop run failed (run r1): 1 stage(s) failed: clean (cell 3")
    log_text = (tmp_path / "alerts.log").read_text()
    assert json.loads(log_text)["incident"]["run_id"] == "r1"
    assert SECRET not in log_text and all(SECRET not in r.detail + r.channel for r in results)


def test_a_secret_value_in_an_error_is_masked_in_every_channel(hook_factory, tmp_path):
    hook = hook_factory()
    out = tmp_path / "received.json"
    script = "import sys, pathlib; pathlib.Path(sys.argv[1]).write_bytes(sys.stdin.buffer.read())"
    spec = AlertsSpec.model_validate(
        {"channels": [{"log": {}}, webhook(hook.url), {"command": {"run": [sys.executable, "-c", script, str(out)]}}]}
    )
    stages = [
        {"stage": "call", "status": "failed", "error": f"cell 2: HTTPError: 403 for url 'https://api/v1?t={SECRET}'"}
    ]
    incident = incident_for_run("demo", "shop", "r1", stages, [])

    results = send(incident, spec, meta_dir=tmp_path, secret_env=SECRETS)

    assert [r.ok for r in results] == [True, True, True]
    masked = "cell 2: HTTPError: 403 for url 'https://api/v1?t=[secret:hook_token]'"
    (request,) = hook.requests
    log_line = json.loads((tmp_path / "alerts.log").read_text())
    for received in (json.loads(request["body"]), json.loads(out.read_text()), log_line["incident"]):
        assert received["failed_stages"] == [{"name": "call", "error": masked}]
        assert SECRET not in json.dumps(received)
    assert request["headers"]["Authorization"] == f"Bearer {SECRET}"  # the header is what the secret is for


def test_a_server_error_is_retried_until_delivered(hook_factory, tmp_path):
    hook = hook_factory(statuses=[500, 500, 200])
    spec = AlertsSpec.model_validate({"channels": [webhook(hook.url)]})

    (result,) = send(failed_run(), spec, meta_dir=tmp_path, secret_env=SECRETS)

    assert (result.ok, result.detail) == (True, "HTTP 200 after 3 attempt(s)")
    assert len(hook.requests) == 3


def test_a_client_error_is_not_retried(hook_factory, tmp_path):
    hook = hook_factory(statuses=[404])
    spec = AlertsSpec.model_validate({"channels": [webhook(hook.url)]})

    (result,) = send(failed_run(), spec, meta_dir=tmp_path, secret_env=SECRETS)

    assert (result.ok, len(hook.requests)) == (False, 1)
    assert result.detail.startswith("HTTP 404")


def test_a_dead_port_fails_the_channel_without_raising_or_leaking(hook_factory, tmp_path):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    url = f"http://127.0.0.1:{port}/hook?token=${{secret:hook_token}}"
    spec = AlertsSpec.model_validate({"channels": [webhook(url), {"log": {}}]})

    results = send(failed_run(), spec, meta_dir=tmp_path, secret_env=SECRETS)

    assert [(r.channel, r.ok) for r in results] == [(f"webhook http://127.0.0.1:{port}/hook", False), ("log", True)]
    assert "after 3 attempt(s)" in results[0].detail
    records = [json.loads(line) for line in (tmp_path / "alerts.log").read_text().splitlines()]
    assert [r["event"] for r in records] == ["delivery_failed", "incident"]
    assert SECRET not in (tmp_path / "alerts.log").read_text() + repr(results)


def test_an_undeclared_secret_fails_the_channel(tmp_path):
    spec = AlertsSpec.model_validate({"channels": [webhook("http://127.0.0.1:9/hook")]})

    (result,) = send(failed_run(), spec, meta_dir=tmp_path, secret_env={})

    assert not result.ok and "'hook_token' is not declared" in result.detail


def test_a_command_receives_the_incident_on_stdin(tmp_path):
    out = tmp_path / "received.json"
    script = "import sys, pathlib; pathlib.Path(sys.argv[1]).write_bytes(sys.stdin.buffer.read())"
    failing = "import sys; print('no route to pager', file=sys.stderr); sys.exit(3)"
    spec = AlertsSpec.model_validate(
        {
            "channels": [
                {"command": {"run": [sys.executable, "-c", script, str(out)]}},
                {"command": {"run": [sys.executable, "-c", failing]}},
                {"command": {"run": [str(tmp_path / "missing-program")]}},
            ]
        }
    )
    incident = failed_run()

    results = send(incident, spec, meta_dir=tmp_path, secret_env={})

    assert json.loads(out.read_text()) == json.loads(incident.to_json())
    assert [(r.ok, r.detail) for r in results] == [
        (True, "exit status 0"),
        (False, "exit status 3: no route to pager"),
        (False, f"cannot run {tmp_path / 'missing-program'}: No such file or directory"),
    ]


def test_channels_only_hear_the_triggers_they_follow(tmp_path):
    checks_only = incident_for_run(
        "demo",
        "shop",
        "r2",
        [],
        [
            {
                "table_name": "t",
                "check_name": "id is unique",
                "severity": "error",
                "status": "fail",
                "failing_rows": 4,
                "run_id": "r2",
            }
        ],
    )
    spec = AlertsSpec.model_validate(
        yaml.safe_load("""
        on: [run_failed]
        channels:
          - log: {}
          - log: {on: [check_failed]}
    """)
    )

    assert len(send(failed_run(), spec, meta_dir=tmp_path, secret_env={})) == 1
    assert len(send(checks_only, spec, meta_dir=tmp_path, secret_env={})) == 1


# -- incident_for_run -----------------------------------------------------------

CHECK = {
    "table_name": "silver.orders",
    "check_name": "order_id is unique",
    "severity": "error",
    "status": "fail",
    "failing_rows": 12,
    "run_id": "r1",
    "stage": "clean",
}


def test_nothing_failed_is_no_incident():
    stages = [{"stage": "a", "status": "success", "error": None}, {"stage": "b", "status": "skipped", "error": None}]
    warned = [CHECK | {"severity": "warn", "status": "warn"}, CHECK | {"status": "pass", "failing_rows": 0}]
    assert incident_for_run("demo", "shop", "r1", stages, warned) is None


def test_failed_error_checks_alone_are_check_failed():
    stages = [
        {
            "stage": "clean",
            "status": "failed",
            "error": "1 error check(s) failed: silver.orders: order_id is unique (12 rows)",
        },
        {"stage": "gold", "status": "upstream_failed", "error": "upstream clean did not succeed"},
    ]
    incident = incident_for_run("demo", "shop", "r1", stages, [CHECK, CHECK | {"run_id": "older", "check_name": "x"}])
    assert incident.kind == "check_failed"
    assert [(c.table, c.check, c.failing_rows) for c in incident.failed_checks] == [
        ("silver.orders", "order_id is unique", 12)
    ]
    assert incident.blocked_stages == ["gold"]
    assert incident.summary == (
        "[demo] shop checks failed (run r1): 1 error check(s) failed: "
        "silver.orders: order_id is unique (12 rows); 1 stage(s) not run"
    )


def test_a_failed_stage_makes_the_run_failed_even_with_failed_checks():
    stages = [
        {"stage": "clean", "status": "failed", "error": "1 error check(s) failed: ..."},
        {"stage": "other", "status": "timeout", "error": "timed out after 60 s"},
    ]
    incident = incident_for_run("demo", "shop", "r1", stages, [CHECK])
    assert incident.kind == "run_failed" and incident.triggers == {"run_failed", "check_failed"}
    assert [s.name for s in incident.failed_stages] == ["clean", "other"]
    assert "2 stage(s) failed: clean (1 error check(s) failed: ...), other (timed out after 60 s)" in incident.summary


ANOMALY = {
    "table_name": "silver.orders",
    "column_name": "",
    "metric": "row_count",
    "value": 12.0,
    "lower": 198.0,
    "upper": 202.0,
    "run_id": "r1",
    "stage": "clean",
}


def test_anomalies_of_a_successful_run_are_one_anomaly_incident():
    stages = [{"stage": "clean", "status": "success", "error": None}]
    other_run = ANOMALY | {"run_id": "older"}
    incident = incident_for_run(
        "demo", "shop", "r1", stages, [], [ANOMALY, ANOMALY | {"column_name": "amount", "metric": "mean"}, other_run]
    )
    assert (incident.kind, incident.triggers) == ("anomaly", {"anomaly"})
    assert [(a.table, a.column, a.metric) for a in incident.anomalies] == [
        ("silver.orders", "", "row_count"),
        ("silver.orders", "amount", "mean"),
    ]
    assert incident.summary == (
        "[demo] shop anomalies (run r1): 2 anomaly(ies): silver.orders row_count = 12, "
        "outside [198, 202], silver.orders.amount mean = 12, outside [198, 202]"
    )
    assert json.loads(incident.to_json())["anomalies"][0] == {
        "table": "silver.orders",
        "column": "",
        "metric": "row_count",
        "value": 12.0,
        "lower": 198.0,
        "upper": 202.0,
    }


def test_a_failed_run_with_anomalies_is_one_incident_matching_both_triggers(tmp_path):
    stages = [
        {"stage": "clean", "status": "success", "error": None},
        {"stage": "gold", "status": "failed", "error": "boom"},
    ]
    incident = incident_for_run("demo", "shop", "r1", stages, [], [ANOMALY])
    assert incident.kind == "run_failed" and incident.triggers == {"run_failed", "anomaly"}
    assert incident.summary.endswith(
        "1 stage(s) failed: gold (boom); 1 anomaly(ies): silver.orders row_count = 12, outside [198, 202]"
    )
    spec = AlertsSpec.model_validate({"on": ["anomaly"], "channels": [{"log": {}}, {"log": {"on": ["check_failed"]}}]})
    assert len(send(incident, spec, meta_dir=tmp_path, secret_env={})) == 1


# -- the YAML format ------------------------------------------------------------


def test_the_documented_section_parses():
    spec = AlertsSpec.model_validate(
        yaml.safe_load("""
        on: [run_failed, check_failed]
        channels:
          - log: {}
          - webhook: {url: "http://127.0.0.1:9999/hook", headers: {Authorization: "Bearer ${secret:hook_token}"}, timeout: 5, retries: 2}
          - command: {run: ["/usr/bin/env", "python3", "notify.py"]}
    """)
    )
    assert [c.kind for c in spec.channels] == ["log", "webhook", "command"]
    assert spec.channels[1].channel.headers == {"Authorization": "Bearer ${secret:hook_token}"}
    assert AlertsSpec().on == ["run_failed", "check_failed", "anomaly"] and AlertsSpec().channels == []


@pytest.mark.parametrize(
    ("channel", "message"),
    [
        ({"email": {"to": "x@example.com"}}, "unknown channel type 'email'"),
        ({"log": {}, "webhook": {"url": "http://h"}}, "exactly one key"),
        ({"webhook": {"url": "http://h", "method": "PUT"}}, "Extra inputs are not permitted"),
        ({"webhook": {"url": "ftp://h"}}, "should match pattern"),
        ({"command": {"run": []}}, "at least 1 item"),
        ({"log": {"on": ["stage_retried"]}}, "'run_failed', 'check_failed' or 'anomaly'"),
    ],
)
def test_bad_channels_are_rejected(channel, message):
    with pytest.raises(pydantic.ValidationError, match=message):
        ChannelSpec.model_validate(channel)


def test_unknown_keys_in_the_section_are_rejected():
    with pytest.raises(pydantic.ValidationError, match="Extra inputs are not permitted"):
        AlertsSpec.model_validate({"channels": [], "throttle": 5})
