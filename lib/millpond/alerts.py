"""Alerts: one notification per run with problems, through the channels of ``millpond.yml``.

::

    alerts:
      on: [run_failed, check_failed, anomaly]   # the default: all three
      channels:
        - log: {}                               # a JSON line in <meta>/alerts.log, a line on stderr
        - webhook: {url: "https://hooks.example/x", headers: {Authorization: "Bearer ${secret:hook_token}"},
                    timeout: 5, retries: 2}     # a JSON POST, retried with exponential backoff
        - command: {run: [python3, notify.py], on: [run_failed]}   # the incident JSON on stdin, no shell

A run with problems is one :class:`Incident` (:func:`incident_for_run`) naming every
failed stage, failed ``error`` check and anomaly (a profile value outside the band of
the recent runs, :mod:`millpond.quality.anomaly`), also when the run succeeded;
:func:`send` delivers it once to each channel whose ``on`` matches. ``${secret:NAME}`` in a webhook's URL or headers is expanded only
when sending and never logged. Every declared secret's value is masked in what a channel
gets (the log line, the webhook's body, the command's stdin), e.g. in a stage's error.
A failing channel is reported (:class:`ChannelResult`, ``alerts.log``), never raised: an
alert must not break a run.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import re
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from tenacity import Retrying, retry_if_exception_type, stop_after_attempt, wait_exponential

from millpond.quality.anomaly import describe
from millpond.secrets import Redactor, expand_placeholders
from millpond.settings.alerts import AlertsSpec, ChannelSpec, CommandChannel, LogChannel, Trigger, WebhookChannel

__all__ = ["AlertsSpec", "Anomaly", "ChannelResult", "ChannelSpec", "Incident", "incident_for_run", "send"]

ALERTS_LOG = "alerts.log"
_STAGE_FAILED = ("failed", "timeout")
_CHECKS_FAILED_STAGE = re.compile(r"^\d+ error check\(s\) failed")
log = logging.getLogger("millpond.alerts")


@dataclass
class FailedStage:
    name: str
    error: str


@dataclass
class FailedCheck:
    table: str
    check: str
    failing_rows: int


@dataclass
class Anomaly:
    """A profile value outside its band (``column`` is ``""`` for a table-level metric)."""

    table: str
    column: str
    metric: str
    value: float | None
    lower: float | None
    upper: float | None

    def __str__(self) -> str:
        return describe(asdict(self))


@dataclass
class Incident:
    """What went wrong in one run; ``blocked_stages`` did not run because an upstream stage failed.

    ``kind`` is the worst of it: ``run_failed``, else ``check_failed``, else ``anomaly``.
    """

    kind: Trigger
    workspace: str
    pipeline: str
    run_id: str
    started: str | None = None
    finished: str | None = None
    failed_stages: list[FailedStage] = field(default_factory=list)
    blocked_stages: list[str] = field(default_factory=list)
    failed_checks: list[FailedCheck] = field(default_factory=list)
    anomalies: list[Anomaly] = field(default_factory=list)

    @property
    def triggers(self) -> set[str]:
        """The ``on`` values this incident matches: its kind, ``check_failed`` when a check failed,
        ``anomaly`` when it holds anomalies."""
        return (
            {self.kind}
            | ({"check_failed"} if self.failed_checks else set())
            | ({"anomaly"} if self.anomalies else set())
        )

    @property
    def summary(self) -> str:
        """One line saying what failed, for a chat message or a log."""
        parts = []
        if self.failed_checks:
            parts.append(
                f"{len(self.failed_checks)} error check(s) failed: "
                + _some(f"{c.table}: {c.check} ({c.failing_rows:,} rows)" for c in self.failed_checks)
            )
        if self.kind == "run_failed" and self.failed_stages:
            parts.insert(
                0,
                f"{len(self.failed_stages)} stage(s) failed: "
                + _some(f"{s.name} ({s.error})" for s in self.failed_stages),
            )
        if self.blocked_stages:
            parts.append(f"{len(self.blocked_stages)} stage(s) not run")
        if self.anomalies:
            parts.append(f"{len(self.anomalies)} anomaly(ies): " + _some(str(a) for a in self.anomalies))
        what = {"run_failed": "run failed", "check_failed": "checks failed", "anomaly": "anomalies"}[self.kind]
        return f"[{self.workspace}] {self.pipeline} {what} (run {self.run_id}): " + "; ".join(parts)

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "summary": self.summary}

    def to_json(self) -> str:
        """The incident as one line of JSON, ``summary`` included."""
        return json.dumps(self.to_dict(), sort_keys=True)


def _some(items, limit: int = 3) -> str:
    items = list(items)
    more = f", +{len(items) - limit} more" if len(items) > limit else ""
    return ", ".join(items[:limit]) + more


def _one_line(text: str | None, limit: int = 200) -> str:
    lines = (text or "").strip().splitlines()
    line = lines[0] if lines else "no error recorded"
    return line if len(line) <= limit else line[: limit - 1] + "…"


def _iso(value: float | str | None) -> str | None:
    if value is None or isinstance(value, str):
        return value
    return dt.datetime.fromtimestamp(value, dt.timezone.utc).isoformat(timespec="seconds")


def incident_for_run(
    workspace_name: str,
    pipeline: str,
    run_id: str,
    stage_runs: list[dict],
    check_results: list[dict],
    anomalies: list[dict] | None = None,
    *,
    started: float | str | None = None,
    finished: float | str | None = None,
) -> Incident | None:
    """The incident of a run, from its metadata-store rows, or ``None`` when nothing went wrong.

    Parameters
    ----------
    stage_runs
        Rows with ``stage``, ``status``, ``error`` (and ``started_at``/``finished_at``).
    check_results
        Rows with ``table_name``, ``check_name``, ``status``, ``failing_rows``, ``run_id``
        (and ``stage``); rows of other runs are ignored, ``fail`` is a failed error check.
    anomalies
        Rows of the store's ``anomalies`` table (``table_name``, ``column_name``, ``metric``,
        ``value``, ``lower``, ``upper``, ``run_id``); rows of other runs are ignored.
    started, finished
        The run's times (epoch seconds or ISO text); by default from the stage rows.

    Examples
    --------
    >>> stages = [{"stage": "a", "status": "failed", "error": "1 error check(s) failed: t: id is unique"},
    ...           {"stage": "b", "status": "upstream_failed", "error": "upstream a did not succeed"}]
    >>> checks = [{"table_name": "t", "check_name": "id is unique", "severity": "error",
    ...            "status": "fail", "failing_rows": 2, "run_id": "r1", "stage": "a"}]
    >>> print(incident_for_run("demo", "shop", "r1", stages, checks).summary)
    [demo] shop checks failed (run r1): 1 error check(s) failed: t: id is unique (2 rows); 1 stage(s) not run
    >>> incident_for_run("demo", "shop", "r1", [{"stage": "a", "status": "success", "error": None}], []) is None
    True

    A run that succeeded but whose profile left its band is an ``anomaly`` incident:

    >>> odd = [{"table_name": "silver.t", "column_name": "", "metric": "row_count", "value": 10.0,
    ...         "lower": 99.0, "upper": 101.0, "run_id": "r2"}]
    >>> incident = incident_for_run("demo", "shop", "r2", [{"stage": "a", "status": "success", "error": None}], [], odd)
    >>> incident.kind, incident.summary
    ('anomaly', '[demo] shop anomalies (run r2): 1 anomaly(ies): silver.t row_count = 10, outside [99, 101]')
    """
    checks = [r for r in check_results if r.get("status") == "fail" and r.get("run_id") in (None, run_id)]
    failed = [r for r in stage_runs if r["status"] in _STAGE_FAILED]
    blocked = [r["stage"] for r in stage_runs if r["status"] == "upstream_failed"]
    odd = [r for r in anomalies or [] if r.get("run_id") in (None, run_id)]
    if not (checks or failed or blocked or odd):
        return None
    checked_stages = {r.get("stage") for r in checks}

    def failed_by_checks(row: dict) -> bool:
        return row["stage"] in checked_stages or bool(_CHECKS_FAILED_STAGE.match(row.get("error") or ""))

    only_checks = bool(checks) and all(failed_by_checks(r) for r in failed)
    starts = [r["started_at"] for r in stage_runs if r.get("started_at") is not None]
    ends = [r["finished_at"] for r in stage_runs if r.get("finished_at") is not None]
    kind = "check_failed" if only_checks else "run_failed" if failed or blocked else "anomaly"
    return Incident(
        kind=kind,
        workspace=workspace_name,
        pipeline=pipeline,
        run_id=run_id,
        started=_iso(started if started is not None else min(starts, default=None)),
        finished=_iso(finished if finished is not None else max(ends, default=None)),
        failed_stages=[FailedStage(r["stage"], _one_line(r.get("error"))) for r in failed],
        blocked_stages=blocked,
        failed_checks=[FailedCheck(r["table_name"], r["check_name"], int(r["failing_rows"])) for r in checks],
        anomalies=[
            Anomaly(r["table_name"], r.get("column_name") or "", r["metric"], r["value"], r["lower"], r["upper"])
            for r in odd
        ],
    )


@dataclass
class ChannelResult:
    """How delivering to one channel went; ``detail`` is one line and never holds a secret."""

    channel: str
    ok: bool
    detail: str


class _Retryable(Exception):
    """A webhook failure worth another try: no connection, a timeout, HTTP 408, 429 or 5xx."""


def send(
    incident: Incident, spec: AlertsSpec, *, meta_dir: Path, secret_env: Mapping[str, str], root: Path | None = None
) -> list[ChannelResult]:
    """Deliver ``incident`` to every channel of ``spec`` whose ``on`` matches it.

    Parameters
    ----------
    meta_dir
        The workspace's metadata folder; ``alerts.log`` lives there.
    secret_env
        Secret name to environment variable name, as declared in ``millpond.yml``.
    root
        The folder a ``command`` runs in (the workspace root); default the current one.

    Examples
    --------
    >>> import tempfile
    >>> meta = Path(tempfile.mkdtemp())
    >>> incident = Incident("run_failed", "demo", "shop", "r1", failed_stages=[FailedStage("a", "boom")])
    >>> spec = AlertsSpec(channels=[{"log": {}}, {"log": {"on": ["check_failed"]}}])
    >>> send(incident, spec, meta_dir=meta, secret_env={})
    [ChannelResult(channel='log', ok=True, detail='written to alerts.log')]
    >>> json.loads((meta / "alerts.log").read_text())["incident"]["run_id"]
    'r1'
    """
    redactor = Redactor.from_environment(secret_env)
    record = redactor.data(incident.to_dict())
    body = json.dumps(record, sort_keys=True)
    results = []
    for declared in spec.channels:
        channel = declared.channel
        if not incident.triggers & set(channel.on if channel.on is not None else spec.on):
            continue
        label = _label(declared)
        try:
            if isinstance(channel, LogChannel):
                _append(meta_dir, {"event": "incident", "incident": record})
                print(f"millpond alert: {record['summary']}", file=sys.stderr)
                detail = f"written to {ALERTS_LOG}"
            elif isinstance(channel, WebhookChannel):
                detail = _post(channel, body, secret_env)
            else:
                detail = _run_command(channel, body, root)
            results.append(ChannelResult(label, True, detail))
        except Exception as exc:  # noqa: BLE001 - an alert must never break the run
            detail = redactor.text(_one_line(str(exc) or type(exc).__name__))
            results.append(ChannelResult(label, False, detail))
            log.warning("alert for run %s not delivered to %s: %s", incident.run_id, label, detail)
            _append(
                meta_dir,
                {"event": "delivery_failed", "run_id": incident.run_id, "channel": label, "detail": detail},
                must=False,
            )
    return results


def _label(declared: ChannelSpec) -> str:
    """How a result names its channel: the unexpanded URL without query or user, or the program."""
    channel = declared.channel
    if isinstance(channel, WebhookChannel):
        return "webhook " + re.sub(r"^(https?://)[^/@]*@", r"\1", channel.url.split("?")[0])
    if isinstance(channel, CommandChannel):
        return f"command {channel.run[0]}"
    return "log"


def _append(meta_dir: Path, record: dict[str, Any], must: bool = True) -> None:
    """Add ``record`` as a JSON line to ``alerts.log``; ``must=False`` only warns when it cannot."""
    at = dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")
    try:
        meta_dir.mkdir(parents=True, exist_ok=True)
        with open(meta_dir / ALERTS_LOG, "a", encoding="utf-8") as f:
            f.write(json.dumps({"at": at, **record}, sort_keys=True) + "\n")
    except OSError as exc:
        if must:
            raise
        log.warning("could not write %s: %s", meta_dir / ALERTS_LOG, exc)


def _post(channel: WebhookChannel, body: str, secret_env: Mapping[str, str]) -> str:
    url = expand_placeholders(channel.url, secret_env)
    headers = {"User-Agent": "millpond-alerts"}
    headers.update({k: expand_placeholders(v, secret_env) for k, v in channel.headers.items()})
    headers["Content-Type"] = "application/json"
    request = urllib.request.Request(url, data=body.encode(), headers=headers, method="POST")

    def attempt() -> int:
        try:
            with urllib.request.urlopen(request, timeout=channel.timeout) as response:
                return response.status
        except urllib.error.HTTPError as exc:
            exc.close()
            if exc.code in (408, 429) or exc.code >= 500:
                raise _Retryable(f"HTTP {exc.code} {exc.reason}") from None
            raise RuntimeError(f"HTTP {exc.code} {exc.reason} (not retried)") from None
        except (urllib.error.URLError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            raise _Retryable(f"no response: {reason}") from None

    backoff = channel.retry_backoff
    retrying = Retrying(
        stop=stop_after_attempt(channel.retries + 1),
        retry=retry_if_exception_type(_Retryable),
        wait=wait_exponential(multiplier=backoff, min=backoff, max=max(backoff, 30)),
        reraise=True,
    )
    attempts = lambda: f"{retrying.statistics.get('attempt_number', 1)} attempt(s)"  # noqa: E731
    try:
        status = retrying(attempt)
    except _Retryable as exc:
        raise RuntimeError(f"{exc} (after {attempts()})") from None
    return f"HTTP {status} after {attempts()}"


def _run_command(channel: CommandChannel, body: str, root: Path | None) -> str:
    try:
        done = subprocess.run(
            channel.run, input=body.encode(), capture_output=True, timeout=channel.timeout, cwd=root, check=False
        )
    except subprocess.TimeoutExpired:
        raise RuntimeError(f"timed out after {channel.timeout:g} s") from None
    except OSError as exc:
        raise RuntimeError(f"cannot run {channel.run[0]}: {exc.strerror or exc}") from None
    if done.returncode != 0:
        stderr = done.stderr.decode(errors="replace").strip().splitlines()
        raise RuntimeError(f"exit status {done.returncode}" + (f": {stderr[-1]}" if stderr else ""))
    return "exit status 0"
