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

import contextlib
import fcntl
import json
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from pathlib import Path

__all__ = ["PRELOAD", "ForkServer", "fork_server"]

PRELOAD = (
    "ipykernel.kernelapp", "ipykernel.ipkernel", "ipykernel.debugger", "IPython.core.interactiveshell", "comm",
    "IPython.core.debugger", "IPython.extensions.storemagic", "pdb", "sqlite3", "faulthandler",
    "tornado.platform.asyncio", "psutil", "jupyter_client.localinterfaces",
    "pandas", "pyarrow", "duckdb", "ibis", "ibis.backends.duckdb", "sqlglot", "sqlglot.lineage",
    "millpond", "millpond.context", "millpond.warehouse.materialize",
    # what ctx.materialize, ctx.check and the monitors import on first use (about 0.3 s a stage)
    "pyarrow.dataset", "pyarrow.parquet", "ibis.formats.pyarrow", "ibis.formats.pandas",
    "ibis.backends.duckdb.converter", "ibis.expr.types.groupby", "pandas.io.formats.html",
    "IPython.core.completerlib", "millpond.store.metadata", "millpond.store.monitoring",
    "millpond.pipeline.tables", "millpond.pipeline.products", "millpond.pipeline.params",
    "millpond.warehouse.evolution", "millpond.warehouse.contracts", "millpond.warehouse.incremental",
    "millpond.warehouse.versions", "millpond.warehouse.lake", "millpond.warehouse.lake_delta",
    "millpond.lineage.compiled", "millpond.quality.declared", "millpond.quality.builtin",
    "millpond.quality.monitors", "millpond.quality.counting", "millpond.run.checks", "millpond.model",
    "millpond.warehouse.ctas", "deltalake",  # a table published as delta (0.02 s to import)
)
"""Modules the server imports before its first fork: what a stage kernel would import anyway.
A workspace adds its own library with ``execution: {preload: [...]}`` (:func:`configure`)."""

WARM_UP_LATER = ("millpond.run.warm_paths:exercise", "millpond.run.notebook_html:warm_up")
"""Called once the server has answered its first request (while the first stage runs), so
they never delay it: a typical stage's code paths run once (first-use caches of Ibis and
sqlglot, inherited by every later kernel) and nbconvert for the HTML copies."""


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
        request = json.dumps(_with_lifeline(message))
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


def _with_lifeline(message: dict) -> dict:
    """``message`` naming the process that asks (``watch``): the child it gets dies with it,
    however it dies (see :func:`millpond.processes.die_with`), so a killed run leaves no kernel."""
    from millpond.processes import identity

    return {**message, "watch": message.get("watch") or identity()}


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
                import atexit

                _SERVER = ForkServer(preload)
                atexit.register(_SERVER.close)
        return _SERVER


class DaemonForkServer:
    """A client of the shared fork server daemon (see the module docstring); started if none
    with this signature listens."""

    def __init__(self, idle: float, preload: Sequence[str] = PRELOAD) -> None:
        folder = Path(tempfile.gettempdir()) / f"millpond-{os.getuid()}"
        folder.mkdir(mode=0o700, exist_ok=True)
        self.socket_path = folder / f"forkserver-{_signature(preload, idle)}.sock"
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
                [sys.executable, "-m", "millpond.run.forkserver", "--listen", str(self.socket_path),
                 "--idle", str(idle), *preload],
                stdin=subprocess.DEVNULL, stdout=log, stderr=log, start_new_session=True,
                env={**os.environ, "PYDEVD_DISABLE_FILE_VALIDATION": "1"},
            )
        deadline = time.monotonic() + 120
        while not self._answers():
            if process.poll() is not None or time.monotonic() > deadline:
                process.kill()
                raise RuntimeError(f"the kernel fork server did not start (log: {self.socket_path.with_suffix('.log')})")
            time.sleep(0.02)

    def alive(self) -> bool:
        return self._answers()

    def fork(self, argv: Sequence[str], env: dict[str, str], cwd: str) -> int:
        """Start a kernel with ``argv`` in a new child of the daemon; return its pid."""
        return self.request({"argv": list(argv), "env": dict(env), "cwd": str(cwd)})

    def request(self, message: dict) -> int:
        """Send one request (a kernel to start, or a call to run); the child's pid."""
        request = json.dumps(_with_lifeline(message))
        with socket.socket(socket.AF_UNIX) as conn:
            conn.connect(str(self.socket_path))
            conn.sendall((request + "\n").encode())
            answer = json.loads(conn.makefile().readline() or '{"error": "no answer"}')
        if "error" in answer:
            raise RuntimeError(f"the kernel fork server could not fork: {answer['error']}")
        return int(answer["pid"])

    def close(self) -> None:
        """Nothing: the daemon outlives this run, and exits once idle."""


