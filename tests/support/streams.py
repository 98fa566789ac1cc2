"""Throwaway stream workspaces, generated event logs with known disorder, and readers of what a
stream committed, for the stream tests (the expected windows come from
:mod:`support.stream_oracle`, never from the processor)."""

from __future__ import annotations

import json
import random
from datetime import datetime, timedelta
from pathlib import Path

import duckdb

from support.workspaces import make_workspace, query  # noqa: F401 - query: rows of the warehouse, read-only

BASE = 1_700_000_000_000_000  # 2023-11-14 22:13:20 UTC, in microseconds
SECOND = 1_000_000
WINDOWS = {
    "tumbling": {"type": "tumbling", "size": "60s"},
    "hopping": {"type": "hopping", "size": "5m", "slide": "1m"},
    "session": {"type": "session", "gap": "30s"},
}
SIZES = {"tumbling": (60 * SECOND, 60 * SECOND), "hopping": (300 * SECOND, 60 * SECOND)}


def stream_spec(window: str = "tumbling", **overrides) -> dict:
    """A files stream of JSON lines ``{k, ts, amount}`` under ``data/stream/``, windowed by ``k``."""
    spec = {
        "source": {
            "kind": "files",
            "path": "data/stream/*.jsonl",
            "columns": {"k": "string", "ts": "string", "amount": "float64"},
        },
        "time": "ts",
        "keys": ["k"],
        "window": WINDOWS[window],
        "aggregates": {"events": "count", "amount": "sum(amount)"},
        "watermark": {"delay": "5s", "allowed_lateness": "10s"},
        "sink": "gold.clicks",
    }
    spec.update(overrides)
    return spec


def stream_workspace(root: Path, streams: dict[str, dict], workspace: dict | None = None):
    """A workspace declaring ``streams`` (and one stage, which the stream commands never run)."""
    from millpond.workspace import Workspace

    pipeline = {"name": "live", "stages": [{"name": "look", "notebook": "notebooks/look.ipynb"}], "streams": streams}
    make_workspace(root, {"live": pipeline}, workspace)
    (root / "data" / "stream").mkdir(parents=True, exist_ok=True)
    return Workspace.find(root)


def iso(micros: int) -> str:
    """Microseconds since the epoch as ISO 8601 text (UTC, no offset)."""
    return (datetime(1970, 1, 1) + timedelta(microseconds=micros)).isoformat()


def disordered_events(seed: int, count: int, *, keys: int = 5, step: int = 200_000, pauses: float = 0.0) -> list:
    """``(key, time, amount)`` in arrival order: time advances ``step`` an event, each event is up
    to 8 s early (1 in 20 up to 60 s: late for a window with a 5 s delay and 10 s of lateness),
    a few at exactly the time of the one before (ties), and now and then a pause of 45 s
    (``pauses``: its chance per event), which closes sessions."""
    rng = random.Random(seed)
    out, jump = [], 0
    for i in range(count):
        if rng.random() < pauses:
            jump += 45 * SECOND
        early = rng.randrange(0, 60 * SECOND if rng.random() < 0.05 else 8 * SECOND)
        t = BASE + jump + i * step - early
        if out and rng.random() < 0.03:
            t = out[-1][1]
        out.append((f"k{rng.randrange(keys)}", t, round(rng.random() * 100, 2)))
    return out


def append_events(folder: Path, name: str, events: list) -> None:
    """Append ``events`` to JSON-lines file ``folder/name``."""
    with open(folder / name, "a") as handle:
        for key, t, amount in events:
            handle.write(json.dumps({"k": key, "ts": iso(t), "amount": amount}) + "\n")


def windows_in(ws, table: str) -> dict[tuple, list]:
    """``{(k, start us, end us): [events, amount]}`` of a committed windows table (none: ``{}``)."""
    con = duckdb.connect(str(ws.warehouse_file()), read_only=True)
    try:
        schema, name = table.split(".")
        if not con.execute(
            "SELECT count(*) FROM information_schema.tables WHERE table_schema = ? AND table_name = ?", [schema, name]
        ).fetchone()[0]:
            return {}
        rows = con.execute(
            f"SELECT k, epoch_us(window_start), epoch_us(window_end), events, amount FROM {table}"
        ).fetchall()
    finally:
        con.close()
    return {(k, s, e): [n, round(a, 6)] for k, s, e, n, a in rows}


def rounded(windows: dict[tuple, list]) -> dict[tuple, list]:
    """The oracle's windows with sums rounded as :func:`windows_in` rounds them."""
    return {w: [v[0], round(v[1], 6)] for w, v in windows.items()}
