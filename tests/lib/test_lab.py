"""``millpond lab``: a real JupyterLab server on a tiny workspace, driven over its REST API."""

from __future__ import annotations

import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import nbformat
import pytest
from jupyter_client import BlockingKernelClient

from millpond.lab import lab_command, lab_environment

STARTUP_SECONDS = 30
KERNEL_SECONDS = 20


@dataclass
class LabServer:
    process: subprocess.Popen
    base_url: str
    token: str
    log: Path
    runtime_dir: Path

    def request(self, method: str, path: str, body: dict | None = None) -> dict:
        separator = "&" if "?" in path else "?"
        request = urllib.request.Request(
            f"{self.base_url}{path}{separator}token={self.token}",
            method=method,
            data=None if body is None else json.dumps(body).encode(),
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            payload = response.read()
        return json.loads(payload) if payload else {}

    def get(self, path: str) -> dict:
        return self.request("GET", path)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _make_workspace(root: Path) -> None:
    (root / "millpond.yml").write_text("name: t\n")
    notebook = nbformat.v4.new_notebook()
    notebook.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3 (ipykernel)",
        "language": "python",
    }
    notebook.cells.append(nbformat.v4.new_code_cell("1 + 1"))
    (root / "notebooks" / "bronze").mkdir(parents=True)
    nbformat.write(notebook, root / "notebooks" / "bronze" / "10_ingest_x.ipynb")


def _wait_until_up(server: LabServer) -> bool:
    """Wait until the server answers (True) or exits early (False)."""
    deadline = time.monotonic() + STARTUP_SECONDS
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            return False
        try:
            server.get("/api/status")
            return True
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            time.sleep(0.2)
    pytest.fail(f"JupyterLab did not answer within {STARTUP_SECONDS} s:\n{server.log.read_text()}")


def _stop(server: LabServer) -> None:
    """Shut down through the API (kernels included), then escalate, all bounded."""
    if server.process.poll() is None:
        try:
            server.request("POST", "/api/shutdown")
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        steps = [(None, 10), (signal.SIGTERM, 5), (signal.SIGKILL, 5)]
        for sig, seconds in steps:
            if sig is not None:
                server.process.send_signal(sig)
            try:
                server.process.wait(timeout=seconds)
                break
            except subprocess.TimeoutExpired:
                continue


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    root = tmp_path / "workspace"
    root.mkdir()
    _make_workspace(root)
    return root


