"""Which raw files an in-memory table holds, so that lineage reaches the files on every engine.

An engine that does not read files itself gets them through Arrow, as an in-memory table
(on Spark, a temporary view of a Parquet copy); the SQL a build compiles to then names a
generated table (``ibis_pandas_memtable_...``) that tells a reader nothing. Every reader
of raw files marks the table it returns with :func:`from_files`, and
:func:`millpond.lineage.compiled.compiled_sql` records such a table as the files, written
the way DuckDB's own SQL reads them (``read_csv(['data/raw/orders.csv'])``), so column and
table lineage end at ``file:data/raw/orders.csv`` whichever engine read it. A workspace's
own reader (a frame read by pandas) marks its table the same way
(:func:`millpond.warehouse.raw_files.table_from_files`).

The marks live in the process that read the files: the stage's kernel, which also
records the lineage.

>>> import ibis
>>> t = from_files(ibis.memtable({"a": [1]}), "csv", ["/ws/data/raw/a.csv"])
>>> origin_of(t.op().name)
('csv', ('/ws/data/raw/a.csv',))
>>> origin_of("silver.orders") is None
True
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import ibis.expr.types as ir

KINDS = ("csv", "parquet", "json")
_ORIGINS: dict[str, tuple[str, tuple[str, ...]]] = {}
"""Generated table name to (file kind, file paths), for the tables this process read from files."""


def from_files(table: ir.Table, kind: str, paths: Iterable[str | Path]) -> ir.Table:
    """Mark ``table`` (a table read from raw files) as holding ``paths``, files of ``kind``
    (``csv``, ``parquet`` or ``json``); returns ``table``."""
    if kind not in KINDS:
        raise ValueError(f"file kind {kind!r}: expected one of {', '.join(KINDS)}")
    _ORIGINS[table.op().name] = (kind, tuple(str(p) for p in paths))
    return table


def origin_of(name: str) -> tuple[str, tuple[str, ...]] | None:
    """``(kind, paths)`` of the generated table ``name`` when it was read from files."""
    return _ORIGINS.get(name)


def kind_of(path: str | Path) -> str:
    """The kind of a raw file by its suffix: ``csv`` (``.csv``, ``.csv.gz``...), ``parquet``, else ``json``.

    >>> kind_of("a.csv.gz"), kind_of("b.parquet"), kind_of("c.jsonl")
    ('csv', 'parquet', 'json')
    """
    suffixes = Path(path).suffixes
    return "csv" if ".csv" in suffixes else "parquet" if ".parquet" in suffixes else "json"
