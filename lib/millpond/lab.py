"""``millpond lab``: JupyterLab on a workspace, running in the project's environment.

The server is ``python -m jupyterlab`` started with *this* interpreter, so the
server, its kernels and ``millpond`` itself all come from the same environment:

- the server's root is the workspace root (``--ServerApp.root_dir``), so
  ``millpond.yml``, ``notebooks/`` and ``data/`` are all reachable, and the file
  browser opens in ``notebooks/`` when it exists;
- the kernel is ipykernel's own ``python3`` kernelspec of this environment:
  its ``argv[0]`` is ``python``, which Jupyter replaces with the server's
  interpreter (``sys.executable``). ``JUPYTER_PREFER_ENV_PATH=1`` makes the
  environment's kernelspecs win over user-level ones (``~/.local/share/jupyter``),
  so a stale personal ``python3`` kernelspec cannot take its place;
- the server's environment carries ``MILLPOND_WORKSPACE=<root>``, which every
  kernel inherits: a notebook finds its workspace whatever its working directory
  (Jupyter starts kernels in the notebook's folder).

No ``millpond`` kernelspec is installed, on purpose: a notebook saved in the lab
keeps ``python3`` as its kernel name, which Papermill, nbval and CI resolve
everywhere, whereas a custom name would need the same kernelspec installed on
every machine that runs the notebooks, and installing one would write into the
environment each time the lab starts.
"""

from __future__ import annotations

import importlib.util
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Mapping, Sequence
from pathlib import Path

__all__ = ["WORKSPACE_ENV", "lab_command", "lab_environment", "launch_lab"]

WORKSPACE_ENV = "MILLPOND_WORKSPACE"
"""Environment variable naming the workspace root, set for the server and its kernels."""

_WORKSPACE_FILE = "millpond.yml"
_NOTEBOOKS_DIR = "notebooks"


def _workspace_root(root: Path | str) -> Path:
    path = Path(root).expanduser().resolve()
    if not (path / _WORKSPACE_FILE).is_file():
        raise FileNotFoundError(
            f"{path} is not a millpond workspace: it has no {_WORKSPACE_FILE}. "
            "Run `millpond lab` from the workspace root (the folder holding "
            f"{_WORKSPACE_FILE}), or point it there."
        )
    return path


def lab_command(
    root: Path | str,
    *,
    port: int | None = None,
    open_browser: bool = True,
    extra_args: Sequence[str] = (),
) -> list[str]:
    """Build the command line that serves workspace ``root`` in JupyterLab.

    Parameters
    ----------
    root
        Workspace root, the folder holding ``millpond.yml``.
    port
        TCP port to listen on. When given, the server fails if the port is
        taken instead of silently moving to another one. When omitted, Jupyter
        picks (8888, or the next free port).
    open_browser
        Whether the server opens a browser tab on start.

    As root (a container) the server is allowed to run as root.
    extra_args
        More JupyterLab options, appended last so they win
        (e.g. ``["--IdentityProvider.token=secret"]``).

    Returns
    -------
    list of str
        ``[sys.executable, "-m", "jupyterlab", ...]``.

    Raises
    ------
    FileNotFoundError
        If ``root`` has no ``millpond.yml``.

    Examples
    --------
    >>> import sys, tempfile
    >>> from pathlib import Path
    >>> root = Path(tempfile.mkdtemp())
    >>> _ = (root / "millpond.yml").write_text("name: demo\\n")
    >>> (root / "notebooks").mkdir()
    >>> cmd = lab_command(root, port=8890, open_browser=False)
    >>> cmd[:3] == [sys.executable, "-m", "jupyterlab"]
    True
    >>> for arg in cmd[3:]:
    ...     if "allow_root" not in arg:  # added as root
    ...         print(arg.replace(str(root.resolve()), "<root>"))
    --ServerApp.root_dir=<root>
    --ContentsManager.preferred_dir=notebooks
    --ServerApp.port=8890
    --ServerApp.port_retries=0
    --ServerApp.open_browser=False
    """
    workspace = _workspace_root(root)
    cmd = [sys.executable, "-m", "jupyterlab", f"--ServerApp.root_dir={workspace}"]
    if (workspace / _NOTEBOOKS_DIR).is_dir():
        cmd.append(f"--ContentsManager.preferred_dir={_NOTEBOOKS_DIR}")
    if port is not None:
        cmd += [f"--ServerApp.port={int(port)}", "--ServerApp.port_retries=0"]
    cmd.append(f"--ServerApp.open_browser={open_browser}")
    if os.geteuid() == 0:  # containers run as root, and Jupyter refuses root unless told
        cmd.append("--ServerApp.allow_root=True")
    cmd += list(extra_args)
    return cmd


def lab_environment(root: Path | str, base: Mapping[str, str] | None = None) -> dict[str, str]:
    """Environment variables for the lab server (and so for its kernels).

    Parameters
    ----------
    root
        Workspace root, the folder holding ``millpond.yml``.
    base
        Environment to start from; ``os.environ`` when omitted.

    Returns
    -------
    dict of str to str
        ``base`` plus ``MILLPOND_WORKSPACE=<root>``, ``JUPYTER_PREFER_ENV_PATH=1``
        and this interpreter's ``bin`` folder first on ``PATH`` (so ``python``,
        ``pip`` and ``millpond`` in a lab terminal are the environment's, even
        when it was not activated).

    Examples
    --------
    >>> import sys, tempfile
    >>> from pathlib import Path
    >>> root = Path(tempfile.mkdtemp())
    >>> _ = (root / "millpond.yml").write_text("name: demo\\n")
    >>> env = lab_environment(root, base={"PATH": "/usr/bin"})
    >>> env["MILLPOND_WORKSPACE"] == str(root.resolve())
    True
    >>> env["PATH"].split(os.pathsep) == [str(Path(sys.executable).parent), "/usr/bin"]
    True
    """
    env = dict(os.environ if base is None else base)
    env[WORKSPACE_ENV] = str(_workspace_root(root))
    env["JUPYTER_PREFER_ENV_PATH"] = "1"
    bindir = str(Path(sys.executable).parent)
    path = [p for p in env.get("PATH", "").split(os.pathsep) if p]
    if not path or path[0] != bindir:
        env["PATH"] = os.pathsep.join([bindir, *path])
    return env


def launch_lab(
    root: Path | str,
    *,
    port: int | None = None,
    open_browser: bool = True,
    extra_args: Sequence[str] = (),
) -> int:
    """Run JupyterLab on workspace ``root`` until it stops; return its exit status.

    Ctrl-C goes to JupyterLab alone, which asks for confirmation (or stops at
    a second Ctrl-C) and shuts its kernels down; this process only waits.

    Parameters
    ----------
    root, port, open_browser, extra_args
        As for :func:`lab_command`.

    Returns
    -------
    int
        The server's exit status (0 after a normal shutdown).

    Raises
    ------
    FileNotFoundError
        If ``root`` has no ``millpond.yml``.
    RuntimeError
        If JupyterLab is not installed in this environment.
    """
    if importlib.util.find_spec("jupyterlab") is None:
        raise RuntimeError(
            f"JupyterLab is not installed in this environment ({sys.prefix}). "
            "Install millpond with its dependencies, e.g. `pip install -e .`."
        )
    cmd = lab_command(root, port=port, open_browser=open_browser, extra_args=extra_args)
    env = lab_environment(root)
    process = subprocess.Popen(cmd, env=env, cwd=env[WORKSPACE_ENV])
    in_main_thread = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN) if in_main_thread else None
    try:
        return process.wait()
    finally:
        if in_main_thread:
            signal.signal(signal.SIGINT, previous)
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
