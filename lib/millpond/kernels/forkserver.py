"""A warm kernel factory: one process that imported everything once, forking a kernel per stage.

Starting a Jupyter kernel costs a new Python (about 0.3 s here), ipykernel (0.4 s) and
then, in the first cell, the stage's imports (Ibis, pandas, DuckDB and millpond: 1.4 s).
:class:`ForkServer` starts *one* Python that does all of those imports and then waits;
for each stage it forks a child that becomes a brand-new ipykernel on the connection file
the kernel manager wrote (:mod:`millpond.kernels.fork_kernel`). The child is a separate process,
so isolation is the same as a fresh kernel's: no variable, module state, open connection,
environment variable or working directory passes from one stage to the next, and a stage
that kills its kernel kills only its own process. What is shared is read-only memory of
modules imported *before* any stage ran (copy-on-write pages).

Only the server's own thread exists when it forks (it checks), so no lock held by another
thread can be copied into a child. The server exits when the process that started it closes
its pipe (or dies).

**Kept warm between runs.** Importing everything takes the server about 2.5 s here, paid by
the first stage of every run. With ``execution: {keep_warm: SECONDS}`` in ``millpond.yml``
(default 600; ``MILLPOND_KEEP_WARM`` overrides, ``0`` turns it off) the server is a small
daemon instead (:class:`DaemonForkServer`): it listens on a Unix socket under
``/tmp/millpond-<uid>/``, named by a signature of the interpreter, ``sys.path``, millpond's
sources and those of the workspace's preloaded packages (an edited module or a new package
gives a new server), serves every run that comes within ``SECONDS`` of the last, and exits
after that long with no request and no kernel of its own alive. Kernels are forked exactly as before, so isolation is unchanged.

Protocol, one JSON object per line. Request: ``{"argv": [...], "env": {...}, "cwd": "..."}``
(``argv``: the kernel's arguments, e.g. ``["-f", "kernel-1.json"]``). Answer:
``{"pid": N}`` or ``{"error": "..."}``.
"""

from __future__ import annotations

import atexit
import contextlib
import gc
import importlib
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from pathlib import Path

from millpond.environment import ENV_VARIABLE, active_env
from millpond.errors import MillpondError
from millpond.kernels.fork_children import become_kernel, run_call
from millpond.kernels.fork_daemon import DaemonForkServer, with_lifeline
from millpond.kernels.preload import PRELOAD
from millpond.processes import identity, is_alive

__all__ = ["PRELOAD", "DaemonForkServer", "ForkServer", "call_forked", "configure", "fork_server"]

WARM_UP_LATER = ("millpond.kernels.warm_paths:exercise", "millpond.kernels.notebook_html:warm_up")
"""Called once the server has answered its first request (while the first stage runs), so
they never delay it: a typical stage's code paths run once (first-use caches of Ibis and
sqlglot, inherited by every later kernel) and nbconvert for the HTML copies."""


class ForkServer:
    """A client of one fork server process; thread-safe."""

    def __init__(self, preload: Sequence[str] = PRELOAD) -> None:
        self._lock = threading.Lock()
        self.process = subprocess.Popen(
            [sys.executable, "-m", "millpond.kernels.forkserver", *preload],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=None,
            text=True,
            bufsize=1,
            env={**os.environ, "PYDEVD_DISABLE_FILE_VALIDATION": "1"},
        )
        ready = self.process.stdout.readline()
        if json.loads(ready or "{}").get("ready") is not True:
            raise RuntimeError(f"the kernel fork server did not start (said {ready!r})")

    @property
    def pid(self) -> int:
        return self.process.pid

    def alive(self) -> bool:
        return self.process.poll() is None

    def fork(self, argv: Sequence[str], env: dict[str, str], cwd: str) -> int:
        """Start a kernel with ``argv`` in a new child; return its pid."""
        return self.request({"argv": list(argv), "env": dict(env), "cwd": str(cwd)})

    def request(self, message: dict) -> int:
        """Send one request (a kernel to start, or a call to run); the child's pid."""
        request = json.dumps(with_lifeline(message))
        with self._lock:
            if self.process.poll() is not None:
                raise RuntimeError(f"the kernel fork server exited (code {self.process.returncode})")
            self.process.stdin.write(request + "\n")
            self.process.stdin.flush()
            answer = json.loads(self.process.stdout.readline() or '{"error": "no answer"}')
        if "error" in answer:
            raise RuntimeError(f"the kernel fork server could not fork: {answer['error']}")
        return int(answer["pid"])

    def close(self) -> None:
        with self._lock:
            if self.process.poll() is None:
                self.process.stdin.close()
                try:
                    self.process.wait(timeout=5)
                except subprocess.TimeoutExpired:
                    self.process.kill()
                    self.process.wait()