def _signature(preload: Sequence[str], idle: float = 0.0) -> str:
    """What a kernel forked from the daemon depends on: interpreter, import path, the preload
    list, and the state of millpond's sources and of the installed packages; and how long
    the daemon stays (a different ``keep_warm`` gets its own)."""
    import hashlib

    import millpond

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


# -- the server process ------------------------------------------------------------------


def _serve(preload: Sequence[str], listen: str | None = None, idle: float = 0.0) -> None:
    import importlib
    import signal

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
            (_run_call if "call" in request else _become_kernel)(request)  # never returns
        out.write(json.dumps({"pid": pid}) + "\n")
        out.flush()
        if WARM_UP_LATER:
            _warm_up_later()


def _freeze_heap() -> None:
    """Move everything imported so far out of the collector's sight: a child's collections
    (IPython runs a full one at exit) then neither walk nor copy the shared, preloaded heap."""
    import gc

    gc.collect()
    gc.freeze()


def _warm_up_later() -> None:
    """Run :data:`WARM_UP_LATER` (once); a failure only means the child does it itself."""
    import importlib

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
    import time

    from millpond.processes import is_alive

    import signal

    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))  # stopped: still clean up below
    listener = socket.socket(socket.AF_UNIX)
    listener.bind(path)
    listener.listen(16)
    Path(path).with_suffix(".pid").write_text(str(os.getpid()))
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
                    (_run_call if "call" in request else _become_kernel)(request)  # never returns
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
    from millpond.errors import MillpondError
    from millpond.processes import identity, is_alive

    server = fork_server()
    with tempfile.TemporaryDirectory(prefix="millpond-call-") as folder:
        result = Path(folder) / "result.json"
        pid = server.request({"call": target, "payload": payload, "result": str(result),
                              "env": {**os.environ, "MILLPOND_RUNNER": json.dumps(identity())}, "cwd": os.getcwd()})
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


def _run_call(request: dict) -> None:
    import importlib
    import signal

    from millpond.processes import die_with

    code, answer = 1, {"error": "no answer"}
    try:
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        os.setsid()
        die_with(request.get("watch"))
        devnull = os.open(os.devnull, os.O_RDWR)
        os.dup2(devnull, 0)
        os.dup2(2, 1)  # never write on the server's answer pipe
        os.environ.clear()
        os.environ.update(request["env"])
        os.chdir(request["cwd"])
        module, _, function = request["call"].partition(":")
        answer = {"ok": getattr(importlib.import_module(module), function)(**request["payload"])}
        code = 0
    except BaseException as exc:  # noqa: BLE001 - reported to the caller
        from millpond.errors import MillpondError

        answer = {"error": str(exc) if isinstance(exc, MillpondError) else f"{type(exc).__name__}: {exc}",
                  "user": isinstance(exc, MillpondError)}
    finally:
        try:
            Path(request["result"]).write_text(json.dumps(answer, default=str))
        finally:
            os._exit(code)


def _become_kernel(request: dict) -> None:
    import signal

    from millpond.processes import die_with

    code = 1
    try:
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        os.setsid()  # its own process group, as a launched kernel has
        die_with(request.get("watch"))  # and it ends with the run that asked for it
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
    arguments = sys.argv[1:]
    listen_at, idle_for = None, 0.0
    while arguments[:1] in (["--listen"], ["--idle"]):
        option, value, arguments = arguments[0], arguments[1], arguments[2:]
        listen_at, idle_for = (value, idle_for) if option == "--listen" else (listen_at, float(value))
    _serve(arguments, listen_at, idle_for)
