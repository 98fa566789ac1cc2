"""Jupyter kernel managers whose kernels come from the warm fork server.

:class:`ForkKernelManager` is jupyter_client's ``AsyncKernelManager`` with one change:
its provisioner, :class:`ForkProvisioner`, asks :func:`millpond.kernels.forkserver.fork_server`
for a new kernel process instead of starting ``python -m ipykernel_launcher``. Everything
else (the connection file, ports, the messaging, interrupts, shutdown, the restarter) is
jupyter_client's own, so nbclient and Papermill drive it like any kernel.

The forked kernel is not a child of this process, so its exit code is unknown: a kernel
that died reads as exit code ``-1``.
"""

from __future__ import annotations

import asyncio
import atexit
import os
import signal
import subprocess
import threading
import time
import uuid
from queue import Empty
from typing import Any

from jupyter_client.asynchronous import AsyncKernelClient
from jupyter_client.manager import AsyncKernelManager
from jupyter_client.provisioning import LocalProvisioner
from traitlets import Bool, DottedObjectName, Float, Type

from millpond.kernels.forkserver import fork_server
from millpond.kernels.pool import kernel_pool
from millpond.processes import is_alive

__all__ = ["ForkKernelManager", "ForkProvisioner", "ForkedProcess", "WelcomeClient"]

UNKNOWN_EXIT = -1


class ForkedProcess:
    """The parts of :class:`subprocess.Popen` the provisioner uses, for a process we did not start."""

    stdin = stdout = stderr = None  # the kernel's streams are not ours

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.returncode: int | None = None

    def poll(self) -> int | None:
        if self.returncode is None and not _alive(self.pid):
            self.returncode = UNKNOWN_EXIT
        return self.returncode

    def wait(self, timeout: float | None = None) -> int:
        deadline = None if timeout is None else time.monotonic() + timeout
        while self.poll() is None:
            if deadline is not None and time.monotonic() > deadline:
                raise subprocess.TimeoutExpired(f"kernel {self.pid}", timeout)
            time.sleep(0.01)
        return self.returncode

    def send_signal(self, signum: int) -> None:
        try:
            os.kill(self.pid, signum)
        except ProcessLookupError:
            pass

    def terminate(self) -> None:
        self.send_signal(signal.SIGTERM)

    def kill(self) -> None:
        self.send_signal(signal.SIGKILL)


_alive = is_alive  # the fork server reaps its children, so a dead kernel is gone


class ForkProvisioner(LocalProvisioner):
    """A local provisioner that forks its kernel from the warm server."""

    async def launch_kernel(self, cmd: list[str], **kwargs: Any):
        argv = _kernel_arguments(cmd)
        env = kwargs.get("env") or dict(os.environ)
        cwd = str(kwargs.get("cwd") or os.getcwd())
        pooled = kernel_pool().take(argv[2:]) if getattr(self.parent, "use_pool", False) else None
        if pooled is None:
            pid = fork_server().fork(argv, env, cwd)
        else:  # already up, on its own connection details; the stage's env and cwd are set before cell 1
            pid = pooled.pid
            self.connection_info = {**self.connection_info, **pooled.info, "key": pooled.info["key"].encode()}
            self.parent.pending_setup = (env, cwd)  # its connection file stays: it may not have read it yet
        self.process = ForkedProcess(pid)
        self.pid = pid
        self.pgid = pid  # the child called setsid()
        self.cwd = cwd
        return self.connection_info

    async def wait(self) -> int | None:
        """Wait for the kernel to end, polling every 10 ms (jupyter_client polls every 100 ms)."""
        if self.process is None:
            return 0
        while await self.poll() is None:
            await asyncio.sleep(0.01)
        code, self.process = self.process.returncode, None
        return code


def _kernel_arguments(cmd: list[str]) -> list[str]:
    """The kernel's own arguments from a launch command (``... -m ipykernel_launcher -f X ...``).

    >>> _kernel_arguments(["/usr/bin/python3", "-m", "ipykernel_launcher", "-f", "k.json", "--x=1"])
    ['-f', 'k.json', '--x=1']
    """
    if "-f" in cmd:
        return cmd[cmd.index("-f") :]
    raise RuntimeError(f"cannot fork a kernel for {' '.join(cmd)}: no connection file (-f) in its command")