_SERVER: ForkServer | DaemonForkServer | None = None
_SERVER_LOCK = threading.Lock()
KEEP_WARM_DEFAULT = 600.0
_keep_warm: float | None = None
_extra_preload: tuple[str, ...] = ()


def configure(keep_warm: float | None = None, preload: Sequence[str] = ()) -> None:
    """Settings of the next :func:`fork_server` (``execution:`` in ``millpond.yml``).

    ``keep_warm``: how long a fork server outlives the run that started it
    (``MILLPOND_KEEP_WARM`` wins). ``preload``: modules imported before the first fork,
    besides :data:`PRELOAD` (a workspace's own library); the daemon's signature covers
    their packages' sources, so an edit gives a new server.
    """
    global _keep_warm, _extra_preload
    _keep_warm = keep_warm
    _extra_preload = tuple(m for m in preload if m not in PRELOAD)


def _keep_warm_seconds() -> float:
    value = os.environ.get("MILLPOND_KEEP_WARM")
    if value is not None:
        try:
            return max(0.0, float(value))
        except ValueError:
            return 0.0
    return KEEP_WARM_DEFAULT if _keep_warm is None else max(0.0, _keep_warm)


def fork_server() -> ForkServer | DaemonForkServer:
    """The process's fork server: the shared daemon when kept warm, else one for this process
    (started on first use, stopped at exit)."""
    global _SERVER
    with _SERVER_LOCK:
        if _SERVER is None or not _SERVER.alive():
            idle, preload = _keep_warm_seconds(), PRELOAD + _extra_preload
            if idle > 0:
                _SERVER = DaemonForkServer(idle, preload)
            else:
                _SERVER = ForkServer(preload)
                atexit.register(_SERVER.close)
        return _SERVER


# -- the server process ------------------------------------------------------------------


def _serve(preload: Sequence[str], listen: str | None = None, idle: float = 0.0) -> None:
    for name in preload:
        try:
            importlib.import_module(name)
        except Exception:  # noqa: BLE001 - missing or broken: the stage imports it itself and reports it
            pass
    try:  # the kernel looks its addresses up at start (psutil); do it once, here
        from jupyter_client.localinterfaces import localhost

        localhost()
    except Exception:  # noqa: BLE001 - an optimisation only
        pass

    _freeze_heap()
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # children are reaped by the system
    if listen is not None:
        _serve_socket(listen, idle)
        return
    out = sys.stdout
    out.write(json.dumps({"ready": True}) + "\n")
    out.flush()
    for line in sys.stdin:
        try:
            request = json.loads(line)
            threads = threading.active_count()
            if threads != 1:
                raise RuntimeError(f"{threads} threads in the fork server; forking would copy their locks")
            pid = os.fork()
        except Exception as exc:  # a bad request or no fork: say so, keep serving
            out.write(json.dumps({"error": f"{type(exc).__name__}: {exc}"}) + "\n")
            out.flush()
            continue
        if pid == 0:
            (run_call if "call" in request else become_kernel)(request)  # never returns
        out.write(json.dumps({"pid": pid}) + "\n")
        out.flush()
        if WARM_UP_LATER:
            _warm_up_later()


def _freeze_heap() -> None:
    """Move everything imported so far out of the collector's sight: a child's collections
    (IPython runs a full one at exit) then neither walk nor copy the shared, preloaded heap."""
    gc.collect()
    gc.freeze()


