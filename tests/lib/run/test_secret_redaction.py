"""A resolved secret never leaks through an error: issue 19, point 5.

A stage resolves ``ctx.secret("secret:api_token")`` and calls a real local HTTP API with
the token in its URL; the API answers 403, so the exception message holds the URL. The
run, ``millpond runs RUN_ID`` and ``millpond report`` run as the CLI does (subprocesses),
with alerts to a log and to a real local webhook. The token, raw or percent-encoded,
must appear in no file of the workspace, no console output and no webhook request; the
redaction marker must appear where the error is shown.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import sqlite3
import subprocess
import sys
from pathlib import Path
from urllib.parse import quote

import pytest

from support.stores import store_file
from support.webhook import PROXY_VARIABLES, Hook
from support.workspaces import make_workspace, write_notebook

MILLPOND = str(Path(sys.executable).parent / "millpond")
REPOSITORY = Path(__file__).resolve().parents[3]
MARKER = "[secret:api_token]"
# a token as APIs issue them (base64-like: '/', '+' and '=' change when percent-encoded)
VALUE = f"tok/{secrets.token_hex(12)}+{secrets.token_hex(4)}="
HOOK_TOKEN = f"hook-{secrets.token_hex(8)}"
FORMS = {"raw": VALUE, "percent-encoded": quote(VALUE, safe="")}


@pytest.fixture
def servers():
    """A real API that refuses every request (403), and a real webhook receiver."""
    api, hook = Hook([403] * 10), Hook()
    yield api, hook
    api.close()
    hook.close()


def environment(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in PROXY_VARIABLES}
    env.update(extra)
    return env


def millpond(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run([MILLPOND, *args], capture_output=True, text=True, timeout=300, env=env)


def leaks(data: bytes | str) -> list[str]:
    """Which forms of the token ``data`` holds."""
    raw = data.encode() if isinstance(data, str) else data
    return [name for name, form in FORMS.items() if form.encode() in raw]


def make_api_workspace(root: Path, api: Hook, hook: Hook, *, read_env_directly: bool = False) -> Path:
    """A workspace whose ``call_api`` stage calls ``api`` with the token in the URL, then a
    quality report stage (the reference's notebook) that runs whatever happened."""
    resolve = (
        "import os\ntoken = os.environ['MILLPOND_TEST_API_TOKEN']"
        if read_env_directly
        else "token = ctx.secret(api_token)"
    )
    write_notebook(
        root / "notebooks/call_api.ipynb",
        "api_token = 'secret:api_token'\napi = ''",
        "import httpx\nimport millpond as mp\nctx = mp.stage()",
        resolve,
        "url = f'{api}/v1/{token}/orders'\nprint('GET', url)",
        "response = httpx.get(url, params={'token': token})\nresponse.raise_for_status()",
    )
    report = root / "notebooks/quality_report.ipynb"
    report.parent.mkdir(parents=True, exist_ok=True)
    report.write_bytes((REPOSITORY / "notebooks/quality/41_quality_report.ipynb").read_bytes())
    api_base = api.url.removesuffix("/hook")
    spec = {
        "stages": [
            {
                "name": "call_api",
                "notebook": "notebooks/call_api.ipynb",
                "params": {"api": api_base},
                "retries": 1,
                "retry_backoff": 0.1,
            },
            {
                "name": "quality_report",
                "notebook": "notebooks/quality_report.ipynb",
                "needs": ["call_api"],
                "trigger": "all_done",
                "retries": 0,
            },
        ]
    }
    settings = {
        "name": "t",
        "secrets": {"api_token": {"env": "MILLPOND_TEST_API_TOKEN"}, "hook_token": {"env": "MILLPOND_TEST_HOOK_TOKEN"}},
        "alerts": {
            "channels": [
                {"log": {}},
                {
                    "webhook": {
                        "url": hook.url,
                        "headers": {"Authorization": "Bearer ${secret:hook_token}"},
                        "timeout": 5,
                        "retries": 0,
                    }
                },
            ]
        },
    }
    return make_workspace(root, {"p": spec}, settings)


def run_everything(root: Path, engine: str) -> tuple[str, dict[str, str], str]:
    """``millpond run``, ``millpond runs RUN_ID`` (table and JSON) and ``millpond report``:
    the run id, the console output of each (stdout and stderr), and ``stage_runs.error`` of the failed stage."""
    env = environment(MILLPOND_TEST_API_TOKEN=VALUE, MILLPOND_TEST_HOOK_TOKEN=HOOK_TOKEN, MILLPOND_ENGINE=engine)
    done = millpond("run", "p", "-C", str(root), "--plain", env=env)
    assert done.returncode == 1, done.stdout + done.stderr
    run_id = re.search(r"^\S+ run (\S+): pipeline p", done.stdout, re.M).group(1)
    console = {"run": done.stdout, "run (stderr)": done.stderr}
    for args in (["runs", run_id], ["runs", run_id, "--json"], ["report", "-o", "data/reports/by-cli.html"]):
        shown = millpond(*args, "-C", str(root), env=env)
        assert shown.returncode == 0, shown.stdout + shown.stderr
        console[" ".join(args[:1] + args[2:])] = shown.stdout + shown.stderr
    with sqlite3.connect(store_file(root)) as db:
        (error,) = db.execute(
            "SELECT error FROM stage_runs WHERE run_id = ? AND stage = 'call_api'", (run_id,)
        ).fetchone()
    return run_id, console, error


@pytest.mark.parametrize(
    ("resolved_by", "engine"),
    [
        ("ctx.secret", "warm"),
        ("ctx.secret", "papermill"),
        # the stage reads the variable itself, so its kernel knows of no secret: the runner alone masks it
        ("os.environ", "warm"),
    ],
)
def test_a_secret_in_a_failing_url_is_redacted_from_everything_the_workspace_writes_or_sends(
    tmp_path, servers, resolved_by, engine
):
    api, hook = servers
    root = make_api_workspace(tmp_path, api, hook, read_env_directly=resolved_by == "os.environ")

    run_id, console, error = run_everything(root, engine)

    # the API really got the token (raw in the path, percent-encoded in the query), twice (one retry)
    gets = [r for r in api.requests if r["method"] == "GET"]
    assert [r["path"] for r in gets] == [f"/v1/{VALUE}/orders?token={quote(VALUE, safe='')}"] * 2
    # ... and it is in no file of the workspace: notebooks, HTML, reports, alerts.log, meta.sqlite(-wal)
    files = [p for p in root.rglob("*") if p.is_file()]
    assert {p.relative_to(root).as_posix() for p in files} >= {
        f"data/runs/{run_id}/call_api.ipynb",
        f"data/runs/{run_id}/call_api.html",
        f"data/runs/{run_id}/quality_report.ipynb",
        f"data/runs/{run_id}/quality_report.html",
        f"data/reports/quality-{run_id}.html",
        "data/reports/p-quality.html",
        "data/reports/by-cli.html",
        "data/.millpond/alerts.log",
        store_file(root).relative_to(root).as_posix(),
    }
    contents = {p.relative_to(root).as_posix(): p.read_bytes() for p in files if p.exists()}  # a WAL may be gone
    assert {name: leaks(data) for name, data in contents.items() if leaks(data)} == {}
    # ... nor in the console, the store, or what the webhook received (body and headers)
    assert {command: leaks(shown) for command, shown in console.items() if leaks(shown)} == {}
    assert leaks(error) == []
    (post,) = [r for r in hook.requests if r["method"] == "POST"]
    assert leaks(post["body"]) == [] and leaks(json.dumps(post["headers"])) == []
    assert post["headers"]["Authorization"] == f"Bearer {HOOK_TOKEN}"  # the webhook's own secret is sent
    # the marker stands where the token stood: the error is shown, not dropped
    api_base = api.url.removesuffix("/hook")
    # the 6th cell run: parameters, Papermill's injected parameters, imports, the secret, the print, the call
    assert (
        error
        == f"cell 6: HTTPStatusError: Client error '403 Forbidden' for url '{api_base}/v1/{MARKER}/orders?token={MARKER}'"
    )
    assert MARKER in json.loads(post["body"])["failed_stages"][0]["error"]
    executed = json.loads((root / f"data/runs/{run_id}/call_api.ipynb").read_text())
    outputs = [o for cell in executed["cells"] for o in cell.get("outputs", [])]
    (failure,) = [o for o in outputs if o["output_type"] == "error"]
    assert MARKER in failure["evalue"] and MARKER in "".join(failure["traceback"])
    assert f"GET {api_base}/v1/{MARKER}/orders\n" in ["".join(o.get("text", [])) for o in outputs]
    for shown in (
        f"data/runs/{run_id}/call_api.html",
        f"data/reports/quality-{run_id}.html",
        "data/reports/by-cli.html",
        "data/.millpond/alerts.log",
    ):
        assert MARKER in (root / shown).read_text(), shown
    assert console["run"].count(MARKER) == 4  # the retry and the failure, each path and query
    assert console["run (stderr)"].count(MARKER) == 2  # the log channel's line
    assert MARKER in console["runs"] and console["runs --json"].count(MARKER) == 2  # (a table may wrap one)


def test_the_kernel_masks_a_resolved_secret_in_everything_it_sends(tmp_path, monkeypatch):
    """Under plain Papermill nothing masks the executed notebook afterwards: what it holds
    (a printed line, a result, a display, an error and its traceback) the kernel sent masked,
    once the value was resolved: by ``ctx.secret`` or by expanding the warehouse URL."""
    import papermill as pm

    password = f"pw-{secrets.token_hex(8)}"
    settings = {
        "name": "t",
        "warehouse": "postgres://app:${secret:wh_password}@127.0.0.1:9/db",
        "secrets": {"api_token": {"env": "MILLPOND_TEST_API_TOKEN"}, "wh_password": {"env": "MILLPOND_TEST_WH"}},
    }
    root = make_workspace(tmp_path / "ws", {}, settings)
    notebook = write_notebook(
        root / "notebooks/shows_secret.ipynb",
        "api_token = 'secret:api_token'",
        "import millpond as mp\nfrom IPython.display import HTML, display\nctx = mp.stage()",
        "print('connecting to', ctx.workspace.warehouse_url(resolve_secrets=True))",
        "token = ctx.secret(api_token)\nprint('printed', token)\ndisplay(HTML(f'<b>shown {token}</b>'))\n{'result': token}",
        "raise ValueError(f'rejected {token!r}')",
    )
    monkeypatch.setenv("MILLPOND_TEST_API_TOKEN", VALUE)
    monkeypatch.setenv("MILLPOND_TEST_WH", password)
    monkeypatch.setenv("MILLPOND_WORKSPACE", str(root))
    executed = tmp_path / "executed.ipynb"

    with pytest.raises(pm.PapermillExecutionError) as failed:
        pm.execute_notebook(str(notebook), str(executed), kernel_name="python3", progress_bar=False, cwd=str(root))

    assert leaks(executed.read_bytes()) == [] and leaks(str(failed.value)) == []
    assert password.encode() not in executed.read_bytes()
    assert (failed.value.ename, failed.value.evalue) == ("ValueError", f"rejected '{MARKER}'")
    outputs = [o for cell in json.loads(executed.read_text())["cells"] for o in cell.get("outputs", [])]
    shown = [
        ("".join(o["text"]) if "text" in o else {k: "".join(v) for k, v in o.get("data", {}).items()})
        for o in outputs
        if o["output_type"] != "error"
    ]
    assert shown == [
        "connecting to postgres://app:[secret:wh_password]@127.0.0.1:9/db\n",
        f"printed {MARKER}\n",
        {"text/html": f"<b>shown {MARKER}</b>", "text/plain": "<IPython.core.display.HTML object>"},
        {"text/plain": f"{{'result': '{MARKER}'}}"},
    ]
    (failure,) = [o for o in outputs if o["output_type"] == "error"]
    assert f"rejected '{MARKER}'" in "".join(failure["traceback"])


def test_runs_and_report_mask_a_secret_in_a_store_written_before_masking(tmp_path, monkeypatch, capsys):
    """``millpond runs RUN_ID`` and ``millpond report`` mask what an older millpond stored."""
    from millpond.cli import main
    from millpond.store.metadata import MetadataStore

    root = make_workspace(tmp_path, {}, {"name": "t", "secrets": {"api_token": {"env": "MILLPOND_TEST_API_TOKEN"}}})
    monkeypatch.setenv("MILLPOND_TEST_API_TOKEN", VALUE)
    store = MetadataStore(store_file(root))
    store.start_run("20240131T060000-ab12", "p", {}, ["call_api"])
    store.set_stage(
        "20240131T060000-ab12", "call_api", status="failed", error=f"cell 6: HTTPStatusError: for url '/v1/{VALUE}'"
    )
    store.finish_run("20240131T060000-ab12", "failed")

    for args in (["runs", "20240131T060000-ab12"], ["runs", "20240131T060000-ab12", "--json"], ["report"]):
        assert main([*args, "-C", str(root)]) == 0

    shown = capsys.readouterr()
    assert leaks(shown.out + shown.err) == [] and shown.out.count(f"/v1/{MARKER}") == 2
    page = (root / "data/reports/quality-20240131T060000-ab12.html").read_text()
    assert leaks(page) == [] and f"/v1/{MARKER}" in page


def test_masking_never_changes_the_code_that_runs(tmp_path, monkeypatch):
    """A value written literally in a notebook runs as written; only the executed copy masks it."""
    from millpond.cli import main

    root = make_workspace(
        tmp_path,
        {"p": {"stages": [{"name": "s", "notebook": "notebooks/literal.ipynb"}]}},
        {"name": "t", "secrets": {"api_token": {"env": "MILLPOND_TEST_API_TOKEN"}}},
    )
    write_notebook(
        root / "notebooks/literal.ipynb",
        "n = 1",
        "import os",
        f"same = {VALUE!r} == os.environ['MILLPOND_TEST_API_TOKEN']\nprint('same', same)\nassert same",
    )
    monkeypatch.setenv("MILLPOND_TEST_API_TOKEN", VALUE)

    assert main(["run", "p", "-C", str(root), "--plain"]) == 0

    (executed,) = (root / "data/runs").glob("*/s.ipynb")
    assert leaks(executed.read_bytes()) == []
    cells = json.loads(executed.read_text())["cells"]
    assert "".join(cells[-1]["source"]).startswith(f"same = '{MARKER}' == os.environ")
    assert "".join(cells[-1]["outputs"][0]["text"]) == "same True\n"


def test_a_secret_in_compiled_sql_a_sample_a_warning_or_a_profile_is_masked_in_the_store(tmp_path, monkeypatch):
    """A kernel that used a resolved value in a query (a filter literal), a check's violating
    rows, a warning and a built column: the metadata store holds the marker, never the value."""
    from millpond.run.runner import RunOptions, run_pipeline

    write_notebook(
        tmp_path / "notebooks/uses_secret.ipynb",
        "api_token = 'secret:api_token'",
        "import ibis\nimport millpond as mp\nctx = mp.stage()\ntoken = ctx.secret(api_token)",
        "rows = ibis.memtable({'id': [1, 2, 2], 'seen': ['a', token, token]})\n"
        "ctx.materialize(rows.filter(rows.seen != token + 'x'), 'probe.calls')",
        "ctx.warn(f'the API refused {token}')",
    )
    spec = {
        "stages": [
            {
                "name": "s",
                "notebook": "notebooks/uses_secret.ipynb",
                "produces": ["probe.calls"],
                "checks": {"probe.calls": [{"unique": {"columns": ["seen"], "severity": "warn"}}]},
            }
        ]
    }
    root = make_workspace(
        tmp_path, {"p": spec}, {"name": "t", "secrets": {"api_token": {"env": "MILLPOND_TEST_API_TOKEN"}}}
    )
    monkeypatch.setenv("MILLPOND_TEST_API_TOKEN", VALUE)
    from millpond.workspace import Workspace

    result = run_pipeline(Workspace(root), "p", RunOptions())

    assert result.exit_code == 0
    with sqlite3.connect(store_file(root)) as db:
        (sql,) = db.execute("SELECT sql FROM table_sql WHERE table_name = 'probe.calls'").fetchone()
        (warning,) = db.execute("SELECT message FROM stage_warnings").fetchone()
    assert MARKER in sql and MARKER in warning  # stored, masked
    store = [p for p in store_file(root).parent.iterdir() if p.name.startswith("meta.sqlite")]
    assert {p.name: leaks(p.read_bytes()) for p in store if leaks(p.read_bytes())} == {}