@pytest.fixture
def lab_server(workspace: Path, tmp_path: Path) -> Iterator[LabServer]:
    """JupyterLab on ``workspace``, headless, on a free port, shut down after the test."""
    env = lab_environment(workspace)
    # Keep the user's Jupyter config, runtime files and lab settings out of the test.
    for name in ("JUPYTER_CONFIG_DIR", "JUPYTER_RUNTIME_DIR", "JUPYTERLAB_SETTINGS_DIR", "JUPYTERLAB_WORKSPACES_DIR"):
        env[name] = str(tmp_path / name.lower())
    token, log = secrets.token_hex(16), tmp_path / "lab.log"
    for _attempt in range(3):
        # The port is free when chosen; should another process take it before
        # the server binds, the server exits (port_retries=0) and we try again.
        port = _free_port()
        cmd = lab_command(
            workspace,
            port=port,
            open_browser=False,
            extra_args=["--allow-root", f"--IdentityProvider.token={token}"],
        )
        with log.open("wb") as out:
            process = subprocess.Popen(
                cmd,
                env=env,
                cwd=tmp_path,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        server = LabServer(process, f"http://127.0.0.1:{port}", token, log, Path(env["JUPYTER_RUNTIME_DIR"]))
        try:
            if _wait_until_up(server):
                break
        except BaseException:
            _stop(server)
            raise
        if "already in use" not in log.read_text():
            break
    else:
        pytest.fail(f"JupyterLab found no free port in 3 attempts:\n{log.read_text()}")
    if process.poll() is not None:
        pytest.fail(f"JupyterLab exited with {process.returncode} on start:\n{log.read_text()}")
    try:
        yield server
    finally:
        _stop(server)
    assert process.returncode is not None, "JupyterLab is still running after shutdown"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    status = Path(f"/proc/{pid}/status")  # a zombie is dead, just not yet reaped
    return not (status.exists() and "(zombie)" in status.read_text())


def _run_in_kernel(connection_file: Path, code: str) -> str:
    """Run ``code`` in a running kernel and return what it printed."""
    deadline = time.monotonic() + KERNEL_SECONDS
    while not connection_file.exists():
        assert time.monotonic() < deadline, f"no connection file {connection_file}"
        time.sleep(0.1)
    client = BlockingKernelClient(connection_file=str(connection_file))
    client.load_connection_file()
    client.start_channels()
    try:
        client.wait_for_ready(timeout=KERNEL_SECONDS)
        printed: list[str] = []

        def keep_stdout(msg: dict) -> None:
            if msg["msg_type"] == "stream" and msg["content"]["name"] == "stdout":
                printed.append(msg["content"]["text"])

        reply = client.execute_interactive(code, timeout=KERNEL_SECONDS, output_hook=keep_stdout)
        assert reply["content"]["status"] == "ok", reply["content"]
        return "".join(printed)
    finally:
        client.stop_channels()


def test_lab_command_requires_a_workspace(tmp_path):
    with pytest.raises(FileNotFoundError, match="no millpond.yml"):
        lab_command(tmp_path)


def test_lab_command_runs_jupyterlab_from_this_interpreter_at_the_workspace_root(workspace):
    cmd = lab_command(workspace, port=9999, open_browser=False, extra_args=["--debug"])

    assert cmd[:3] == [sys.executable, "-m", "jupyterlab"]
    assert f"--ServerApp.root_dir={workspace.resolve()}" in cmd
    assert "--ContentsManager.preferred_dir=notebooks" in cmd
    assert "--ServerApp.port=9999" in cmd
    assert "--ServerApp.open_browser=False" in cmd
    assert cmd[-1] == "--debug"


@pytest.mark.timeout(90)
def test_lab_serves_the_workspace_notebooks_with_this_environments_kernel(lab_server, workspace):
    listing = lab_server.get("/api/contents/notebooks/bronze")
    assert [(item["name"], item["type"]) for item in listing["content"]] == [("10_ingest_x.ipynb", "notebook")]

    kernelspecs = lab_server.get("/api/kernelspecs")
    default = kernelspecs["default"]
    argv0 = kernelspecs["kernelspecs"][default]["spec"]["argv"][0]
    # Jupyter runs a kernelspec whose argv[0] is a bare "python" with its own
    # interpreter, which lab_command made this one.
    major, minor = sys.version_info[:2]
    bare_python = {"python", f"python{major}", f"python{major}.{minor}"}
    resolved = lab_server.process.args[0] if argv0 in bare_python else argv0
    assert resolved == sys.executable

    kernel = lab_server.request("POST", "/api/kernels", {"name": default, "path": "notebooks/bronze"})
    report = _run_in_kernel(
        lab_server.runtime_dir / f"kernel-{kernel['id']}.json",
        "import os, sys\nprint(sys.executable, os.environ['MILLPOND_WORKSPACE'], os.getpid(), sep='\\n')",
    )
    executable, workspace_env, pid = report.splitlines()
    assert executable == sys.executable
    assert workspace_env == str(workspace.resolve())
    assert lab_server.get(f"/api/kernels/{kernel['id']}")["execution_state"] in {"idle", "busy"}

    lab_server.request("DELETE", f"/api/kernels/{kernel['id']}")
    deadline = time.monotonic() + KERNEL_SECONDS
    while _alive(int(pid)):
        assert time.monotonic() < deadline, "kernel process survived its shutdown"
        time.sleep(0.1)


def test_millpond_lab_starts_as_root_and_passes_jupyterlab_options_through(workspace, tmp_path):
    """Issue 21.4: containers run as root; `millpond lab` must start there, and an option it
    does not know (here the token) goes to JupyterLab."""
    millpond = str(Path(sys.executable).parent / "millpond")
    env = {**lab_environment(workspace)}
    for name in ("JUPYTER_CONFIG_DIR", "JUPYTER_RUNTIME_DIR", "JUPYTERLAB_SETTINGS_DIR", "JUPYTERLAB_WORKSPACES_DIR"):
        env[name] = str(tmp_path / name.lower())
    token, log, port = secrets.token_hex(16), tmp_path / "lab.log", _free_port()
    with log.open("wb") as out:
        process = subprocess.Popen(
            [millpond, "lab", "--no-browser", "--port", str(port), f"--IdentityProvider.token={token}"],
            cwd=workspace,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    server = LabServer(process, f"http://127.0.0.1:{port}", token, log, Path(env["JUPYTER_RUNTIME_DIR"]))
    try:
        assert _wait_until_up(server), log.read_text()  # as root, with no --allow-root given
        assert server.get("/api/contents")["type"] == "directory"  # the token given was taken
        with pytest.raises(urllib.error.HTTPError):  # and only it opens the server
            urllib.request.urlopen(f"{server.base_url}/api/contents?token=wrong", timeout=10)
    finally:
        _stop(server)
