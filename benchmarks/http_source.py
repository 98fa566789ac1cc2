"""The ``http_json`` source against a local HTTP server: pages/s, with and without injected faults.

A threaded stdlib server serves ``--pages`` pages of ``--size`` JSON records. Timed in this
process, alternating, the floor first:

A. the floor: an ``httpx.Client`` loop fetching every page and parsing its JSON, nothing else;
B. ``ctx.load`` of an ``http_json`` source paging the same endpoint into a fresh DuckDB file
   (pages fetched, records to Arrow, merged on ``id``, state and build recorded);
C. the same with every 10th page failing once with a 503 (retried after ``backoff`` 10 ms).

    .venv/bin/python benchmarks/http_source.py [--pages 200] [--size 100] [--repeat 3]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import httpx
import yaml

os.environ["MILLPOND_ENV"] = "prod"
import millpond as mp  # noqa: E402
import millpond.sources  # noqa: E402, F401 - imported before the clock starts


def serve(pages: int, size: int, failing: set[int]):
    body = {
        n: json.dumps({"data": [{"id": n * size + i, "name": f"r{i}", "v": i * 1.5} for i in range(size)]}).encode()
        for n in range(1, pages + 1)
    }
    empty = json.dumps({"data": []}).encode()

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args) -> None:
            pass

        def do_GET(self) -> None:  # noqa: N802
            page = int(parse_qs(urlparse(self.path).query).get("page", ["1"])[0])
            if page in failing:
                failing.discard(page)
                self.send_response(503)
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            data = body.get(page, empty)
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def floor(url: str) -> float:
    t0 = time.perf_counter()
    with httpx.Client() as client:
        page = 1
        while client.get(url, params={"page": page}).json()["data"]:
            page += 1
    return time.perf_counter() - t0


def load(url: str) -> float:
    root = Path(tempfile.mkdtemp(prefix="millpond-http-"))
    (root / "pipelines").mkdir()
    (root / "millpond.yml").write_text("name: h\n")
    source = {
        "kind": "http_json",
        "target": "bronze.items",
        "options": {
            "url": url,
            "primary_key": ["id"],
            "records": "data",
            "paginate": {"kind": "page"},
            "backoff": 0.01,
        },
    }
    stage = {"name": "ingest", "notebook": "i.ipynb", "produces": ["bronze.items"]}
    (root / "pipelines/h.yml").write_text(yaml.safe_dump({"sources": {"api": source}, "stages": [stage]}))
    t0 = time.perf_counter()
    ctx = mp.stage(root)
    ctx.load("api")
    ctx.close()
    seconds = time.perf_counter() - t0
    shutil.rmtree(root, ignore_errors=True)
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pages", type=int, default=200)
    parser.add_argument("--size", type=int, default=100)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    failing: set[int] = set()
    server = serve(args.pages, args.size, failing)
    url = f"http://127.0.0.1:{server.server_address[1]}/items"
    samples: dict[str, list[float]] = {"floor": [], "ctx.load": [], "ctx.load, faults": []}
    for round_ in range(args.repeat + 1):  # the first round warms up and is not counted
        results = {"floor": floor(url), "ctx.load": load(url)}
        failing.update(range(10, args.pages + 1, 10))
        results["ctx.load, faults"] = load(url)
        if round_:
            for name, seconds in results.items():
                samples[name].append(seconds)
    server.shutdown()
    requests = args.pages + 1  # and the empty page that ends it
    base = statistics.median(samples["floor"])
    print(f"{args.pages} pages of {args.size} records from a local server; median of {args.repeat}, alternating")
    for name, values in samples.items():
        seconds = statistics.median(values)
        print(f"  {name:<18} {seconds:6.2f} s  {requests / seconds:8,.0f} pages/s   {seconds / base:5.2f}x the floor")
    print(f"  (with faults: {len(range(10, args.pages + 1, 10))} pages answered 503 once, each retried after 10 ms)")


if __name__ == "__main__":
    main()