def _warm_up_later() -> None:
    """Run :data:`WARM_UP_LATER` (once); a failure only means the child does it itself."""
    global WARM_UP_LATER
    for target in WARM_UP_LATER:
        module, _, function = target.partition(":")
        with contextlib.suppress(Exception):
            getattr(importlib.import_module(module), function)()
    WARM_UP_LATER = ()
    _freeze_heap()


def _serve_socket(path: str, idle: float) -> None:
    """Serve fork requests on the Unix socket ``path`` until ``idle`` seconds pass with no
    request and no kernel of this server alive."""

    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))  # stopped: still clean up below
    listener = socket.socket(socket.AF_UNIX)
    listener.bind(path)
    listener.listen(16)
    pid_file = Path(path).with_suffix(".pid")
    pid_file.write_text(str(os.getpid()))
    listener.settimeout(min(idle, 5.0))
    kernels: list[int] = []
    last = time.monotonic()
    try:
        while True:
            try:
                conn, _ = listener.accept()
            except TimeoutError:
                kernels = [pid for pid in kernels if is_alive(pid)]
                if not kernels and time.monotonic() - last > idle:
                    return
                continue
            last = time.monotonic()
            with contextlib.suppress(OSError):
                os.utime(pid_file)  # when it last served: `millpond engine status`
            with conn:
                conn.settimeout(10.0)
                try:
                    request = json.loads(conn.makefile().readline())
                    threads = threading.active_count()
                    if threads != 1:
                        raise RuntimeError(f"{threads} threads in the fork server; forking would copy their locks")
                    pid = os.fork()
                except Exception as exc:  # noqa: BLE001 - a bad request or no fork: say so, keep serving
                    with contextlib.suppress(OSError):
                        conn.sendall((json.dumps({"error": f"{type(exc).__name__}: {exc}"}) + "\n").encode())
                    continue
                if pid == 0:
                    listener.close()
                    conn.close()
                    (run_call if "call" in request else become_kernel)(request)  # never returns
                kernels.append(pid)
                with contextlib.suppress(OSError):
                    conn.sendall((json.dumps({"pid": pid}) + "\n").encode())
            if WARM_UP_LATER:
                _warm_up_later()
    finally:
        listener.close()
        with contextlib.suppress(OSError):
            os.unlink(path)
        with contextlib.suppress(OSError):
            Path(path).with_suffix(".pid").unlink()
        with contextlib.suppress(OSError):
            log = Path(path).with_suffix(".log")
            if log.stat().st_size == 0:
                log.unlink()


def call_forked(target: str, payload: dict, *, timeout: float = 3600.0):
    """Run ``module:function(**payload)`` in a child of the fork server, which has Ibis, pandas
    and DuckDB imported already, and return what it returned (JSON). The caller imports none
    of them. A :class:`~millpond.errors.MillpondError` in the child is raised again here."""
    server = fork_server()
    with tempfile.TemporaryDirectory(prefix="millpond-call-") as folder:
        result = Path(folder) / "result.json"
        pid = server.request(
            {
                "call": target,
                "payload": payload,
                "result": str(result),
                "env": {**os.environ, "MILLPOND_RUNNER": json.dumps(identity()), ENV_VARIABLE: active_env()},
                "cwd": os.getcwd(),
            }
        )
        deadline = time.monotonic() + timeout
        try:
            while is_alive(pid):
                if time.monotonic() > deadline:
                    raise RuntimeError(f"{target} did not finish within {timeout:.0f} s")
                time.sleep(0.005)
        except BaseException:  # out of time, or interrupted: the child must not go on alone
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, 9)
            raise
        try:
            answer = json.loads(result.read_text())
        except (OSError, ValueError):
            answer = {"error": f"{target} died without an answer (see the fork server's stderr)"}
    if "error" in answer:
        raise (MillpondError if answer.get("user") else RuntimeError)(answer["error"])
    return answer["ok"]


if __name__ == "__main__":
    arguments = sys.argv[1:]
    listen_at, idle_for = None, 0.0
    while arguments[:1] in (["--listen"], ["--idle"]):
        option, value, arguments = arguments[0], arguments[1], arguments[2:]
        listen_at, idle_for = (value, idle_for) if option == "--listen" else (listen_at, float(value))
    _serve(arguments, listen_at, idle_for)
