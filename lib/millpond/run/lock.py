"""The run lock: one ``millpond run`` at a time per workspace.

A second run on the same workspace refuses at once with a message naming the run
that holds the lock, or waits for it with ``--wait``. The lock is an ``flock`` on
``<meta>/run.lock``: it disappears with its process, even after ``SIGKILL``.
"""

from __future__ import annotations

import fcntl
import os
import time
from pathlib import Path

from millpond.errors import LockError


class RunLock:
    """Exclusive per-workspace lock for runs.

    Examples
    --------
    >>> import tempfile
    >>> folder = Path(tempfile.mkdtemp())
    >>> with RunLock(folder, "run A"):
    ...     try:
    ...         RunLock(folder, "run B").acquire(wait=False)
    ...     except LockError as e:
    ...         print(str(e).split(";")[0])
    another run is in progress on this workspace (run A, pid ...)
    """

    def __init__(self, meta_dir: Path, description: str):
        self.path = Path(meta_dir) / "run.lock"
        self.description = description
        self._fd: int | None = None

    def acquire(self, wait: bool = False, timeout: float = 3600.0, on_wait=None) -> None:
        """Take the lock; with ``wait``, wait for it, calling ``on_wait(holder)`` once first."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        deadline = time.monotonic() + timeout
        told = False
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                holder = self.path.read_text().strip() or "unknown"
                if not wait or time.monotonic() > deadline:
                    os.close(fd)
                    raise LockError(
                        f"another run is in progress on this workspace ({holder}); wait for it to finish or pass --wait"
                    ) from None
                if not told and on_wait is not None:
                    on_wait(holder)
                    told = True
                time.sleep(0.2)
        os.ftruncate(fd, 0)
        os.write(fd, f"{self.description}, pid {os.getpid()}".encode())
        self._fd = fd

    def release(self) -> None:
        if self._fd is not None:
            os.ftruncate(self._fd, 0)
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None

    def __enter__(self) -> RunLock:
        self.acquire()
        return self

    def __exit__(self, *exc) -> None:
        self.release()
