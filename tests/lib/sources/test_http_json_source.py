"""The ``http_json`` source against a local HTTP server the tests start, which pages its
records four ways and injects failures: 5xx, timeouts, dropped connections, 429 with a
``Retry-After`` (0 included), a cursor that loops, a body that is not JSON. Expected rows
are the server's own records."""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse

import pytest
import yaml

import millpond as mp
from millpond.cli import main
from millpond.warehouse.connect import connect
from millpond.warehouse.sql import fetch

RECORDS = [{"id": i, "name": f"n{i}", "tags": [f"t{i % 3}"], "meta": {"rank": i * 10}} for i in range(1, 26)]
TOKEN = "tok-8c1f-secret"
SIZE = 10


class Api(BaseHTTPRequestHandler):
    faults: dict[str, list[str]] = {}
    hits: list[tuple[float, str]] = []

    def log_message(self, *args) -> None:  # quiet
        pass

    def _send(self, status: int, body, headers: dict | None = None) -> None:
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        self.send_response(status)
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:  # noqa: N802 - the stdlib's name
        url = urlparse(self.path)
        query = {k: v[0] for k, v in parse_qs(url.query).items()}
        Api.hits.append((time.monotonic(), self.path))
        pending = Api.faults.get(url.path, [])
        if pending:
            fault = pending.pop(0)
            if fault == "timeout":
                time.sleep(1.0)
                return self._send(200, [])
            if fault == "drop":
                self.close_connection = True
                self.wfile.flush()
                self.connection.shutdown(2)
                return None
            if fault.startswith("429"):
                return self._send(429, {"error": "slow down"}, {"Retry-After": fault.split(":")[1]})
            return self._send(int(fault), {"error": "boom"})
        if url.path == "/secure" and self.headers.get("Authorization") != f"Bearer {TOKEN}":
            return self._send(401, {"error": "no"})
        if url.path in ("/page", "/secure"):
            n = int(query.get("page", 1))
            return self._send(200, {"data": RECORDS[(n - 1) * SIZE : n * SIZE]})
        if url.path == "/offset":
            k = int(query.get("offset", 0))
            return self._send(200, RECORDS[k : k + SIZE])
        if url.path == "/cursor":
            k = int(query.get("cursor", 0))
            following = k + SIZE if k + SIZE < len(RECORDS) else None
            return self._send(200, {"items": RECORDS[k : k + SIZE], "next": following})
        if url.path == "/link":
            k = int(query.get("at", 0))
            headers = {"Link": f'</link?at={k + SIZE}>; rel="next"'} if k + SIZE < len(RECORDS) else {}
            return self._send(200, RECORDS[k : k + SIZE], headers)
        if url.path == "/loop":
            return self._send(200, {"items": RECORDS[:1], "next": "same"})
        if url.path == "/html":
            return self._send(200, b"<html>oops</html>")
        return self._send(404, {"error": "none"})


class QuietServer(ThreadingHTTPServer):
    def handle_error(self, request, client_address) -> None:  # a dropped connection is on purpose
        pass


@pytest.fixture(scope="module")
def api():
    server = QuietServer(("127.0.0.1", 0), Api)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


@pytest.fixture(autouse=True)
def _fresh(monkeypatch):
    Api.faults, Api.hits = {}, []
    monkeypatch.setenv("API_TOKEN", TOKEN)


def _workspace(root, url: str, **options):
    (root / "pipelines").mkdir(exist_ok=True)
    (root / "millpond.yml").write_text(yaml.safe_dump({"name": "h", "secrets": {"api_token": {"env": "API_TOKEN"}}}))
    source = {"kind": "http_json", "target": "bronze.items", "options": {"url": url, "primary_key": ["id"], **options}}
    if options.pop("_token", None) or url.endswith("/secure"):
        source["secrets"] = {"token": "secret:api_token"}
    stage = {"name": "ingest", "notebook": "ingest.ipynb", "produces": ["bronze.items"]}
    (root / "pipelines/h.yml").write_text(yaml.safe_dump({"sources": {"api": source}, "stages": [stage]}))
    from support.workspaces import write_notebook

    write_notebook(root / "ingest.ipynb", "", "import millpond as mp\nctx = mp.stage()", "ctx.load('api')")
    return root


def _load(root):
    ctx = mp.stage(root)
    try:
        return ctx.load("api")
    finally:
        ctx.close()


