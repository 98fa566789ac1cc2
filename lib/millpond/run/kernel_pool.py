"""Kernels forked ahead of need, so that a stage finds one already up.

A forked kernel still needs about 0.15 s to set up ipykernel (sockets, threads, the
IPython shell) before it answers. :class:`KernelPool` asks the fork server for kernels
before any stage needs them, each on connection details of its own; a stage takes one
(:meth:`KernelPool.take`) and a replacement is forked at once, so its set-up overlaps the
stage that just started. Each kernel serves exactly one stage: nothing is reused.

A pooled kernel was forked before its stage was known, so its environment and working
directory are the runner's; the stage's own (``MILLPOND_RUN_ID``, ``MILLPOND_STAGE`` ...)
are set by a silent request before the notebook's first cell
(:class:`millpond.run.fork_kernel.WelcomeClient`). Kernels still in the pool when the
process exits are killed; if the process dies without that, each kernel exits by itself
once the fork server (its parent) is gone (``JPY_PARENT_PID``).
"""

from __future__ import annotations

import itertools
import os
import signal
import tempfile
import threading
import uuid
from collections import deque
from dataclasses import dataclass
from pathlib import Path

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
        from millpond.run.fork_kernel import _alive

        found = None
        with self._lock:
            if tuple(arguments) == KERNEL_ARGUMENTS:
                while self._idle and found is None:
                    candidate = self._idle.popleft()
                    found = candidate if _alive(candidate.pid) else None
        # refill off this stage's path (forking the server takes a few milliseconds)
        threading.Thread(target=self.fill, name="millpond-kernel-pool", daemon=True).start()
        return found

    def fill(self) -> None:
        """Fork kernels until ``size`` are idle."""
        with self._lock:
            self._fill()

    def _fill(self) -> None:
        from jupyter_client.connect import write_connection_file

        from millpond.run.forkserver import fork_server

        server = fork_server()
        while len(self._idle) < self.size:
            path, info = write_connection_file(str(self._folder / f"kernel-{next(self._count)}.json"),
                                               key=uuid.uuid4().hex.encode())  # messages are signed
            env = {**os.environ, "JPY_PARENT_PID": str(server.pid)}
            pid = server.fork(["-f", path, *KERNEL_ARGUMENTS], env, os.getcwd())
            self._idle.append(PooledKernel(pid, Path(path), dict(info)))

    def close(self) -> None:
        """Kill the idle kernels and remove their connection files."""
        with self._lock:
            while self._idle:
                kernel = self._idle.popleft()
                try:
                    os.kill(kernel.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            import shutil

            shutil.rmtree(self._folder, ignore_errors=True)


_POOL: KernelPool | None = None
_POOL_LOCK = threading.Lock()


def kernel_pool(size: int = 1) -> KernelPool:
    """The process-wide pool (grown to ``size`` if asked for more), emptied at exit."""
    global _POOL
    with _POOL_LOCK:
        if _POOL is None:
            import atexit

            _POOL = KernelPool(size)
            atexit.register(_POOL.close)
        _POOL.size = max(_POOL.size, size)
        return _POOL
