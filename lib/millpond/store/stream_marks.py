"""Where each stream stands, as a small file beside the metadata store: ``streams/<name>.json``.

``millpond stream run`` rewrites it when it starts (from what the warehouse holds) and after
each commit: the stream's sink, totals (batches, events, late events by reason, windows
emitted), watermark, last commit and the rate and event-time lag of its recent micro-batches.
The runner reads it without opening the warehouse: a stage declared ``on_stream`` has the
stream's position in its fingerprint, so it reruns whenever the stream committed since; the
quality report shows it. The warehouse's ``_millpond.stream_progress`` stays the truth (a
stream killed after a commit leaves this one commit behind until it runs again).

>>> import tempfile
>>> folder = Path(tempfile.mkdtemp())
>>> write_mark(folder, "clicks", {"batches": 3, "events": 10})
>>> read_marks(folder)
{'clicks': {'batches': 3, 'events': 10}}
>>> position(folder, "clicks"), position(folder, "nope")
('3', 'never')
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

FOLDER = "streams"


def write_mark(history: Path, name: str, mark: dict[str, Any]) -> None:
    """Replace stream ``name``'s mark in the environment's history folder ``history`` (atomically)."""
    folder = history / FOLDER
    folder.mkdir(parents=True, exist_ok=True)
    partial = folder / f".{name}.json.{os.getpid()}"
    partial.write_text(json.dumps(mark, default=str, sort_keys=True), encoding="utf-8")
    os.replace(partial, folder / f"{name}.json")


def read_marks(history: Path) -> dict[str, dict[str, Any]]:
    """Every stream's mark, by name (none: ``{}``; an unreadable one is left out)."""
    folder = history / FOLDER
    marks: dict[str, dict[str, Any]] = {}
    for path in sorted(folder.glob("*.json")) if folder.is_dir() else []:
        try:
            marks[path.stem] = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
    return marks


def position(history: Path, name: str) -> str:
    """How far stream ``name`` has committed: its count of micro-batches and the time of the last
    commit (a replay commits anew), ``never`` when it has none."""
    try:
        mark = json.loads((history / FOLDER / f"{name}.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return "never"
    if "batches" not in mark:
        return "never"
    return f"{mark['batches']}@{mark['committed_at']}" if mark.get("committed_at") else str(mark["batches"])
