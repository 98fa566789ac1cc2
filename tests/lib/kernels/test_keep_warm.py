"""The fork server kept warm between runs (``execution.keep_warm``): one daemon serves
consecutive runs, each stage still in a kernel of its own, and it leaves once idle."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

from millpond.kernels.fork_daemon import signature as _signature
from millpond.processes import is_alive
from support.workspaces import make_workspace, write_notebook

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
        subprocess.run(
            [MILLPOND, "run", "who", "--force", "--plain", "-C", str(tmp_path)],
            env=env,
            check=True,
            capture_output=True,
        )
    first, second = (json.loads(p.read_text()) for p in sorted(tmp_path.glob("who-*.json")))
    assert first["ppid"] == second["ppid"], "each run started its own server"
    assert first["pid"] != second["pid"]
    server = first["ppid"]
    assert is_alive(server), "the server left with its run"
    deadline = time.monotonic() + 60
    while is_alive(server) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not is_alive(server), "the server stayed after 10 s idle"


def test_millpond_engine_shows_the_warm_server_and_stops_it(tmp_path):
    """Issue 21.4: the warm engine outlived every command with no word about it."""
    write_notebook(tmp_path / "notebooks/who.ipynb", "x = 0", *WHO)
    make_workspace(tmp_path, {"who": {"stages": [{"name": "who", "notebook": "notebooks/who.ipynb"}]}})
    env = {**os.environ, "MILLPOND_KEEP_WARM": "300"}
    subprocess.run([MILLPOND, "run", "who", "--plain", "-C", str(tmp_path)], env=env, check=True, capture_output=True)
    (run,) = (json.loads(p.read_text()) for p in tmp_path.glob("who-*.json"))
    server = run["ppid"]
    status = subprocess.run([MILLPOND, "engine", "status"], capture_output=True, text=True, check=True).stdout
    line = next(line for line in status.splitlines() if f"pid {server}:" in line)
    assert "exits after 300 s idle" in line
    stopped = subprocess.run([MILLPOND, "engine", "stop"], capture_output=True, text=True, check=True).stdout
    assert str(server) in stopped.split()
    assert not is_alive(server)
    status = subprocess.run([MILLPOND, "engine", "status"], capture_output=True, text=True, check=True).stdout
    assert f"pid {server}:" not in status


def test_the_server_is_named_by_what_its_kernels_depend_on():
    assert _signature(("json",), 600) == _signature(("json",), 600)
    assert _signature(("json",), 600) != _signature(("json", "csv"), 600)
    assert _signature(("json",), 600) != _signature(("json",), 10)


PRELOADED = (
    "import os, json, wslib",
    "path = os.path.join(os.environ['MILLPOND_WORKSPACE'], 'lib-' + os.environ['MILLPOND_RUN_ID'] + '.json')\n"
    "open(path, 'w').write(json.dumps({'imported_in': wslib.IMPORTED_IN, 'kernel': os.getpid(),\n"
    "                                  'version': wslib.VERSION}))\n"
    "print('wslib version', wslib.VERSION)",
)


def test_a_preloaded_workspace_module_is_imported_once_and_an_edit_is_seen(tmp_path):
    library = tmp_path / "lib" / "wslib"
    library.mkdir(parents=True)
    source = "import os\nIMPORTED_IN = os.getpid()\nVERSION = {}\n"
    (library / "__init__.py").write_text(source.format(1))
    write_notebook(tmp_path / "notebooks/lib.ipynb", "x = 0", *PRELOADED)
    make_workspace(
        tmp_path,
        {"lib": {"stages": [{"name": "lib", "notebook": "notebooks/lib.ipynb"}]}},
        {"name": "test", "execution": {"preload": ["wslib"]}},
    )
    env = {**os.environ, "MILLPOND_KEEP_WARM": "10", "PYTHONPATH": str(tmp_path / "lib")}

    def run() -> dict:
        done = subprocess.run(
            [MILLPOND, "run", "lib", "--force", "--plain", "-C", str(tmp_path)], env=env, capture_output=True, text=True
        )
        assert done.returncode == 0, done.stdout + done.stderr
        newest = max(tmp_path.glob("lib-*.json"), key=lambda p: p.stat().st_mtime_ns)
        seen = json.loads(newest.read_text())
        newest.unlink()
        return seen

    first = run()
    assert first["version"] == 1
    assert first["imported_in"] != first["kernel"], "the stage imported the preloaded module itself"
    assert is_alive(first["imported_in"]), "the module was not imported by the kept-warm server"
    html = next((tmp_path / "data" / "runs").glob("*/lib.html")).read_text()
    assert "wslib version 1" in html  # rendered to HTML in a child of the server

    time.sleep(0.01)
    (library / "__init__.py").write_text(source.format(2))
    second = run()
    assert second["version"] == 2, "a kept-warm server served the module as it was before the edit"
    assert second["imported_in"] != first["imported_in"]
