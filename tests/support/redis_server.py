"""A throwaway Redis server: Debian's ``redis-server`` on a free loopback port, in a temporary directory.

The test session (``tests/conftest.py``) starts one on first use, for the stream tests
that need a broker (Redis Streams). Nothing is persisted (``save ""``, no append-only
file); the server listens on ``127.0.0.1`` only and is stopped, its directory removed, on
exit. ``.ci/install-system`` installs ``redis-server``; run this file directly for a server
to work with by hand (it prints the URL; Ctrl-C stops it)::

    python tests/support/redis_server.py

>>> import redis
>>> with ThrowawayRedis() as server:
...     client = redis.Redis.from_url(server.url)
...     first = client.xadd("events", {"n": "1"})
...     [fields for _, fields in client.xrange("events")]
[{b'n': b'1'}]
"""

from __future__ import annotations

import atexit
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from types import TracebackType

__all__ = ["RedisUnavailable", "ThrowawayRedis"]

_TIMEOUT_SECONDS = 30


class RedisUnavailable(RuntimeError):
    """Redis cannot be provided here: no ``redis-server``, or it would not start."""


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class ThrowawayRedis:
    """A private ``redis-server`` on loopback, removed on exit (see the module docstring).

    Attributes
    ----------
    port : int
        The TCP port it listens on (set by :meth:`start`).
    url : str
        ``redis://127.0.0.1:<port>/0``.
    """

    def __init__(self) -> None:
        self.port: int | None = None
        self.directory: Path | None = None
        self._process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def __enter__(self) -> ThrowawayRedis:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def start(self) -> ThrowawayRedis:
        """Start the server and wait until it answers ``PING``; :class:`RedisUnavailable` otherwise."""
        if self._process is not None:
            return self
        binary = shutil.which("redis-server")
        if binary is None:
            raise RedisUnavailable("redis-server not found on PATH; install it, e.g. `apt-get install redis-server`")
        self.directory = Path(tempfile.mkdtemp(prefix="millpond-redis-"))
        self.port = _free_port()
        log = self.directory / "redis.log"
        self._process = subprocess.Popen(
            [binary, "--port", str(self.port), "--bind", "127.0.0.1", "--dir", str(self.directory)]
            + ["--save", "", "--appendonly", "no", "--logfile", str(log), "--daemonize", "no"],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        atexit.register(self.stop)
        deadline = time.monotonic() + _TIMEOUT_SECONDS
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                break
            if self._pong():
                return self
            time.sleep(0.05)
        tail = log.read_text(errors="replace")[-2000:] if log.exists() else ""
        self.stop()
        raise RedisUnavailable(f"redis-server did not start on port {self.port}: {tail.strip() or 'no log'}")

    def _pong(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port or 0), timeout=1) as sock:
                sock.sendall(b"PING\r\n")
                return sock.recv(16).startswith(b"+PONG")
        except OSError:
            return False

    def stop(self) -> None:
        """Stop the server (it persists nothing) and remove its directory."""
        if self._process is not None:
            self._process.terminate()
            try:
                self._process.wait(10)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait(10)
            self._process = None
        if self.directory is not None:
            shutil.rmtree(self.directory, ignore_errors=True)
            self.directory = None


if __name__ == "__main__":
    with ThrowawayRedis() as server:
        print(server.url, flush=True)
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            pass
