"""What the catalog knows about one table (or raw file), as pydantic models.

A :class:`Catalog` is a list of :class:`CatalogEntry`, one per table the workspace
builds or reads; :func:`millpond.catalog.build.build_catalog` fills it from the
pipeline specs and the metadata store. Filtering (:meth:`Catalog.tagged`,
:meth:`Catalog.search`) works on the models alone, so ``--json`` and the rich view
show the same thing.
"""

from __future__ import annotations

import datetime as dt
import difflib

from pydantic import BaseModel

from millpond.catalog.lake_copies import LakeCopy
from millpond.catalog.products import ProductStatus
from millpond.errors import MillpondError


class ColumnEntry(BaseModel):
    """One column: its type in the latest build (``None`` before any) and what is declared."""

    name: str
    type: str | None = None
    description: str = ""
    tags: list[str] = []
    in_primary_key: bool = False


class QualityStatus(BaseModel):
    """The results of the latest run that checked the table."""

    run_id: str | None = None
    checked_at: dt.datetime | None = None
    passed: int = 0
    warned: int = 0
    failed: int = 0

    @property
    def status(self) -> str:
        """``fail`` when any check failed, else ``warn`` when any warned, else ``pass``.

        >>> QualityStatus(passed=3, warned=1).status
        'warn'
        """
        return "fail" if self.failed else "warn" if self.warned else "pass"


class CatalogEntry(BaseModel):
    """A table the workspace builds or reads, or a raw file pattern a stage ``reads``.

    ``built_at``/``age_seconds`` are the latest build and its age when the catalog was
    made (for a raw file: its newest matching file's modification time); ``size_bytes``
    comes from the warehouse when that is cheap (for a raw file: the files' total).
    """

    name: str
    layer: str
    kind: str | None = None
    description: str = ""
    owner: str | None = None
    tags: list[str] = []
    primary_key: list[str] = []
    columns: list[ColumnEntry] = []
    rows: int | None = None
    size_bytes: int | None = None
    run_id: str | None = None
    built_at: dt.datetime | None = None
    age_seconds: float | None = None
    pipeline: str | None = None
    stage: str | None = None
    notebook: str | None = None
    read_by: list[str] = []
    quality: QualityStatus | None = None
    domain: str | None = None
    product: ProductStatus | None = None  # a published data product: its SLA and readiness
    lake: LakeCopy | None = None  # its published copy in the lake, if any

    def column(self, name: str) -> ColumnEntry:
        for c in self.columns:
            if c.name == name:
                return c
        raise KeyError(name)

    def tagged_columns(self, tag: str) -> list[str]:
        """Columns carrying ``tag`` (case-insensitive)."""
        return [c.name for c in self.columns if tag.lower() in (t.lower() for t in c.tags)]

    def has_tag(self, tag: str) -> bool:
        """Whether the table or one of its columns carries ``tag``.

        >>> e = CatalogEntry(name="silver.customers", layer="silver", columns=[ColumnEntry(name="email", tags=["pii"])])
        >>> e.has_tag("PII"), e.has_tag("finance")
        (True, False)
        """
        return tag.lower() in (t.lower() for t in self.tags) or bool(self.tagged_columns(tag))

    def matches(self, text: str) -> list[str]:
        """Where ``text`` occurs (case-insensitive) in the name, description, owner, tags
        and columns' names, descriptions and tags; empty when nowhere.

        >>> e = CatalogEntry(name="gold.dim_customer", layer="gold", description="one row per customer version",
        ...                  columns=[ColumnEntry(name="email", description="contact address", tags=["pii"])])
        >>> e.matches("email"), e.matches("PII"), e.matches("version"), e.matches("zzz")
        (['column email'], ['column email tag pii'], ['description'], [])
        """
        needle = text.lower()
        found = []
        if needle in self.name.lower():
            found.append("name")
        if needle in self.description.lower():
            found.append("description")
        if self.owner and needle in self.owner.lower():
            found.append("owner")
        found += [f"tag {t}" for t in self.tags if needle in t.lower()]
        for c in self.columns:
            if needle in c.name.lower():
                found.append(f"column {c.name}")
            if needle in c.description.lower():
                found.append(f"column {c.name} description")
            found += [f"column {c.name} tag {t}" for t in c.tags if needle in t.lower()]
        return found


class Catalog(BaseModel):
    """Every entry of a workspace, raw files first, then tables by name."""

    workspace: str
    made_at: dt.datetime
    entries: list[CatalogEntry]

    def entry(self, name: str) -> CatalogEntry:
        """The entry called ``name``, or one line naming the closest known names.

        >>> Catalog(workspace="w", made_at=dt.datetime(2024, 1, 1), entries=[]).entry("gold.x")
        Traceback (most recent call last):
        ...
        millpond.errors.MillpondError: no table 'gold.x' in the catalog (see `millpond catalog`)
        """
        for e in self.entries:
            if e.name == name:
                return e

        close = difflib.get_close_matches(name, [e.name for e in self.entries], n=3)
        hint = f"; did you mean {', '.join(close)}?" if close else " (see `millpond catalog`)"
        raise MillpondError(f"no table {name!r} in the catalog{hint}")

    def tagged(self, tag: str) -> list[CatalogEntry]:
        """Entries whose table or a column carries ``tag``."""
        return [e for e in self.entries if e.has_tag(tag)]

    def search(self, text: str) -> list[CatalogEntry]:
        """Entries where ``text`` occurs in a name, description, owner, tag or column."""
        return [e for e in self.entries if e.matches(text)]
