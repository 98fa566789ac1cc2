"""What lineage points at: a column of a table, an in-memory table, or a raw file."""

from __future__ import annotations

from dataclasses import dataclass

IN_MEMORY = "(in-memory)"


@dataclass(frozen=True, order=True)
class ColumnRef:
    """A column of a table (``table`` may be :data:`IN_MEMORY` or ``file:<path>``)."""

    table: str
    column: str

    def __str__(self) -> str:
        return f"{self.table}.{self.column}"

    @property
    def kind(self) -> str:
        """``table``, ``memory`` or ``file``."""
        return "memory" if self.table == IN_MEMORY else "file" if self.table.startswith("file:") else "table"
