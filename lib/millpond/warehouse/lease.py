"""The warehouse lease: one process at a time touches an embedded DuckDB file.

DuckDB allows one writing process per file, and a read-only process cannot open the
file while another writes. Every millpond process that opens the warehouse file (a
batch stage's kernel, a JupyterLab kernel, the runner checking that products exist)
first takes an exclusive ``flock`` on ``<warehouse>.lease``. The lock is released
when the holder closes the connection or its process ends, even by ``SIGKILL``, so a
crash never leaves a stale lock. Waiters poll until ``MILLPOND_LEASE_TIMEOUT``
seconds (default 900) and then fail with a message naming the holder.

A batch stage's kernel also writes which run it serves (``MILLPOND_RUNNER``, set by the
runner). A kernel dies with its run (:func:`millpond.processes.die_with`); should one
outlive it all the same, the next process that wants the lease kills it at once instead
of waiting: a lease held for a run that is gone is broken.
"""

from __future__ import annotations

import fcntl
import json
import os
import signal
import threading
import time
from pathlib import Path

from millpond.errors import LockError
from millpond.processes import identity, same_process

DEFAULT_TIMEOUT = 900.0


class Lease:
    """An exclusive, re-entrant-per-object, cross-process lock on a warehouse file.

    Parameters
    ----------
    database
        The DuckDB file the lease protects.
    holder
        A short description written into the lease file for waiters to read.

    Examples
    --------
    >>> import tempfile
    >>> db = Path(tempfile.mkdtemp()) / "w.duckdb"
    >>> a, b = Lease(db, "a"), Lease(db, "b")
    >>> a.acquire()
    >>> b.try_acquire()
    False
    >>> a.release(); b.try_acquire()
    True
    >>> b.release()
    """

    def __init__(self, database: Path, holder: str = ""):
        self.path = Path(str(database) + ".lease")
        self.holder = holder or f"pid {os.getpid()}"
        self._fd: int | None = None
        self._thread_lock = threading.Lock()

    @property
    def held(self) -> bool:
        return self._fd is not None

    def try_acquire(self) -> bool:
        """Take the lease if it is free; never waits."""
        if self._fd is not None:
            return True
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return False
        os.ftruncate(fd, 0)
        os.write(fd, f"{self.holder} (pid {os.getpid()})\n{json.dumps(_holder_record())}\n".encode())
        self._fd = fd
        return True

    def acquire(self, timeout: float | None = None, on_wait=None) -> None:
        """Wait for the lease; ``on_wait(holder_text)`` is called once if it must wait."""
        timeout = float(os.environ.get("MILLPOND_LEASE_TIMEOUT", DEFAULT_TIMEOUT)) if timeout is None else timeout
        deadline = time.monotonic() + timeout
        with self._thread_lock:
            told = False
            delay = 0.01
            while not self.try_acquire():
                if self.break_orphaned():
                    continue
                if not told and on_wait is not None:
                    on_wait(self.current_holder())
                    told = True
                if time.monotonic() >= deadline:
                    raise LockError(
                        f"the warehouse {self.path.with_suffix('')} is busy: held by {self.current_holder()} "
                        f"for more than {timeout:.0f} s; try again when it is done"
                    )
                time.sleep(delay)
                delay = min(delay * 2, 0.25)

    def release(self) -> None:
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None

    def current_holder(self) -> str:
        """What the holder wrote into the lease file (best effort)."""
        try:
            return self.path.read_text().partition("\n")[0].strip() or "another process"
        except OSError:
            return "another process"

    def held_by(self) -> dict | None:
        """Who holds the lease now (``text``, ``holder`` and ``run`` as written), or ``None``
        when it is free. Looks without taking it for longer than a probe."""
        try:
            fd = os.open(self.path, os.O_RDONLY)
        except OSError:
            return None
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
            fcntl.flock(fd, fcntl.LOCK_UN)
            return None
        except BlockingIOError:
            pass
        finally:
            os.close(fd)
        text, _, record = self.path.read_text().partition("\n")
        try:
            found = json.loads(record or "{}")
        except ValueError:
            found = {}
        return {"text": text.strip() or "another process", "holder": found.get("holder"), "run": found.get("run")}

    def break_orphaned(self) -> bool:
        """Kill the holder if it holds the lease for a run that is gone; whether it did."""
        try:
            record = json.loads(self.path.read_text().partition("\n")[2] or "{}")
        except (OSError, ValueError):
            return False
        holder, run = record.get("holder"), record.get("run")
        if not run or same_process(run) or not same_process(holder) or holder["pid"] == os.getpid():
            return False
        try:
            os.kill(holder["pid"], signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            return False
        deadline = time.monotonic() + 5
        while same_process(holder) and time.monotonic() < deadline:
            time.sleep(0.005)
        return True

    def __enter__(self) -> Lease:
        self.acquire()
        return self

    def __exit__(self, *exc) -> None:
        self.release()


def _holder_record() -> dict:
    """Who holds the lease (pid and start time) and, for a batch stage, its run's process."""
    try:
        run = json.loads(os.environ.get("MILLPOND_RUNNER") or "null")
    except ValueError:
        run = None
    return {"holder": identity(), "run": run}
