"""The fork server kept warm between runs (``execution.keep_warm``): one daemon serves
consecutive runs, each stage still in a kernel of its own, and it leaves once idle."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

from support.workspaces import make_workspace, write_notebook

from millpond.processes import is_alive
from millpond.run.forkserver import _signature

MILLPOND = str(Path(sys.executable).parent / "millpond")
WHO = (
    "import os, json",
    "path = os.path.join(os.environ['MILLPOND_WORKSPACE'], 'who-' + os.environ['MILLPOND_RUN_ID'] + '.json')\n"
    "open(path, 'w').write(json.dumps({'pid': os.getpid(), 'ppid': os.getppid()}))\n"
    "runs_here = globals().get('runs_here', 0) + 1\n"
    "assert runs_here == 1, 'a kernel served two stages'",
)


def test_a_kept_warm_server_serves_the_next_run_and_leaves_when_idle(tmp_path):
    write_notebook(tmp_path / "notebooks/who.ipynb", "x = 0", *WHO)
    make_workspace(tmp_path, {"who": {"stages": [{"name": "who", "notebook": "notebooks/who.ipynb"}]}})
    env = {**os.environ, "MILLPOND_KEEP_WARM": "10"}  # room for a slow second start
    for _ in range(2):
        subprocess.run([MILLPOND, "run", "who", "--force", "--plain", "-C", str(tmp_path)], env=env, check=True,
                       capture_output=True)
    first, second = (json.loads(p.read_text()) for p in sorted(tmp_path.glob("who-*.json")))
    assert first["ppid"] == second["ppid"], "each run started its own server"
    assert first["pid"] != second["pid"]
    server = first["ppid"]
    assert is_alive(server), "the server left with its run"
    deadline = time.monotonic() + 60
    while is_alive(server) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not is_alive(server), "the server stayed after 10 s idle"


def test_the_server_is_named_by_what_its_kernels_depend_on():
    assert _signature(("json",), 600) == _signature(("json",), 600)
    assert _signature(("json",), 600) != _signature(("json", "csv"), 600)
    assert _signature(("json",), 600) != _signature(("json",), 10)
