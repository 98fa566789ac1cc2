"""A Papermill engine that gives the kernel its environment and a stage deadline.

It is Papermill's own nbclient engine with three additions: the kernel is started
with the ``MILLPOND_*`` variables that tell ``mp.stage()`` its run and stage (so
nothing of that is injected into the notebook), a watchdog kills the kernel when
the stage's whole-stage timeout passes, and every write of the executed notebook
first masks the workspace's secret values in it (``redactor``: in place, so the
error Papermill raises from it is masked too, and never in code still to run). Executed notebooks are otherwise
exactly what Papermill writes.
"""

from __future__ import annotations

import os
import signal
import threading
from contextlib import contextmanager

from papermill.clientwrap import PapermillNotebookClient
from papermill.engines import NBClientEngine, NotebookExecutionManager, papermill_engines
from papermill.utils import merge_kwargs, remove_args

ENGINE_NAME = "millpond"


class BatchedSaves(NotebookExecutionManager):
    """Papermill's execution manager, writing the notebook at most every ``min_interval``
    seconds while cells start and finish (Papermill writes it twice per cell: 4 ms each,
    a third of a trivial stage's overhead). The first and the final write always happen,
    so the executed notebook is the same; only a crash of the runner itself can leave a
    copy up to ``min_interval`` behind.
    """

    min_interval = 0.5
    _deferring = False
    redactor = None
    """A :class:`millpond.secrets.Redactor`: the values masked in the notebook before each write."""

    def save(self, **kwargs):
        last = getattr(self, "last_save_time", None)
        if self._deferring and last is not None and (self.now() - last).total_seconds() < self.min_interval:
            return
        if self.redactor:
            self._mask()
        super().save(**kwargs)

    def _mask(self) -> None:
        """Mask the secret values in the notebook, in place: its metadata, every output, and the
        code of each cell that ran (a cell still to run keeps its code: masking it would change
        what runs); once the notebook is complete, everything."""
        complete = getattr(self, "end_time", None) is not None
        self.redactor.in_place(self.nb.metadata)
        for cell in self.nb.cells:
            if complete or cell.metadata.get("papermill", {}).get("status") in (self.COMPLETED, self.FAILED):
                self.redactor.in_place(cell)
            else:
                self.redactor.in_place(cell.get("outputs", []))
                self.redactor.in_place(cell.metadata)

    def cell_start(self, cell, cell_index=None, **kwargs):
        with self._deferred():
            super().cell_start(cell, cell_index, **kwargs)

    def cell_complete(self, cell, cell_index=None, **kwargs):
        with self._deferred():
            super().cell_complete(cell, cell_index, **kwargs)

    @contextmanager
    def _deferred(self):
        self._deferring = True
        try:
            yield
        finally:
            self._deferring = False


class MillpondEngine(NBClientEngine):
    """nbclient engine with ``kernel_env``, ``kernel_cwd``, ``stage_timeout`` and ``redactor``."""

    @classmethod
    def execute_notebook(
        cls,
        nb,
        kernel_name,
        output_path=None,
        progress_bar=True,
        log_output=False,
        autosave_cell_every=30,
        redactor=None,
        **kwargs,
    ):
        """Papermill's ``Engine.execute_notebook`` with :class:`BatchedSaves` as the manager."""
        nb_man = BatchedSaves(
            nb,
            output_path=output_path,
            progress_bar=progress_bar,
            log_output=log_output,
            autosave_cell_every=autosave_cell_every,
        )
        nb_man.redactor = redactor
        nb_man.notebook_start()
        try:
            cls.execute_managed_notebook(nb_man, kernel_name, log_output=log_output, **kwargs)
        finally:
            nb_man.cleanup_pbar()
            nb_man.notebook_complete()
        return nb_man.nb

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
