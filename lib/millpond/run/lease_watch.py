"""Telling the console when a run's stages wait for the warehouse.

A stage kernel that finds the DuckDB warehouse leased (to a JupyterLab cell, a
``millpond compact``, another tool) waits, and says so inside its notebook. The person at
the console sees it too: while stages run, the runner looks at the lease every half
second, and when someone outside this run holds it, reports who, once per holder.

Examples
--------
>>> import tempfile
>>> from millpond.warehouse.lease import Lease
>>> db = Path(tempfile.mkdtemp()) / "w.duckdb"
>>> watch = LeaseWatch(db)
>>> watch.news() is None                       # free
True
>>> mine = Lease(db, "the runner"); mine.acquire()
>>> watch.news() is None                       # held by this run
True
>>> mine.release()

``tests/lib/run/test_waiting.py`` shows a holder outside the run, reported once.
"""

from __future__ import annotations

from pathlib import Path

from millpond.processes import identity
from millpond.warehouse.lease import Lease


class LeaseWatch:
    """Who, outside this run, holds the lease of ``database``; each holder reported once."""

    def __init__(self, database: Path):
        self.lease = Lease(database)
        self.me = identity()
        self.told: set[str] = set()

    def news(self) -> str | None:
        """A line to show when someone new outside this run holds the lease, else ``None``."""
        held = self.lease.held_by()
        if held is None or self.me["pid"] in ((held["run"] or {}).get("pid"), (held["holder"] or {}).get("pid")):
            return None
        key = held["text"]
        if key in self.told:
            return None
        self.told.add(key)
        return f"stages wait for the warehouse, held by {held['text']}"
