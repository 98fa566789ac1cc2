"""``millpond docs --serve``: serve the docs site over HTTP for the team.

A plain :mod:`http.server` on the site folder (threaded; read-only; quiet unless a
request fails). Binds to ``127.0.0.1`` unless told otherwise, because the site lists
every table and column of the warehouse.

>>> import tempfile, pathlib, threading, urllib.request
>>> site = pathlib.Path(tempfile.mkdtemp())
>>> _ = (site / "index.html").write_text("<h1>docs</h1>")
>>> server = site_server(site, port=0)
>>> threading.Thread(target=server.serve_forever, daemon=True).start()
>>> urllib.request.urlopen(f"http://127.0.0.1:{server.server_address[1]}/").read()
b'<h1>docs</h1>'
>>> server.shutdown(); server.server_close()
"""

from __future__ import annotations

import functools
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from millpond.errors import MillpondError

__all__ = ["serve_site", "site_server"]


class _QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args) -> None:  # noqa: A002 (the base class's name)
        if len(args) > 1 and str(args[1]).startswith(("4", "5")):
            super().log_message(format, *args)


def site_server(site: Path, *, host: str = "127.0.0.1", port: int = 8000) -> ThreadingHTTPServer:
    """An HTTP server for the folder ``site`` (``port=0`` picks a free port)."""
    if not (Path(site) / "index.html").is_file():
        raise MillpondError(f"{site}: no docs site here (run `millpond docs` first)")
    handler = functools.partial(_QuietHandler, directory=str(site))
    try:
        return ThreadingHTTPServer((host, port), handler)
    except OSError as exc:
        raise MillpondError(
            f"cannot serve the docs on {host}:{port}: {exc.strerror or exc}; choose another --port"
        ) from None


def serve_site(site: Path, *, host: str = "127.0.0.1", port: int = 8000, echo=print) -> None:
    """Serve ``site`` until interrupted (Ctrl-C)."""
    server = site_server(site, host=host, port=port)
    echo(f"serving {site} at http://{host}:{server.server_address[1]}/ (Ctrl-C stops)")
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
