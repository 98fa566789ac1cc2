"""A source's load in a child process, as JupyterLab would run it, killed or let finish:
what the sources' kill tests share."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

LOAD = textwrap.dedent(
    """
    import sys
    import millpond as mp
    ctx = mp.stage(sys.argv[1])
    print(ctx.load(sys.argv[2]), flush=True)
    ctx.close()
    """
)


def load_in_child(root: Path, source: str, kill_after: float | None = None) -> int:
    """Load ``source`` of the workspace at ``root`` (production) in a child process. With
    ``kill_after``, SIGKILL it that many seconds after it started and return its exit code
    (``-SIGKILL`` when the kill landed before the load ended); else let it finish and fail
    the test if it does not succeed."""
    env = {**os.environ, "MILLPOND_ENV": "prod"}
    child = subprocess.Popen(
        [sys.executable, "-c", LOAD, str(root), source],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    if kill_after is None:
        out, err = child.communicate(timeout=300)
        assert child.returncode == 0, out + err
        return 0
    time.sleep(kill_after)
    child.send_signal(signal.SIGKILL)
    child.communicate(timeout=60)
    return child.returncode