class WelcomeClient(AsyncKernelClient):
    """A kernel client that knows the kernel is ready without guessing.

    jupyter_client's ``wait_for_ready`` asks ``kernel_info`` and then waits up to 0.2 s for
    an IOPub message to prove IOPub is connected; when the subscription was not through
    yet, that message is lost and it waits and asks again (0.2 to 0.4 s per kernel here).
    ipykernel publishes IOPub on an XPUB socket that sends ``iopub_welcome`` the moment a
    subscription arrives, so this client waits for that, then asks ``kernel_info`` once.
    A kernel that sends no welcome gets jupyter_client's own wait.
    """

    async def _async_wait_for_ready(self, timeout: float | None = None) -> None:
        deadline = time.monotonic() + (timeout if timeout is not None else 60.0)
        try:
            first = await self.iopub_channel.get_msg(timeout=min(5.0, max(0.1, deadline - time.monotonic())))
        except Empty:
            first = None
        if first is None or first["msg_type"] != "iopub_welcome":
            return await super()._async_wait_for_ready(timeout=max(0.1, deadline - time.monotonic()))
        while True:
            self.kernel_info()
            try:
                reply = await self.shell_channel.get_msg(timeout=1)
            except Empty:
                reply = None
            if reply is not None and reply["msg_type"] == "kernel_info_reply":
                self._handle_kernel_info_reply(reply)
                await self._setup(deadline)
                return None
            if not await self._async_is_alive():
                raise RuntimeError("Kernel died before replying to kernel_info")
            if time.monotonic() > deadline:
                raise RuntimeError(f"Kernel didn't respond in {timeout} seconds")

    async def _setup(self, deadline: float) -> None:
        """Give a pooled kernel its stage's environment and working directory, silently
        (no execution count, no history, nothing left in the user namespace)."""
        setup = getattr(self.parent, "pending_setup", None)
        if setup is None:
            return
        env, cwd = setup
        code = (
            f"__import__('os').environ.clear(); __import__('os').environ.update({dict(env)!r}); "
            f"__import__('os').chdir({cwd!r})"
        )
        msg_id = self.execute(code, silent=True, store_history=False)
        while True:
            try:
                reply = await self.shell_channel.get_msg(timeout=max(0.1, deadline - time.monotonic()))
            except Empty:
                raise RuntimeError("the kernel did not take its stage's environment in time") from None
            if reply["parent_header"].get("msg_id") == msg_id:
                break
        if reply["content"]["status"] != "ok":
            raise RuntimeError(f"the kernel could not take its stage's environment: {reply['content'].get('evalue')}")
        self.parent.pending_setup = None

    wait_for_ready = _async_wait_for_ready  # the public name jupyter_client aliases at class creation


class Reaper:
    """Kills kernels that did not exit within their grace time after a shutdown request."""

    def __init__(self) -> None:
        self._watched: dict[int, float] = {}
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None

    def watch(self, pid: int, grace: float) -> None:
        with self._lock:
            self._watched[pid] = time.monotonic() + grace
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name="millpond-kernel-reaper", daemon=True)
                self._thread.start()

    def _run(self) -> None:
        while True:
            with self._lock:
                if not self._watched:
                    self._thread = None
                    return
                now = time.monotonic()
                for pid, deadline in list(self._watched.items()):
                    if not _alive(pid):
                        del self._watched[pid]
                    elif now > deadline:
                        _kill_group(pid)
                        del self._watched[pid]
            time.sleep(0.01)

    def wait(self, timeout: float = 5.0) -> None:
        """Wait until every watched kernel has exited (each is killed after its grace time)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._lock:
                if not self._watched:
                    return
            time.sleep(0.005)

    def kill_all(self) -> None:
        """Kill every kernel still watched (at exit)."""
        with self._lock:
            for pid in self._watched:
                _kill_group(pid)
            self._watched.clear()


def _kill_group(pid: int) -> None:
    try:
        os.killpg(pid, signal.SIGKILL)  # the kernel is its process group's leader (setsid)
    except OSError:
        try:
            os.kill(pid, signal.SIGKILL)
        except OSError:
            pass


REAPER = Reaper()
atexit.register(REAPER.kill_all)


class ForkKernelManager(AsyncKernelManager):
    """An ``AsyncKernelManager`` whose kernels are forked by the warm server."""

    # ipykernel can deadlock at exit (its control thread flushes stdout through the IOPub
    # thread that close() already stopped, while close() joins the control thread): about
    # one kernel in 20 here. jupyter_client waits half of this before SIGTERM (default 5 s).
    shutdown_wait_time = Float(0.6).tag(config=True)
    use_pool = Bool(True, help="take kernels forked ahead of need (millpond.kernels.pool)").tag(config=True)
    pending_setup: tuple[dict, str] | None = None
    client_class = DottedObjectName("millpond.kernels.fork_kernel.WelcomeClient")
    client_factory = Type(klass=AsyncKernelClient, default_value=WelcomeClient)

    async def _async_finish_shutdown(
        self, waittime: float | None = None, pollinterval: float = 0.1, restart: bool = False
    ) -> None:
        """Leave the kernel to exit on the shutdown request it was just sent, watched by
        :data:`REAPER` (killed if still alive after ``shutdown_wait_time``), instead of
        waiting here: the stage is over and its notebook written. Whatever the kernel still
        holds, it holds under the warehouse lease, which the next user waits for."""
        if restart or self.provisioner is None or self.provisioner.process is None:
            return await super()._async_finish_shutdown(
                waittime=waittime, pollinterval=min(pollinterval, 0.005), restart=restart
            )
        REAPER.watch(self.provisioner.process.pid, self.shutdown_wait_time)
        self.provisioner.process = None  # no longer ours to wait for
        return None

    async def _async_pre_start_kernel(self, **kw: Any):
        if self.provisioner is None:
            self.kernel_id = self.kernel_id or kw.pop("kernel_id", str(uuid.uuid4()))
            self.provisioner = ForkProvisioner(kernel_id=self.kernel_id, kernel_spec=self.kernel_spec, parent=self)
        return await super()._async_pre_start_kernel(**kw)
