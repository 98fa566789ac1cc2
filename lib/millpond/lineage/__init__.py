"""Table and column lineage, from the SQL each materialization compiles to.

:mod:`~millpond.lineage.compiled` records it at build time,
:mod:`~millpond.lineage.columns` analyses one table's SQL (sqlglot),
:mod:`~millpond.lineage.graph` follows columns through tables,
:mod:`~millpond.lineage.declared` adds the pipelines' ``needs`` and checks, and
:mod:`~millpond.lineage.workspace` prints it (``millpond lineage``, ``millpond impact``).
See docs/lineage.md.
"""

from millpond.lineage.columns import IN_MEMORY, ColumnRef, column_sources
from millpond.lineage.graph import LineageGraph, LineageNode

__all__ = ["IN_MEMORY", "ColumnRef", "LineageGraph", "LineageNode", "column_sources"]
