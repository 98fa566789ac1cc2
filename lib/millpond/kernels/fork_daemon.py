"""The kept-warm fork server: one daemon per signature, serving every run that comes.

:class:`DaemonForkServer` is the client of a fork server that outlives the run that
started it (``execution: {keep_warm: SECONDS}``): it listens on a Unix socket under
``/tmp/millpond-<uid>/`` named by :func:`signature`, a digest of what its kernels depend
on (the interpreter, ``sys.path``, millpond's sources and the preloaded packages'), so an
edited module or a new package gives a new server. How the server itself serves:
:mod:`millpond.kernels.forkserver`.

Every request names the process that asks (:func:`with_lifeline`): the child it gets
dies with that process (:func:`millpond.processes.die_with`).

>>> signature(("json",), 600) == signature(("json",), 600) != signature(("json", "csv"), 600)
True
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import millpond
from millpond.kernels.preload import PRELOAD
from millpond.processes import identity, is_alive


def with_lifeline(message: dict) -> dict:
    """``message`` naming the process that asks (``watch``): the child it gets dies with it,
    however it dies (see :func:`millpond.processes.die_with`), so a killed run leaves no kernel."""
    return {**message, "watch": message.get("watch") or identity()}


class DaemonForkServer:
    """A client of the shared fork server daemon (see the module docstring); started if none
    with this signature listens."""

    def __init__(self, idle: float, preload: Sequence[str]) -> None:
        folder = _folder()
        folder.mkdir(mode=0o700, exist_ok=True)
        self.socket_path = folder / f"forkserver-{signature(preload, idle)}.sock"
        with open(folder / "forkserver.lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            if not self._answers():
                self._launch(idle, preload)
        self.pid = int(self.socket_path.with_suffix(".pid").read_text())

    def _answers(self) -> bool:
        try:
            with socket.socket(socket.AF_UNIX) as probe:
                probe.connect(str(self.socket_path))
            return True
        except OSError:
            return False

    def _launch(self, idle: float, preload: Sequence[str]) -> None:
        self.socket_path.unlink(missing_ok=True)
        with open(self.socket_path.with_suffix(".log"), "ab") as log:
            process = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "millpond.kernels.forkserver",
                    "--listen",
                    str(self.socket_path),
                    "--idle",
                    str(idle),
                    *preload,
                ],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=log,
                start_new_session=True,
                env={**os.environ, "PYDEVD_DISABLE_FILE_VALIDATION": "1"},
            )
        deadline = time.monotonic() + 120
        while not self._answers():
            if process.poll() is not None or time.monotonic() > deadline:
                process.kill()
                raise RuntimeError(
                    f"the kernel fork server did not start (log: {self.socket_path.with_suffix('.log')})"
                )
            time.sleep(0.02)

    def alive(self) -> bool:
        return self._answers()

    def fork(self, argv: Sequence[str], env: dict[str, str], cwd: str) -> int:
        """Start a kernel with ``argv`` in a new child of the daemon; return its pid."""
        return self.request({"argv": list(argv), "env": dict(env), "cwd": str(cwd)})

    def request(self, message: dict) -> int:
        """Send one request (a kernel to start, or a call to run); the child's pid."""
        request = json.dumps(with_lifeline(message))
        with socket.socket(socket.AF_UNIX) as conn:
            conn.connect(str(self.socket_path))
            conn.sendall((request + "\n").encode())
            answer = json.loads(conn.makefile().readline() or '{"error": "no answer"}')
        if "error" in answer:
            raise RuntimeError(f"the kernel fork server could not fork: {answer['error']}")
        return int(answer["pid"])

    def close(self) -> None:
        """Nothing: the daemon outlives this run, and exits once idle."""


def signature(preload: Sequence[str], idle: float = 0.0) -> str:
    """What a kernel forked from the daemon depends on: interpreter, import path, the preload
    list, and the state of millpond's sources and of the installed packages; and how long
    the daemon stays (a different ``keep_warm`` gets its own)."""

    own = [m for m in preload if m not in PRELOAD]  # a workspace's library, maybe outside site-packages
    packages = {Path(millpond.__file__).parent, *filter(None, map(_package_dir, own))}
    stamps = sorted((str(p), p.stat().st_mtime_ns) for package in packages for p in package.rglob("*.py"))
    sites = [(p, os.stat(p).st_mtime_ns) for p in sys.path if p and os.path.isdir(p)]
    text = json.dumps([sys.executable, sys.version, sys.path, list(preload), stamps, sites, idle])
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _package_dir(module: str) -> Path | None:
    """The folder of ``module``'s top-level package on ``sys.path``, found without importing
    it; ``None`` for a single-file module, a compiled one or one not found (its edits are
    then not seen: restart with ``MILLPOND_KEEP_WARM=0`` once)."""
    top = module.partition(".")[0]
    for entry in sys.path:
        folder = Path(entry or ".") / top
        if (folder / "__init__.py").is_file():
            return folder
    return None


@dataclass
class WarmEngine:
    """One shared fork server daemon of this user (``millpond engine status``)."""

    pid: int
    socket: Path
    idle_limit: float
    """Seconds without a request after which it exits by itself."""
    idle_for: float
    """Seconds since it last served a request."""
    memory_mb: float


def warm_engines() -> list[WarmEngine]:
    """The fork server daemons of this user that are running (any workspace, any version)."""
    found = []
    for pid_file in sorted(_folder().glob("forkserver-*.pid")):
        try:
            pid = int(pid_file.read_text())
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        except (OSError, ValueError):
            continue
        if b"millpond.kernels.forkserver" not in cmdline:
            continue  # gone, and its pid reused
        arguments = [a.decode() for a in cmdline]
        idle = float(arguments[arguments.index("--idle") + 1]) if "--idle" in arguments else 0.0
        rss = next(
            (line for line in Path(f"/proc/{pid}/status").read_text().splitlines() if line.startswith("VmRSS")), ""
        )
        found.append(
            WarmEngine(
                pid,
                pid_file.with_suffix(".sock"),
                idle,
                max(0.0, time.time() - pid_file.stat().st_mtime),
                int(rss.split()[1]) / 1024 if rss else 0.0,
            )
        )
    return found


def stop_warm_engines(timeout: float = 10.0) -> list[int]:
    """Stop every fork server daemon of this user (their kernels of running stages are not
    theirs to stop: a run's kernels die with their run); the pids stopped."""
    stopped = []
    for engine in warm_engines():
        with contextlib.suppress(ProcessLookupError):
            os.kill(engine.pid, signal.SIGTERM)
            stopped.append(engine.pid)
    deadline = time.monotonic() + timeout
    for pid in stopped:
        while is_alive(pid) and time.monotonic() < deadline:
            time.sleep(0.05)
        if is_alive(pid):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
    return stopped


def _folder() -> Path:
    return Path(tempfile.gettempdir()) / f"millpond-{os.getuid()}"