def _rows(root) -> list:
    from millpond.workspace import Workspace

    con = connect(Workspace(root))
    try:
        return [tuple(r) for r in fetch(con, "SELECT id, name, tags, meta FROM bronze.items ORDER BY id")]
    finally:
        con.disconnect()


EXPECTED = [(r["id"], r["name"], r["tags"], r["meta"]) for r in RECORDS]


@pytest.mark.parametrize(
    ("path", "paginate", "records"),
    [
        ("/page", {"kind": "page"}, "data"),
        ("/offset", {"kind": "offset", "param": "offset", "size": SIZE, "size_param": "limit"}, None),
        ("/cursor", {"kind": "cursor", "param": "cursor", "cursor_path": "next"}, "items"),
        ("/link", {"kind": "link"}, None),
    ],
)
def test_every_pagination_loads_every_record_once_nested_values_kept(
    tmp_path, api, monkeypatch, path, paginate, records
):
    monkeypatch.setenv("MILLPOND_ENV", "prod")
    options = {"paginate": paginate, **({"records": records} if records else {})}
    root = _workspace(tmp_path, api + path, **options)
    loaded = _load(root)
    assert _rows(root) == EXPECTED
    assert loaded.counts["records"] == len(RECORDS)
    _load(root)  # read again: merged on the key, never doubled
    assert _rows(root) == EXPECTED


def test_failures_are_retried_and_a_zero_retry_after_does_not_spin(tmp_path, api, monkeypatch):
    monkeypatch.setenv("MILLPOND_ENV", "prod")
    Api.faults = {"/page": ["500", "timeout", "drop", "429:0", "429:0"]}
    root = _workspace(
        tmp_path, api + "/page", records="data", paginate={"kind": "page"}, timeout=0.5, backoff=0.2, retries=6
    )
    loaded = _load(root)
    assert _rows(root) == EXPECTED
    assert loaded.counts["requests"] == 5 + 4  # five failures, then pages 1, 2, 3 and the empty 4th
    times = [t for t, path in Api.hits]
    gaps = [b - a for a, b in zip(times[2:5], times[3:6], strict=True)]  # after the drop, each 429, to the success
    assert min(gaps) >= 0.05 * 0.9  # never less than the backoff, whatever Retry-After says


def test_a_rate_limit_paces_the_requests(tmp_path, api, monkeypatch):
    monkeypatch.setenv("MILLPOND_ENV", "prod")
    root = _workspace(tmp_path, api + "/page", records="data", paginate={"kind": "page"}, rate_limit=8)
    t0 = time.monotonic()
    _load(root)
    assert len(Api.hits) == 4 and time.monotonic() - t0 >= 3 / 8


@pytest.mark.parametrize(
    ("path", "options", "faults", "message"),
    [
        (
            "/page",
            {"retries": 2, "backoff": 0.05},
            ["503", "503", "503"],
            "/page: 503 Service Unavailable after 3 attempts",
        ),
        ("/missing", {}, [], "/missing: 404 Not Found"),
        (
            "/loop",
            {"paginate": {"kind": "cursor", "param": "c"}, "records": "items"},
            [],
            "the API gave the same next page twice",
        ),
        ("/html", {}, [], "the answer is not JSON"),
        ("/secure", {"records": "data", "token": "wrong"}, [], "/secure: 401 Unauthorized"),
    ],
)
def test_a_failing_api_fails_the_load_in_one_line_without_the_token(
    tmp_path, api, capsys, path, options, faults, message
):
    Api.faults = {path: list(faults)}
    root = _workspace(tmp_path, api + path, **options)
    if path == "/secure":  # the wrong token as given, the right one from the secret: the secret wins
        spec = root / "pipelines/h.yml"
        spec.write_text(spec.read_text().replace("token: wrong", "token: x"))
        Api.faults = {"/secure": ["401"]}
    assert main(["run", "h", "-C", str(root), "--plain"]) == 1
    out = capsys.readouterr()
    shown = out.out + out.err
    assert message in shown and "Traceback" not in shown and TOKEN not in shown, shown
    assert not [p for p in root.rglob("*") if p.is_file() and TOKEN.encode() in p.read_bytes()]


def test_the_token_is_sent_and_never_written(tmp_path, api, monkeypatch):
    monkeypatch.setenv("MILLPOND_ENV", "prod")
    root = _workspace(tmp_path, api + "/secure", records="data", paginate={"kind": "page"})
    _load(root)
    assert _rows(root) == EXPECTED
    assert not [p for p in root.rglob("*") if p.is_file() and TOKEN.encode() in p.read_bytes()]
