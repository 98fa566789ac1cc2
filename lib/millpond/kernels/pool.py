"""Kernels forked ahead of need, so that a stage finds one already up.

A forked kernel still needs about 0.15 s to set up ipykernel (sockets, threads, the
IPython shell) before it answers. :class:`KernelPool` asks the fork server for kernels
before any stage needs them, each on connection details of its own; a stage takes one
(:meth:`KernelPool.take`) and a replacement is forked at once, so its set-up overlaps the
stage that just started. Each kernel serves exactly one stage: nothing is reused.

A pooled kernel was forked before its stage was known, so its environment and working
directory are the runner's; the stage's own (``MILLPOND_RUN_ID``, ``MILLPOND_STAGE`` ...)
are set by a silent request before the notebook's first cell
(:class:`millpond.kernels.fork_kernel.WelcomeClient`). Kernels still in the pool when the
process exits are killed; if the process dies without that, each kernel exits by itself
once the fork server (its parent) is gone (``JPY_PARENT_PID``), and in any case with the
process that asked for it (:func:`millpond.processes.die_with`).

A pooled kernel chooses its own ports: its connection file names port 0, so ipykernel binds
each socket to a free port itself (retrying if one is taken meanwhile) and writes the ports
back, where :meth:`KernelPool.take` reads them. Ports picked here and bound later by another
process could be taken in between (``ZMQError: Address already in use``).
"""

from __future__ import annotations

import atexit
import itertools
import json
import os
import shutil
import signal
import tempfile
import threading
import time
import uuid
from collections import deque
from dataclasses import dataclass
from pathlib import Path

from millpond.kernels.forkserver import fork_server
from millpond.processes import is_alive as _alive  # the fork server reaps its children, so a dead kernel is gone

__all__ = ["KERNEL_ARGUMENTS", "KernelPool", "PooledKernel", "kernel_pool"]

KERNEL_ARGUMENTS = ("--IPKernelApp.log_level=CRITICAL", "--HistoryManager.hist_file=:memory:")
"""The arguments pooled kernels start with: what the Papermill engine and nbclient pass."""


@dataclass
class PooledKernel:
    pid: int
    connection_file: Path
    info: dict  # ports, ip, transport, key (str), signature_scheme


class KernelPool:
    """Up to ``size`` idle kernels from the fork server; thread-safe."""

    def __init__(self, size: int = 1) -> None:
        self.size = size
        self._idle: deque[PooledKernel] = deque()
        self._lock = threading.Lock()
        self._folder = Path(tempfile.mkdtemp(prefix="millpond-kernels-"))
        self._count = itertools.count()

    def take(self, arguments: list[str]) -> PooledKernel | None:
        """An idle kernel started with ``arguments`` (``None`` if there is none), then refill."""
        found = None
        with self._lock:
            if tuple(arguments) == KERNEL_ARGUMENTS:
                while self._idle and found is None:
                    candidate = self._idle.popleft()
                    found = candidate if _alive(candidate.pid) and _bound(candidate) else None
        # refill off this stage's path (forking the server takes a few milliseconds)
        threading.Thread(target=self.fill, name="millpond-kernel-pool", daemon=True).start()
        return found

    def fill(self) -> None:
        """Fork kernels until ``size`` are idle."""
        with self._lock:
            self._fill()

    def _fill(self) -> None:
        server = fork_server()
        while len(self._idle) < self.size:
            path = self._folder / f"kernel-{next(self._count)}.json"
            info = {
                "ip": "127.0.0.1",
                "transport": "tcp",
                "signature_scheme": "hmac-sha256",
                "kernel_name": "",
                "key": uuid.uuid4().hex,
                **dict.fromkeys(PORTS, 0),
            }  # messages are signed; ports: its own
            path.write_text(json.dumps(info))
            env = {**os.environ, "JPY_PARENT_PID": str(server.pid)}
            pid = server.fork(["-f", str(path), *KERNEL_ARGUMENTS], env, os.getcwd())
            self._idle.append(PooledKernel(pid, path, info))

    def close(self) -> None:
        """Kill the idle kernels and remove their connection files."""
        with self._lock:
            while self._idle:
                kernel = self._idle.popleft()
                try:
                    os.kill(kernel.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass

            shutil.rmtree(self._folder, ignore_errors=True)


_POOL: KernelPool | None = None
_POOL_LOCK = threading.Lock()


PORTS = ("shell_port", "iopub_port", "stdin_port", "control_port", "hb_port")


def _bound(kernel: PooledKernel, timeout: float = 10.0) -> bool:
    """Wait until ``kernel`` has written the ports it bound into its connection file, and
    take them into ``kernel.info``; ``False`` if it died or took too long (then it is killed)."""
    deadline = time.monotonic() + timeout
    while _alive(kernel.pid) and time.monotonic() < deadline:
        try:
            written = json.loads(kernel.connection_file.read_text())
        except (OSError, ValueError):  # being written
            written = {}
        if all(written.get(port) for port in PORTS):
            kernel.info.update({port: written[port] for port in PORTS})
            return True
        time.sleep(0.002)
    try:
        os.kill(kernel.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    return False


def kernel_pool(size: int = 1) -> KernelPool:
    """The process-wide pool (grown to ``size`` if asked for more), emptied at exit."""
    global _POOL
    with _POOL_LOCK:
        if _POOL is None:
            _POOL = KernelPool(size)
            atexit.register(_POOL.close)
        _POOL.size = max(_POOL.size, size)
        return _POOL
