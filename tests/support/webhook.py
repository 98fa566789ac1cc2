"""A real local HTTP server that receives webhook alerts (POST) and plays an API (GET), for the tests."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

PROXY_VARIABLES = ("http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY")


class Hook:
    """A local webhook receiver: records every POST and GET, answers with the next queued status (then 200).

    A GET is recorded with an empty body; ``Hook([403] * 3)`` is an API that refuses three requests.
    """

    def __init__(self, statuses: list[int] | None = None):
        self.statuses = list(statuses or [])
        self.requests: list[dict] = []
        hook = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                self._answer(self.rfile.read(int(self.headers["Content-Length"])))

            def do_GET(self):
                self._answer(b"")

            def _answer(self, body: bytes):
                hook.requests.append(
                    {"method": self.command, "path": self.path, "headers": dict(self.headers), "body": body}
                )
                self.send_response(hook.statuses.pop(0) if hook.statuses else 200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True)
        self.thread.start()

    @property
    def bodies(self) -> list:
        """Every POST body, parsed as JSON."""
        return [json.loads(r["body"]) for r in self.requests if r["method"] == "POST"]

    def close(self):
        self.server.shutdown()
        self.server.server_close()
