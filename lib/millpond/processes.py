"""Processes by pid: whether one runs, when it started, and dying with another.

A stage kernel is forked by the warm engine's server, not by the run that uses it, so
the kernel must watch its run itself: :func:`die_with` kills the calling process (and
its process group) the moment the watched process ends, however it ends.

>>> import os
>>> is_alive(os.getpid()), is_alive(None)
(True, False)
>>> me = identity()
>>> me["pid"] == os.getpid(), same_process(me), same_process({"pid": me["pid"], "started": 1.0})
(True, True, False)
"""

from __future__ import annotations

import os
import select
import signal
import threading
import time


def is_alive(pid: int | None) -> bool:
    """Whether ``pid`` runs; a zombie (exited, not yet reaped) does not."""
    if not pid:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return True


def started_at(pid: int) -> float | None:
    """When ``pid`` started (seconds since the epoch, to 1/100 s), from ``/proc``; ``None``
    where that cannot be read (another system, or no such process)."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            ticks = int(stat.read().rsplit(")", 1)[1].split()[19])
        with open("/proc/stat") as system:
            boot = next(int(line.split()[1]) for line in system if line.startswith("btime "))
    except (OSError, ValueError, IndexError, StopIteration):
        return None
    return boot + ticks / os.sysconf("SC_CLK_TCK")


def identity(pid: int | None = None) -> dict:
    """``{"pid": N, "started": T}`` of ``pid`` (default: this process): a pid alone may be
    reused by a later process, the pair is not."""
    pid = os.getpid() if pid is None else pid
    return {"pid": pid, "started": started_at(pid)}


def same_process(who: dict | None) -> bool:
    """Whether the process :func:`identity` described still runs (not a later one with its pid)."""
    if not who or not is_alive(who.get("pid")):
        return False
    then, now = who.get("started"), started_at(who["pid"])
    return then is None or now is None or abs(now - then) < 0.05


_WATCHED: tuple | None = None


def die_with(who: dict | None) -> None:
    """Kill this process and its process group as soon as the process ``who`` (an
    :func:`identity`) ends. Watches with a pidfd where Linux has one (at once), else polls
    every 0.1 s. Already gone: dies now."""
    global _WATCHED
    if not who or not who.get("pid") or _WATCHED == (who, os.getpid()):
        return
    _WATCHED = (who, os.getpid())  # once per process (a forked kernel's context asks again)
    pid = int(who["pid"])
    try:
        handle = os.pidfd_open(pid)
    except (AttributeError, OSError):  # no pidfd (old kernel, other system) or already gone
        handle = None
    if not same_process(who):
        _die()

    def watch() -> None:
        if handle is not None:  # poll, not select: select() refuses a descriptor numbered 1024 or more
            poller = select.poll()
            poller.register(handle, select.POLLIN)
            poller.poll()
        else:
            while same_process(who):
                time.sleep(0.1)
        _die()

    threading.Thread(target=watch, name="millpond-lifeline", daemon=True).start()


def _die() -> None:
    try:
        if os.getpgid(0) == os.getpid():  # leader of its own group: take what it started along
            os.killpg(0, signal.SIGKILL)
    finally:
        os.kill(os.getpid(), signal.SIGKILL)
