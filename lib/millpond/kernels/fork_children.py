"""What a child of the fork server becomes: a stage's kernel, or one forked call.

Both start a session of their own and a lifeline to the process that asked for them
(:func:`millpond.processes.die_with`), take the requester's environment and working
directory, and never return into the server's loop (``os._exit``).
"""

from __future__ import annotations

import atexit
import importlib
import json
import os
import signal
import sys
import traceback
from pathlib import Path

from millpond.errors import MillpondError
from millpond.processes import die_with


def run_call(request: dict) -> None:
    code, answer = 1, {"error": "no answer"}
    try:
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        os.setsid()
        die_with(request.get("watch"))
        devnull = os.open(os.devnull, os.O_RDWR)
        os.dup2(devnull, 0)
        os.dup2(2, 1)  # never write on the server's answer pipe
        os.environ.clear()
        os.environ.update(request["env"])
        os.chdir(request["cwd"])
        module, _, function = request["call"].partition(":")
        answer = {"ok": getattr(importlib.import_module(module), function)(**request["payload"])}
        code = 0
    except BaseException as exc:  # noqa: BLE001 - reported to the caller
        answer = {
            "error": str(exc) if isinstance(exc, MillpondError) else f"{type(exc).__name__}: {exc}",
            "user": isinstance(exc, MillpondError),
        }
    finally:
        try:
            Path(request["result"]).write_text(json.dumps(answer, default=str))
        finally:
            os._exit(code)


def become_kernel(request: dict) -> None:
    code = 1
    try:
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        os.setsid()  # its own process group, as a launched kernel has
        die_with(request.get("watch"))  # and it ends with the run that asked for it
        devnull = os.open(os.devnull, os.O_RDWR)
        os.dup2(devnull, 0)
        os.dup2(2, 1)  # never write on the server's answer pipe
        sys.stdin = open(os.devnull)
        sys.stdout = os.fdopen(1, "w", buffering=1)
        os.environ.clear()
        os.environ.update(request["env"])
        os.chdir(request["cwd"])
        sys.argv = ["ipykernel_launcher", *request["argv"]]
        from ipykernel.kernelapp import IPKernelApp

        app = IPKernelApp.instance()
        app.initialize(request["argv"])
        app.start()
        # The control thread may still be flushing the shutdown reply through the IOPub thread;
        # ipykernel's close() (at exit) stops IOPub first and then joins it: let it finish.
        control = getattr(app, "control_thread", None)
        if control is not None and control.is_alive():
            control.join(timeout=1.0)
        code = 0

        atexit._run_exitfuncs()  # what a normal exit runs (close connections...), without tearing down modules
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 0
    except BaseException:  # noqa: BLE001 - report and die, never return into the server loop
        traceback.print_exc()
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
