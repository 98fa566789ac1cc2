"""A one-stage workspace for ``millpond watch``'s tests: its stage appends a line to a log
when it starts and when it ends (its name and the time), so the tests count runs and see
whether two overlapped."""

from __future__ import annotations

import time
from pathlib import Path

from millpond.workspace import Workspace
from support.workspaces import make_workspace, write_notebook

LOGGED = (
    "import time\n"
    "open(log, 'a').write(f'{stage} start {time.time()}\\n')\n"
    "time.sleep(nap)\n"
    "open(log, 'a').write(f'{stage} end {time.time()}\\n')"
)
EVENTS = "data/raw/events"


def logged_stage(root: Path, name: str, nap: float = 0.0, **declared) -> dict:
    """A stage of the logging notebook, named ``name``, that sleeps ``nap`` seconds."""
    params = {"log": str(root / "runs.log"), "stage": name, "nap": nap}
    return {"name": name, "notebook": "notebooks/logged.ipynb", "params": params, **declared}


def watch_workspace(
    root: Path, nap: float = 0.0, *, more: list[dict] | None = None, watch: dict | None = None
) -> Workspace:
    """Pipeline ``p``: stage ``count`` reads ``data/raw/events/*.jsonl`` (so files landing there
    start a run and make it execute), and the stages ``more``."""
    write_notebook(root / "notebooks/logged.ipynb", "log = ''\nstage = ''\nnap = 0.0", LOGGED)
    spec: dict = {"stages": [logged_stage(root, "count", nap, reads=[f"{EVENTS}/*.jsonl"]), *(more or [])]}
    if watch is not None:
        spec["watch"] = watch
    make_workspace(root, {"p": spec})
    (root / EVENTS).mkdir(parents=True, exist_ok=True)
    return Workspace(root)


def run_log(root: Path) -> list[tuple[str, str, float]]:
    """``(stage, "start" or "end", time)`` of each line the stages logged."""
    path = root / "runs.log"
    lines = path.read_text().splitlines() if path.exists() else []
    return [(stage, what, float(at)) for stage, what, at in (line.split() for line in lines)]


def land(root: Path, count: int, *, within: float = 0.0, prefix: str = "e") -> None:
    """``count`` files landing in ``data/raw/events/`` evenly over ``within`` seconds."""
    for i in range(count):
        (root / EVENTS / f"{prefix}{i:03}.jsonl").write_text('{"n": %d}\n' % i)
        if count > 1:
            time.sleep(within / (count - 1))


def wait_for(predicate, seconds: float = 60.0) -> bool:
    """Whether ``predicate()`` came true within ``seconds``."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return False
