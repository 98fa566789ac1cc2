"""The warehouse lease (:mod:`millpond.warehouse.lease`) against real processes: a holder
whose run is gone is broken at once; a holder whose run lives is waited for."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import pytest

from millpond.errors import LockError
from millpond.processes import identity, is_alive
from millpond.warehouse.lease import Lease

HOLD = "import sys, time; from millpond.warehouse.lease import Lease; Lease(sys.argv[1], 'stage x').acquire(); print('held', flush=True); time.sleep(600)"


def _holder(db, run: subprocess.Popen) -> subprocess.Popen:
    env = {**os.environ, "MILLPOND_RUNNER": json.dumps(identity(run.pid))}
    holder = subprocess.Popen([sys.executable, "-c", HOLD, str(db)], env=env, stdout=subprocess.PIPE, text=True)
    assert holder.stdout.readline().strip() == "held"
    return holder


@pytest.fixture
def processes():
    started: list[subprocess.Popen] = []
    yield started
    for p in started:
        p.kill()
        p.wait()


def test_a_lease_held_for_a_dead_run_is_broken_at_once(tmp_path, processes):
    run = subprocess.Popen(["sleep", "600"])
    processes.append(run)
    holder = _holder(tmp_path / "w.duckdb", run)
    processes.append(holder)
    assert not Lease(tmp_path / "w.duckdb", "next").try_acquire()
    run.kill()
    run.wait()
    began = time.monotonic()
    lease = Lease(tmp_path / "w.duckdb", "next")
    lease.acquire(timeout=10)
    assert time.monotonic() - began < 2
    assert holder.wait(timeout=5) == -9
    lease.release()


def test_a_lease_held_for_a_live_run_is_waited_for(tmp_path, processes):
    run = subprocess.Popen(["sleep", "600"])
    processes.append(run)
    holder = _holder(tmp_path / "w.duckdb", run)
    processes.append(holder)
    with pytest.raises(LockError, match="held by stage x"):
        Lease(tmp_path / "w.duckdb", "next").acquire(timeout=0.5)
    assert is_alive(holder.pid)


def test_an_interactive_holder_is_never_broken(tmp_path, processes):
    env = {k: v for k, v in os.environ.items() if k != "MILLPOND_RUNNER"}
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD, str(tmp_path / "w.duckdb")], env=env, stdout=subprocess.PIPE, text=True
    )
    processes.append(holder)
    assert holder.stdout.readline().strip() == "held"
    with pytest.raises(LockError):
        Lease(tmp_path / "w.duckdb", "next").acquire(timeout=0.5)
    assert is_alive(holder.pid)
