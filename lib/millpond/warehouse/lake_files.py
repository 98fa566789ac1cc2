"""What the lake's two formats share: where a table lives, what a publish reports, schemas as
text, row counting and filters (:mod:`millpond.warehouse.lake` writes parquet and dispatches;
:mod:`millpond.warehouse.lake_delta` writes Delta tables)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from millpond.errors import MillpondError
from millpond.warehouse.sql import split_name

if TYPE_CHECKING:
    import pyarrow as pa

LAKE_DIR = "data/lake"
"""Where the lake lives, relative to the workspace root."""
MANIFEST = "_millpond_lake.json"
"""The file in a parquet snapshot that records its schema and options (ignored by readers)."""
CODECS = {"zstd": "ZSTD", "snappy": "SNAPPY", "gzip": "GZIP", "lz4": "LZ4", "brotli": "BROTLI", "none": "UNCOMPRESSED"}


@dataclass
class Published:
    """What one publish wrote; its ``repr`` is what a notebook shows."""

    name: str
    format: str
    path: Path = field(repr=False)
    rows: int
    files: int
    version: int | None = None
    """The Delta version this publish created (``None`` for parquet)."""

    def __repr__(self) -> str:
        version = f", version {self.version}" if self.version is not None else ""
        return f"Published {self.name} ({self.format}{version}): {self.rows:,} rows in {self.files} files"

    _repr_pretty_ = lambda self, p, cycle: p.text(repr(self))  # noqa: E731


def lake_path(lake: Path, name: str) -> Path:
    """The path of table ``layer.table`` in the lake rooted at ``lake``.

    >>> lake_path(Path("/ws/data/lake"), "gold.fct_orders")
    PosixPath('/ws/data/lake/gold/fct_orders')
    """
    layer, table = split_name(name)
    return Path(lake) / layer / table


class RowCounter:
    """Counts the rows of a record batch reader as they stream past."""

    def __init__(self, batches: pa.RecordBatchReader):
        self.batches, self.count = batches, 0

    def reader(self) -> pa.RecordBatchReader:
        import pyarrow as pa

        def counted():
            for batch in self.batches:
                self.count += batch.num_rows
                yield batch

        return pa.RecordBatchReader.from_batches(self.batches.schema, counted())


def schema_text(schema: Any) -> dict[str, str]:
    """An Ibis schema as ``{column: type}`` text (stored with a published table)."""
    return {column: str(dtype) for column, dtype in schema.items()}


def schema_from_text(text: Mapping[str, str]) -> Any:
    """The Ibis schema back from :func:`schema_text` (every column nullable, as files are)."""
    import ibis

    return ibis.schema({column: ibis.dtype(dtype).copy(nullable=True) for column, dtype in text.items()})


def existing_lake_table(lake: Path, name: str) -> Path:
    """The path of published table ``name``; a :class:`MillpondError` when it is not published."""
    target = lake_path(lake, name)
    if not target.exists():
        raise MillpondError(
            f"lake table {name} is not published (no {target}); publish it with ctx.publish({name!r}) "
            "or `publish:` under its stage's tables"
        )
    return target


def arrow_filter(filters: Mapping[str, Any] | None, columns: list[str]):
    """``{column: value or values}`` over ``columns`` as a PyArrow dataset filter (``None``
    for none); other columns are left to :func:`read_lake`, which names them in its error."""
    import pyarrow.dataset as ds

    expression = None
    for column, wanted in (filters or {}).items():
        if column not in columns:
            continue
        values = list(wanted) if isinstance(wanted, (list, tuple, set)) else [wanted]
        condition = ds.field(column).isin(values)
        expression = condition if expression is None else expression & condition
    return expression
