"""Catalog values as short text (ages, sizes, lake copies) and the selection of entries by
tag or search, for the command line and the docs site."""

from __future__ import annotations

from millpond.catalog.entry import Catalog, CatalogEntry
from millpond.catalog.lake_copies import LakeCopy


def age_text(seconds: float | None) -> str:
    """A short age: ``45s``, ``12m``, ``3h 5m``, ``2d 4h``.

    >>> [age_text(s) for s in (None, 45, 720, 3 * 3600 + 300, 2 * 86400 + 4 * 3600)]
    ['', '45s', '12m', '3h 5m', '2d 4h']
    """
    if seconds is None:
        return ""
    s = int(seconds)
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m"
    if s < 86400:
        return f"{s // 3600}h {s % 3600 // 60}m"
    return f"{s // 86400}d {s % 86400 // 3600}h"


def size_text(size: int | None) -> str:
    """Bytes in KB/MB/GB (powers of 1000).

    >>> [size_text(n) for n in (None, 512, 262_144, 3_500_000)]
    ['', '512 B', '262.1 kB', '3.5 MB']
    """
    if size is None:
        return ""
    for unit, scale in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if size >= scale:
            return f"{size / scale:.1f} {unit}"
    return f"{size} B"


def lake_text(copy: LakeCopy | None) -> str:
    """One line about a table's lake copy.

    >>> lake_text(LakeCopy(path="data/lake/gold/t", format="delta", rows=31, files=1, version=4))
    'data/lake/gold/t (delta version 4, 31 rows in 1 file)'
    >>> lake_text(LakeCopy(path="data/lake/gold/o", format="parquet", rows=5000, files=31, partition_by=["day"]))
    'data/lake/gold/o (parquet, 5,000 rows in 31 files, partitioned by day)'
    """
    if copy is None:
        return ""
    parts = [copy.format + (f" version {copy.version}" if copy.version is not None else "")]
    if copy.rows is not None:
        parts.append(f"{copy.rows:,} rows" + (f" in {copy.files} file{'s' * (copy.files != 1)}" if copy.files else ""))
    if copy.partition_by:
        parts.append("partitioned by " + ", ".join(copy.partition_by))
    return f"{copy.path} ({', '.join(parts)})"


def select(catalog: Catalog, *, tag: str | None = None, search: str | None = None) -> list[CatalogEntry]:
    """The entries ``--tag`` and ``--search`` keep (both when both are given)."""
    entries = catalog.entries
    if tag:
        entries = [e for e in entries if e.has_tag(tag)]
    if search:
        entries = [e for e in entries if e.matches(search)]
    return entries
