"""The fork server's warm-up (``millpond.kernels.warm_paths``) leaves children that work.

It runs in a fresh interpreter, as the server does: preload, exercise, then fork. The
server only forks with one Python thread; the children must still run DuckDB on several
threads and Arrow's thread pool, which the warm-up has already started in the parent.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap

SCRIPT = textwrap.dedent("""
    import importlib, os, threading
    from millpond.kernels.forkserver import PRELOAD
    for name in PRELOAD:
        try:
            importlib.import_module(name)
        except ImportError:
            pass
    from millpond.kernels.warm_paths import exercise
    exercise()
    assert threading.active_count() == 1, threading.enumerate()
    children = []
    for n in range(2):
        pid = os.fork()
        if pid == 0:
            import signal
            signal.alarm(60)  # a deadlock inherited from the parent ends the child, and the test fails
            import duckdb, pyarrow as pa, pyarrow.compute as pc
            con = duckdb.connect(config={"threads": 2})
            rows = con.execute("SELECT count(*), sum(i) FROM range(2000000) t(i) WHERE i % 7 = 3").fetchone()
            table = con.execute("SELECT i % 1000 AS k, i FROM range(300000) t(i)").fetch_arrow_table()
            total = pc.sum(table.column("i")).as_py()
            exercise()  # the same paths again, in the child
            expected = range(3, 2000000, 7)  # i % 7 = 3, counted by Python
            os._exit(0 if rows == (len(expected), sum(expected)) and total == sum(range(300000)) else 3)
        children.append(pid)
    codes = [os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]) for pid in children]
    print("children", codes)
""")


def test_children_forked_after_the_warm_up_run_duckdb_and_arrow_on_many_threads():
    done = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "children [0, 0]" in done.stdout, done.stdout + done.stderr[-2000:]
