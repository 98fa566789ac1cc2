"""The lake copies of warehouse tables, read from the lake folder itself.

A table published with ``publish:`` or ``ctx.publish`` lives at
``data/lake/<layer>/<table>/`` (:mod:`millpond.warehouse.lake`): Parquet snapshots whose
live one carries a manifest (``_millpond_lake.json``: format, rows, files, partitions),
or a Delta table whose ``_delta_log`` holds one JSON commit per version. Reading those
small files tells the catalog what each copy holds without opening any data file or
importing a Delta library.

>>> import tempfile, json, pathlib
>>> lake = pathlib.Path(tempfile.mkdtemp())
>>> (lake / "gold" / "t").mkdir(parents=True)
>>> _ = (lake / "gold" / "t" / "_millpond_lake.json").write_text(json.dumps(
...     {"name": "gold.t", "format": "parquet", "rows": 5, "files": 2, "partition_by": ["day"]}))
>>> copy = lake_copies(lake)["gold.t"]
>>> (copy.format, copy.rows, copy.files, copy.partition_by, copy.version)
('parquet', 5, 2, ['day'], None)
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

from pydantic import BaseModel

from millpond.catalog.times import utc_from_timestamp

__all__ = ["LakeCopy", "lake_copies"]


class LakeCopy(BaseModel):
    """One published copy of a table in the lake."""

    path: str
    format: str
    rows: int | None = None
    files: int | None = None
    partition_by: list[str] = []
    version: int | None = None  # the Delta version (None for Parquet snapshots)
    published_at: dt.datetime | None = None


def lake_copies(lake: Path, *, root: Path | None = None) -> dict[str, LakeCopy]:
    """Every table published under ``lake``, by ``layer.table`` (paths shown relative to ``root``)."""
    found: dict[str, LakeCopy] = {}
    if not lake.is_dir():
        return found
    for layer in sorted(p for p in lake.iterdir() if p.is_dir() and not p.name.startswith(".")):
        for table in sorted(p for p in layer.iterdir() if p.is_dir() and not p.name.startswith(".")):
            shown = str(table.relative_to(root)) if root is not None and table.is_relative_to(root) else str(table)
            copy = _delta(table, shown) if (table / "_delta_log").is_dir() else _parquet(table, shown)
            if copy is not None:
                found[f"{layer.name}.{table.name}"] = copy
    return found


def _parquet(table: Path, shown: str) -> LakeCopy | None:
    manifest = table / "_millpond_lake.json"
    try:
        data = json.loads(manifest.read_text())
        modified = manifest.stat().st_mtime
    except (OSError, ValueError):
        return None  # not a table this workspace published
    return LakeCopy(
        path=shown,
        format=data.get("format", "parquet"),
        rows=data.get("rows"),
        files=data.get("files"),
        partition_by=data.get("partition_by") or [],
        published_at=utc_from_timestamp(modified),
    )


def _delta(table: Path, shown: str) -> LakeCopy | None:
    commits = sorted((table / "_delta_log").glob("*.json"))
    if not commits:
        return None
    latest = commits[-1]
    rows = files = partitions = None
    for line in latest.read_text().splitlines():
        action = json.loads(line) if line.strip() else {}
        info = action.get("commitInfo") or {}
        if (info.get("operationParameters") or {}).get("mode") == "Overwrite":  # millpond always overwrites
            metrics = info.get("operationMetrics") or {}
            rows, files = metrics.get("num_added_rows"), metrics.get("num_added_files")
        if "metaData" in action:
            partitions = action["metaData"].get("partitionColumns")
    if partitions is None:  # the schema (and its partitions) is in the commit that last changed it
        for commit in reversed(commits[:-1]):
            meta = [json.loads(x)["metaData"] for x in commit.read_text().splitlines() if '"metaData"' in x]
            if meta:
                partitions = meta[-1].get("partitionColumns")
                break
    return LakeCopy(
        path=shown,
        format="delta",
        rows=rows,
        partition_by=partitions or [],
        files=files,
        version=int(latest.stem),
        published_at=utc_from_timestamp(latest.stat().st_mtime),
    )
