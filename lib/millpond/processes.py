"""Whether a process runs, by its pid (kernels, the fork server, the Spark server).

>>> import os
>>> is_alive(os.getpid()), is_alive(None)
(True, False)
"""

from __future__ import annotations

import os


def is_alive(pid: int | None) -> bool:
    """Whether ``pid`` runs; a zombie (exited, not yet reaped) does not."""
    if not pid:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return True
