"""What a materialization built: :class:`Materialized`, as ``ctx.materialize`` returns it."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class Materialized:
    """What a materialization built; its ``repr`` is what a notebook shows."""

    name: str
    kind: str
    rows: int | None
    schema: dict[str, str] = field(repr=False)
    duration: float = field(repr=False)
    new_rows: int | None = field(default=None, repr=False)
    """For ``incremental``: the rows this build staged and applied (``None`` when built whole)."""
    strategy: str | None = field(default=None, repr=False)
    held: int | None = field(default=None, repr=False)
    """Rows the ``quarantine`` schema policy held in ``quarantine.<table>`` (``None``: no such policy)."""
    refresh: str | None = field(default=None, repr=False)
    """For ``materialized_view``: ``up to date``, ``refreshed whole`` or ``refreshed incrementally``."""

    def __repr__(self) -> str:
        rows = "?" if self.rows is None else f"{self.rows:,}"
        text = f"Materialized {self.name} ({self.kind}): {rows} rows, {len(self.schema)} columns"
        if self.kind == "incremental":
            text += ", built whole" if self.new_rows is None else f", {self.new_rows:,} new rows by {self.strategy}"
        if self.refresh:
            text += f", {self.refresh}" + (f" ({self.new_rows:,} new rows)" if self.new_rows is not None else "")
        if self.held:
            text += f", {self.held:,} rows held in quarantine"
        return text

    _repr_pretty_ = lambda self, p, cycle: p.text(repr(self))  # noqa: E731
