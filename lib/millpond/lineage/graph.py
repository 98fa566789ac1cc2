"""The lineage graph of a workspace: tables and columns, upstream and downstream.

Built from the compiled SQL each ``ctx.materialize`` recorded
(:mod:`millpond.store.table_sql`) and, for tables no materialization recorded, the
pipelines' ``needs``/``reads`` (table level only). Each table's column lineage is
computed once, when first needed (:func:`~millpond.lineage.columns.column_sources`);
following a column upstream goes through the intermediate tables until it reaches a
table without recorded SQL (a source), a raw file or an in-memory table.

>>> from millpond.store.table_sql import TableSql
>>> graph = LineageGraph({
...     "silver.o": TableSql("silver.o", "duckdb", 'SELECT "a" + 1 AS "x", "b" FROM "bronze"."o"',
...                          {"bronze.o": {"a": "int64", "b": "int64"}}),
...     "gold.m": TableSql("gold.m", "duckdb", 'SELECT SUM("x") AS "total" FROM "silver"."o"',
...                        {"silver.o": {"x": "int64", "b": "int64"}})})
>>> sorted(map(str, graph.origins(ColumnRef("gold.m", "total"))))
['bronze.o.a']
>>> sorted(map(str, graph.impacted(ColumnRef("bronze.o", "a"))))
['gold.m.total', 'silver.o.x']
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from millpond.errors import MillpondError
from millpond.lineage.columns import IN_MEMORY, ColumnRef, TableLineage, _is_memtable, table_lineage, tables_read
from millpond.store.table_sql import TableSql

__all__ = ["LineageGraph", "LineageNode"]

_READS_FILES = re.compile(r"\bread_(csv|parquet|json)\w*\s*\(", re.IGNORECASE)


@dataclass
class LineageNode:
    """One node of a lineage tree: a table or a column, with its children
    (its sources upstream, its dependants downstream)."""

    name: str
    kind: str  # table, file, memory, source (a table without recorded SQL), repeated, cycle
    children: list[LineageNode] = field(default_factory=list)
    truncated: bool = False  # --depth stopped here

    def to_dict(self) -> dict:
        item: dict = {"name": self.name, "kind": self.kind, "children": [c.to_dict() for c in self.children]}
        if self.truncated:
            item["truncated"] = True
        return item


class LineageGraph:
    """Table and column lineage over recorded SQL (``records``) and declared upstreams."""

    def __init__(
        self,
        records: dict[str, TableSql],
        declared_reads: dict[str, set[str]] | None = None,
        *,
        root: str | None = None,
    ) -> None:
        self.records = records
        self.root = root
        self._columns: dict[str, TableLineage] = {}
        self._origin_memo: dict[ColumnRef, frozenset[ColumnRef]] = {}
        self.reads: dict[str, set[str]] = {}
        for table, upstream in (declared_reads or {}).items():
            if table not in records:
                self.reads[table] = set(upstream)
        for table, record in records.items():
            self.reads[table] = {_source_table(name) for name in record.sources} | self._files(table)
        self.readers: dict[str, set[str]] = {}
        for table, upstream in self.reads.items():
            for source in upstream:
                self.readers.setdefault(source, set()).add(table)

    # -- tables ------------------------------------------------------------------
    @property
    def tables(self) -> list[str]:
        """Every table the graph knows: built, declared or read."""
        return sorted(set(self.reads) | set(self.readers))

    def _files(self, table: str) -> set[str]:
        record = self.records[table]
        if not _READS_FILES.search(record.sql):
            return set()

        return {name for name in tables_read(record.sql, record.dialect, root=self.root) if name.startswith("file:")}

    def kind_of(self, table: str) -> str:
        if table == IN_MEMORY:
            return "memory"
        if table.startswith("file:"):
            return "file"
        return "table" if table in self.records else "source"

    def require(self, table: str, column: str | None = None) -> None:
        """Raise :class:`MillpondError` unless ``table`` (and its ``column``) is known."""
        if table not in self.reads and table not in self.readers:
            raise MillpondError(
                f"no lineage for table {table}: no materialization recorded it and no pipeline "
                "declares it; build it with `millpond run` first"
            )
        if column is not None and table in self.records and column not in self.columns(table):
            known = ", ".join(self.columns(table))
            raise MillpondError(f"table {table} has no column {column!r} in its latest build (columns: {known})")
        if column is not None and table not in self.records and not self._read_columns(table) >= {column}:
            raise MillpondError(
                f"no column lineage for {table}.{column}: {table} was not built by ctx.materialize "
                "and no built table reads that column"
            )

    def _read_columns(self, table: str) -> set[str]:
        return {
            ref.column
            for reader in self.readers.get(table, ())
            for refs in self.columns(reader).values()
            for ref in refs
            if ref.table == table
        }

    def table_tree(self, table: str, *, downstream: bool = False, depth: int | None = None) -> LineageNode:
        """The tables ``table`` reads (or that read it), transitively."""
        self.require(table)
        edges = self.readers if downstream else self.reads
        return self._tree(table, lambda t: sorted(edges.get(t, ())), self.kind_of, depth)

    # -- columns -----------------------------------------------------------------
    def columns(self, table: str) -> dict[str, frozenset[ColumnRef]]:
        """Each column of ``table`` mapped to its direct sources (empty for a table without SQL)."""
        return self._lineage(table).columns

    def row_sources(self, table: str) -> frozenset[ColumnRef]:
        """The columns of the tables ``table`` reads that decide which rows it holds
        (filters, join keys, groupings: :mod:`millpond.lineage.rows`)."""
        return self._lineage(table).rows

    def _lineage(self, table: str) -> TableLineage:
        if table not in self._columns:
            record = self.records.get(table)
            self._columns[table] = (
                TableLineage({}, frozenset())
                if record is None
                else table_lineage(record.sql, record.dialect, record.sources, table=table, root=self.root)
            )
        return self._columns[table]

    def sources(self, ref: ColumnRef) -> list[ColumnRef]:
        """The direct sources of one column."""
        return sorted(self.columns(ref.table).get(ref.column, ())) if ref.table in self.records else []

    def dependants(self, ref: ColumnRef) -> list[ColumnRef]:
        """The columns of the tables reading ``ref.table`` that derive directly from ``ref``."""
        return sorted(
            ColumnRef(reader, column)
            for reader in self.readers.get(ref.table, ())
            for column, refs in self.columns(reader).items()
            if ref in refs
        )

    def column_tree(self, ref: ColumnRef, *, downstream: bool = False, depth: int | None = None) -> LineageNode:
        """Where ``ref`` comes from (or where it flows), as a tree of ``table.column`` nodes."""
        self.require(ref.table, ref.column)
        step = self.dependants if downstream else self.sources
        return self._tree(ref, step, lambda r: self.kind_of(r.table), depth)

    def origins(self, ref: ColumnRef) -> set[ColumnRef]:
        """The columns ``ref`` ultimately derives from: of sources, files and in-memory tables."""
        return set(self._origins(ref, set())[0])

    def _origins(self, ref: ColumnRef, active: set[ColumnRef]) -> tuple[frozenset[ColumnRef], bool]:
        """Origins of ``ref`` and whether they are complete (no column still being followed
        was met: a table reading itself); only complete answers are kept."""
        if ref.table not in self.records:
            return frozenset({ref}), True
        if ref in self._origin_memo:
            return self._origin_memo[ref], True
        if ref in active:
            return frozenset(), False
        active.add(ref)
        found: set[ColumnRef] = set()
        complete = True
        for source in self.sources(ref):
            origins, done = self._origins(source, active)
            found |= origins
            complete &= done
        active.discard(ref)
        if complete:
            self._origin_memo[ref] = frozenset(found)
        return frozenset(found), complete

    def impacted(self, ref: ColumnRef) -> set[ColumnRef]:
        """Every column downstream of ``ref``, transitively."""
        return _reach(ref, self.dependants) - {ref}

    def affected(self, ref: ColumnRef) -> tuple[set[ColumnRef], set[str]]:
        """What changing ``ref`` can change downstream: the columns, and the tables whose
        rows it decides (through a filter, join key or grouping, on ``ref`` or on a column
        derived from it); every column of such a table is affected, and so on downstream.

        >>> from millpond.store.table_sql import TableSql
        >>> graph = LineageGraph({"gold.m": TableSql("gold.m", "duckdb",
        ...     'SELECT SUM("a") AS "total" FROM "silver"."o" WHERE "status" = 1', {"silver.o": {"a": "int64", "status": "int64"}})})
        >>> sorted(map(str, graph.impacted(ColumnRef("silver.o", "status"))))
        []
        >>> columns, rows = graph.affected(ColumnRef("silver.o", "status"))
        >>> sorted(map(str, columns)), sorted(rows)
        (['gold.m.total'], ['gold.m'])
        """
        columns: set[ColumnRef] = {ref}
        row_tables: set[str] = set()
        queue = [ref]
        while queue:
            current = queue.pop()
            found = list(self.dependants(current))
            for reader in self.readers.get(current.table, ()):
                if reader not in row_tables and current in self.row_sources(reader):
                    row_tables.add(reader)
                    found += [ColumnRef(reader, column) for column in self.columns(reader)]
            for item in found:
                if item not in columns:
                    columns.add(item)
                    queue.append(item)
        return columns - {ref}, row_tables

    def impacted_tables(self, table: str) -> set[str]:
        return _reach(table, lambda t: self.readers.get(t, ())) - {table}

    def compute_all(self) -> int:
        """Compute the column lineage of every recorded table; returns the number of columns."""
        return sum(len(self.columns(table)) for table in self.records)

    @staticmethod
    def _tree(start, step, kind, depth: int | None) -> LineageNode:
        expanded: set = set()

        def visit(item, level: int, path: frozenset) -> LineageNode:
            node = LineageNode(str(item), kind(item))
            children = list(step(item))
            if not children:
                return node
            if item in path:
                node.kind = "cycle"
            elif item in expanded:
                node.kind = "repeated"  # shown in full above
            elif depth is not None and level >= depth:
                node.truncated = True
            else:
                expanded.add(item)
                node.children = [visit(child, level + 1, path | {item}) for child in children]
            return node

        return visit(start, 0, frozenset())


def _source_table(name: str) -> str:
    return IN_MEMORY if _is_memtable(name.rpartition(".")[2]) else name


def _reach(start, step) -> set:
    seen = {start}
    queue: list = [start]
    while queue:
        for nxt in step(queue.pop()):
            if nxt not in seen:
                seen.add(nxt)
                queue.append(nxt)
    return seen
