"""Checks on column names shared by the modelling helpers (private)."""

from __future__ import annotations

from collections.abc import Sequence

import ibis.expr.types as ir

from millpond.errors import MillpondError


def table_label(table: ir.Table) -> str:
    """A name for ``table`` in an error message (``"table"`` for unnamed expressions)."""
    try:
        return table.get_name()
    except Exception:  # noqa: BLE001 - expressions without a name
        return "table"


def column_list(columns: str | Sequence[str], what: str) -> list[str]:
    """``"a"`` or ``["a", "b"]`` as a non-empty list; ``what`` names the argument."""
    names = [columns] if isinstance(columns, str) else list(columns)
    if not names:
        raise MillpondError(f"{what}: give at least one column")
    return names


def require_columns(table: ir.Table, columns: Sequence[str], what: str) -> None:
    """Raise a one-line :class:`MillpondError` naming the first missing column."""
    for name in columns:
        if name not in table.columns:
            raise MillpondError(
                f"{what}: column {name!r} is not in {table_label(table)} (columns: {', '.join(table.columns)})"
            )
