"""A warm kernel factory: one process that imported everything once, forking a kernel per stage.

Starting a Jupyter kernel costs a new Python (about 0.3 s here), ipykernel (0.4 s) and
then, in the first cell, the stage's imports (Ibis, pandas, DuckDB and millpond: 1.4 s).
:class:`ForkServer` starts *one* Python that does all of those imports and then waits;
for each stage it forks a child that becomes a brand-new ipykernel on the connection file
the kernel manager wrote (:mod:`millpond.run.fork_kernel`). The child is a separate process,
so isolation is the same as a fresh kernel's: no variable, module state, open connection,
environment variable or working directory passes from one stage to the next, and a stage
that kills its kernel kills only its own process. What is shared is read-only memory of
modules imported *before* any stage ran (copy-on-write pages).

Only the server's own thread exists when it forks (it checks), so no lock held by another
thread can be copied into a child. The server exits when the process that started it closes
its pipe (or dies).

Protocol, one JSON object per line. Request: ``{"argv": [...], "env": {...}, "cwd": "..."}``
(``argv``: the kernel's arguments, e.g. ``["-f", "kernel-1.json"]``). Answer:
``{"pid": N}`` or ``{"error": "..."}``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from collections.abc import Sequence

__all__ = ["PRELOAD", "ForkServer", "fork_server"]

PRELOAD = (
    "ipykernel.kernelapp", "ipykernel.ipkernel", "ipykernel.debugger", "IPython.core.interactiveshell", "comm",
    "IPython.core.debugger", "IPython.extensions.storemagic", "pdb", "sqlite3", "faulthandler",
    "tornado.platform.asyncio", "psutil", "jupyter_client.localinterfaces",
    "pandas", "pyarrow", "duckdb", "ibis", "ibis.backends.duckdb", "sqlglot", "sqlglot.lineage",
    "millpond", "millpond.context", "millpond.warehouse.materialize",
)
"""Modules the server imports before its first fork: what a stage kernel would import anyway."""


class ForkServer:
    """A client of one fork server process; thread-safe."""

    def __init__(self, preload: Sequence[str] = PRELOAD) -> None:
        self._lock = threading.Lock()
        self.process = subprocess.Popen(
            [sys.executable, "-m", "millpond.run.forkserver", *preload],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=None, text=True, bufsize=1,
            env={**os.environ, "PYDEVD_DISABLE_FILE_VALIDATION": "1"},
        )
        ready = self.process.stdout.readline()
        if json.loads(ready or "{}").get("ready") is not True:
            raise RuntimeError(f"the kernel fork server did not start (said {ready!r})")

    def fork(self, argv: Sequence[str], env: dict[str, str], cwd: str) -> int:
        """Start a kernel with ``argv`` in a new child; return its pid."""
        request = json.dumps({"argv": list(argv), "env": dict(env), "cwd": str(cwd)})
        with self._lock:
            if self.process.poll() is not None:
                raise RuntimeError(f"the kernel fork server exited (code {self.process.returncode})")
            self.process.stdin.write(request + "\n")
            self.process.stdin.flush()
            answer = json.loads(self.process.stdout.readline() or '{"error": "no answer"}')
        if "error" in answer:
            raise RuntimeError(f"the kernel fork server could not start a kernel: {answer['error']}")
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


_SERVER: ForkServer | None = None
_SERVER_LOCK = threading.Lock()


def fork_server() -> ForkServer:
    """The process-wide fork server, started on first use and stopped at exit."""
    global _SERVER
    with _SERVER_LOCK:
        if _SERVER is None or _SERVER.process.poll() is not None:
            import atexit

            _SERVER = ForkServer()
            atexit.register(_SERVER.close)
        return _SERVER


# -- the server process ------------------------------------------------------------------


def _serve(preload: Sequence[str]) -> None:
    import importlib
    import signal

    for name in preload:
        try:
            importlib.import_module(name)
        except ImportError:  # an optional package: the stage imports it itself if it needs it
            pass
    import gc

    try:  # the kernel looks its addresses up at start (psutil); do it once, here
        from jupyter_client.localinterfaces import localhost

        localhost()
    except Exception:  # noqa: BLE001 - an optimisation only
        pass

    # Move everything imported so far out of the collector's sight: a child's collections
    # (IPython runs a full one at exit) then neither walk nor copy the shared, preloaded heap.
    gc.collect()
    gc.freeze()
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # children are reaped by the system
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
            _become_kernel(request)  # never returns
        out.write(json.dumps({"pid": pid}) + "\n")
        out.flush()


def _become_kernel(request: dict) -> None:
    import signal

    code = 1
    try:
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        os.setsid()  # its own process group, as a launched kernel has
        devnull = os.open(os.devnull, os.O_RDWR)
        os.dup2(devnull, 0)
        os.dup2(2, 1)  # never write on the server's answer pipe
        sys.stdin = open(os.devnull)
        sys.stdout = os.fdopen(1, "w", buffering=1)
        os.environ.clear()
        os.environ.update(request["env"])
        os.chdir(request["cwd"])
        sys.argv = ["ipykernel_launcher", *request["argv"]]
        from ipykernel.kernelapp import IPKernelApp

        app = IPKernelApp.instance()
        app.initialize(request["argv"])
        app.start()
        # The control thread may still be flushing the shutdown reply through the IOPub thread;
        # ipykernel's close() (at exit) stops IOPub first and then joins it: let it finish.
        control = getattr(app, "control_thread", None)
        if control is not None and control.is_alive():
            control.join(timeout=1.0)
        code = 0
        import atexit

        atexit._run_exitfuncs()  # what a normal exit runs (close connections...), without tearing down modules
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 0
    except BaseException:  # noqa: BLE001 - report and die, never return into the server loop
        import traceback

        traceback.print_exc()
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)


if __name__ == "__main__":
    _serve(sys.argv[1:])
