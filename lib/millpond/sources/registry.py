"""What a source is (:class:`Source`), what it plans for one load (:class:`LoadPlan`), and
the registry of kinds.

A kind is a subclass with a ``kind`` name and an ``Options`` pydantic model (``extra="forbid"``)
for its declared ``options``; its :meth:`Source.plan` gets the state the previous loads left
and returns the rows to load and the state to keep with them, or a plan with ``rows=None``
when nothing is new (nothing is built then; the table is recorded as built, unchanged).

>>> sorted(source_kinds())
['files', 'http_json', 'postgres_cdc', 'postgres_table']
>>> source_class("ftp")
Traceback (most recent call last):
...
millpond.errors.MillpondError: unknown source kind 'ftp' (kinds: files, http_json, postgres_table, postgres_cdc)
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from pydantic import BaseModel, ValidationError

from millpond.errors import MillpondError
from millpond.settings.sources import SourceSpec

if TYPE_CHECKING:
    import ibis.expr.types as ir
    from ibis.backends import BaseBackend

    from millpond.warehouse.incremental import Incremental


@dataclass
class LoadPlan:
    """One load: the rows, how they go in, and the state that commits with them."""

    rows: ir.Table | None
    """The rows to load; ``None`` when nothing is new."""
    incremental: Incremental
    state: dict[str, dict[str, Any]]
    """Items of state to write (an item is a file, a cursor...), each a JSON-able mapping."""
    dropped: list[str] = field(default_factory=list)
    """Items of state that no longer hold (a file gone from the source, its rows removed)."""
    counts: dict[str, int] = field(default_factory=dict)
    """What the plan found, for the summary: e.g. files new, changed, unchanged, gone."""
    temps: list[tuple[str, str]] = field(default_factory=list)
    """``(schema, table)`` of tables the plan made to read its input once (dropped with the
    load's commit; one a killed load leaves is dropped by the source's next load)."""
    origin: ir.Table | None = None
    """The rows as read from the source, before any staging: what lineage records (so a
    column's lineage ends at the files, not at a staging table); ``rows`` when ``None``."""
    held: ir.Table | None = None
    """Records that could not be read, to hold in quarantine (:mod:`millpond.sources.held`);
    the held rows of the ``incremental`` partitions it replaces are replaced with them."""


class Source(ABC):
    """A declared source of one kind; subclasses set ``kind`` and ``Options``."""

    kind: ClassVar[str]
    Options: ClassVar[type[BaseModel]]

    def __init__(self, name: str, spec: SourceSpec, root: Path, *, declared_in: str = "pipelines/"):
        self.name, self.spec, self.root = name, spec, Path(root)
        try:
            self.options = self.Options.model_validate(spec.options)
        except ValidationError as exc:
            error = exc.errors()[0]
            where = ".".join(str(part) for part in error["loc"])
            raise MillpondError(f"{declared_in}: sources: {name}: options: {where}: {error['msg']}") from None

    @abstractmethod
    def plan(self, con: BaseBackend, state: dict[str, dict[str, Any]], *, loaded_at: datetime) -> LoadPlan:
        """The next load given ``state`` (empty for a load from scratch)."""


_KINDS: dict[str, type[Source]] = {}


def register_source(cls: type[Source]) -> type[Source]:
    """Make ``kind: <cls.kind>`` declarable; usable as a class decorator."""
    _KINDS[cls.kind] = cls
    return cls


def source_kinds() -> tuple[str, ...]:
    """The kinds there are, in the order they were registered."""
    return tuple(_KINDS)


def source_class(kind: str) -> type[Source]:
    """The class of ``kind``; a one-line error naming the kinds there are otherwise."""
    try:
        return _KINDS[kind]
    except KeyError:
        raise MillpondError(f"unknown source kind {kind!r} (kinds: {', '.join(_KINDS)})") from None
