"""A Papermill engine that gives the kernel its environment and a stage deadline.

It is Papermill's own nbclient engine with two additions: the kernel is started
with the ``MILLPOND_*`` variables that tell ``mp.stage()`` its run and stage (so
nothing of that is injected into the notebook), and a watchdog kills the kernel
when the stage's whole-stage timeout passes. Executed notebooks are exactly what
Papermill writes.
"""

from __future__ import annotations

import os
import signal
import threading

from papermill.clientwrap import PapermillNotebookClient
from papermill.engines import NBClientEngine, papermill_engines
from papermill.utils import merge_kwargs, remove_args

ENGINE_NAME = "millpond"


class MillpondEngine(NBClientEngine):
    """nbclient engine with ``kernel_env``, ``kernel_cwd`` and ``stage_timeout``."""

    @classmethod
    def execute_managed_notebook(
        cls,
        nb_man,
        kernel_name,
        log_output=False,
        stdout_file=None,
        stderr_file=None,
        start_timeout=60,
        execution_timeout=None,
        kernel_env=None,
        kernel_cwd=None,
        stage_timeout=None,
        timed_out=None,
        **kwargs,
    ):
        kwargs = remove_args(["input_path", "timeout", "startup_timeout"], **kwargs)
        final_kwargs = merge_kwargs(
            kwargs,
            timeout=execution_timeout,
            startup_timeout=start_timeout,
            kernel_name=kernel_name,
            log=__import__("papermill.log", fromlist=["logger"]).logger,
            log_output=log_output,
            stdout_file=stdout_file,
            stderr_file=stderr_file,
            # ipykernel 7 warns on stderr about unencrypted TCP on every start
            extra_arguments=["--IPKernelApp.log_level=CRITICAL"],
        )
        client = PapermillNotebookClient(nb_man, **final_kwargs)
        watchdog = None
        if stage_timeout:
            watchdog = threading.Timer(stage_timeout, _kill_kernel, args=(client, timed_out))
            watchdog.daemon = True
            watchdog.start()
        start_kwargs = {}
        if kernel_env is not None:
            start_kwargs["env"] = kernel_env
        if kernel_cwd is not None:
            start_kwargs["cwd"] = str(kernel_cwd)
        try:
            return client.execute(**start_kwargs)
        finally:
            if watchdog is not None:
                watchdog.cancel()


def _kill_kernel(client: PapermillNotebookClient, timed_out: threading.Event | None) -> None:
    if timed_out is not None:
        timed_out.set()
    km = getattr(client, "km", None)
    process = getattr(getattr(km, "provisioner", None), "process", None)
    if process is not None and process.poll() is None:
        os.kill(process.pid, signal.SIGKILL)


papermill_engines.register(ENGINE_NAME, MillpondEngine)
