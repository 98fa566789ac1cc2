"""The lake: warehouse tables published as Parquet files under ``data/lake/<layer>/<table>/``.

A table is copied out of the warehouse (DuckDB or PostgreSQL, as Arrow batches) into
Hive-style partition folders (``order_date=2024-01-05/part-0.parquet``), compressed with
a chosen codec (zstd by default) in row groups of a chosen size, in one of two formats:

- ``parquet``: plain files. Each publish writes a complete new **snapshot** folder
  beside the table (``.<table>.snapshots/<id>/``) and then repoints the table's path, a
  symbolic link, at it with one atomic rename: a reader sees the previous copy or the new
  one, never a half-written folder, and a failed publish leaves the previous copy. The
  snapshot before the current one is kept (for queries still reading it), older ones go.
- ``delta``: a Delta Lake table written by ``deltalake`` (delta-rs). Each publish is a
  new Delta **version**, committed atomically to ``_delta_log``; older versions stay
  readable (``version=``) until vacuumed (:mod:`millpond.warehouse.lake_delta`).

:func:`read_lake` reads a published table back as an Ibis table. On DuckDB the files are
scanned lazily and a filter on a partition column reads only the matching folders
(partition pruning); PostgreSQL cannot read files, so the rows arrive through PyArrow as
an in-memory table, pruned first by ``filters``.

>>> import ibis, tempfile
>>> from pathlib import Path
>>> con, lake = ibis.duckdb.connect(), Path(tempfile.mkdtemp())
>>> sales = ibis.memtable({"day": ["2024-01-01", "2024-01-02", "2024-01-02"], "n": [1, 2, 3]})
>>> publish(con, sales, "gold.sales", lake, PublishSpec(partition_by=["day"]))
Published gold.sales (parquet): 3 rows in 2 files
>>> int(read_lake(con, "gold.sales", lake).filter(ibis._.day == "2024-01-02").n.sum().execute())
5
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import time
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from millpond.engines import engine_for
from millpond.errors import MillpondError
from millpond.settings.tables import PublishSpec
from millpond.warehouse.lake_delta import publish_delta, read_delta
from millpond.warehouse.lake_files import (
    CODECS,
    LAKE_DIR,
    MANIFEST,
    Published,
    RowCounter,
    arrow_filter,
    existing_lake_table,
    lake_path,
    schema_from_text,
    schema_text,
)
from millpond.warehouse.sql import existing_kind, split_name

__all__ = [
    "CODECS",
    "LAKE_DIR",
    "MANIFEST",
    "Published",
    "RowCounter",
    "arrow_filter",
    "existing_lake_table",
    "lake_path",
    "publish",
    "read_lake",
    "schema_from_text",
    "schema_text",
]

if TYPE_CHECKING:
    import ibis.expr.types as ir
    import pyarrow as pa
    from ibis.backends import BaseBackend


def publish(
    con: BaseBackend,
    source: ir.Table | None,
    name: str,
    lake: Path,
    spec: PublishSpec | Mapping[str, Any] | None = None,
) -> Published:
    """Write ``source`` (by default the warehouse table ``name``) to the lake as ``name``.

    Parameters
    ----------
    con
        The warehouse backend the rows come from (DuckDB or PostgreSQL).
    source
        The rows to publish; ``None`` publishes the warehouse table ``name``.
    name
        ``layer.table``: the table's path in the lake is ``<lake>/<layer>/<table>``.
    lake
        The lake's root folder (``data/lake`` of the workspace).
    spec
        A :class:`PublishSpec` (or its fields as a mapping); defaults when ``None``.
    """
    spec = spec if isinstance(spec, PublishSpec) else PublishSpec.model_validate(dict(spec or {}))
    if source is None:
        source = _warehouse_table(con, name)
    _check_partitions(source, name, spec.partition_by)
    schema = source.schema()
    target = lake_path(lake, name)
    target.parent.mkdir(parents=True, exist_ok=True)
    batches = con.to_pyarrow_batches(source)
    if spec.format == "delta":
        return publish_delta(batches, schema, name, target, spec)
    return _publish_parquet(batches, schema, name, target, spec)


def _warehouse_table(con: BaseBackend, name: str) -> ir.Table:
    layer, table = split_name(name)
    if existing_kind(con, layer, table) is None:
        raise MillpondError(f"publish {name}: no such table in the warehouse; build it before publishing it")
    return con.table(table, database=layer)


def _check_partitions(source: ir.Table, name: str, partition_by: list[str]) -> None:
    schema = source.schema()
    for column in partition_by:
        if column not in schema:
            raise MillpondError(
                f"publish {name}: partition column {column!r} is not a column (columns: {', '.join(schema)})"
            )
        dtype = schema[column]
        if not (dtype.is_integer() or dtype.is_string() or dtype.is_date() or dtype.is_boolean()):
            raise MillpondError(
                f"publish {name}: partition column {column!r} is {dtype}; partition by an integer, "
                "string, date or boolean column (e.g. a date derived from a timestamp)"
            )
    if partition_by and len(partition_by) == len(schema):
        raise MillpondError(f"publish {name}: every column is a partition column; keep at least one out")


# -- parquet snapshots -----------------------------------------------------------------
def _snapshots_dir(target: Path) -> Path:
    return target.parent / f".{target.name}.snapshots"


def _publish_parquet(
    batches: pa.RecordBatchReader, schema: Any, name: str, target: Path, spec: PublishSpec
) -> Published:
    import pyarrow as pa
    import pyarrow.dataset as ds
    import pyarrow.parquet as pq

    store = _snapshots_dir(target)
    if target.exists() and not target.is_symlink():
        if not (target / MANIFEST).is_file():
            raise MillpondError(
                f"publish {name}: {target} is not a parquet lake table (a delta table?); "
                "delete that folder to publish it as parquet"
            )
        # A snapshot copied in place of its link (e.g. by a copy that follows symlinks):
        # it becomes a snapshot again, so the swap below stays one atomic rename.
        store.mkdir(exist_ok=True)
        target.rename(store / f"{time.time_ns():020d}-copied")
    store.mkdir(exist_ok=True)
    for stale in store.glob("*.partial"):  # left by a killed publish
        shutil.rmtree(stale, ignore_errors=True)
    snapshot_id = f"{time.time_ns():020d}-{secrets.token_hex(4)}"  # names sort by publish time
    partial = store / f"{snapshot_id}.partial"
    try:
        partial.mkdir()
        rows = RowCounter(batches)
        file_format = ds.ParquetFileFormat()
        options = file_format.make_write_options(compression=spec.compression, compression_level=spec.compression_level)
        partitioning = None
        if spec.partition_by:
            fields = pa.schema([batches.schema.field(c) for c in spec.partition_by])
            partitioning = ds.partitioning(fields, flavor="hive")
        ds.write_dataset(
            rows.reader(),
            partial,
            format=file_format,
            file_options=options,
            partitioning=partitioning,
            basename_template="part-{i}.parquet",
            max_rows_per_group=spec.row_group_size,
            min_rows_per_group=spec.row_group_size,
            existing_data_behavior="error",
        )
        files = sorted(partial.rglob("*.parquet"))
        if not files:  # no rows: one empty file keeps the schema
            pq.write_table(batches.schema.empty_table(), partial / "part-0.parquet", compression=spec.compression)
            files = [partial / "part-0.parquet"]
        manifest = {
            "name": name,
            "format": "parquet",
            "rows": rows.count,
            "files": len(files),
            "schema": schema_text(schema),
            **spec.model_dump(exclude={"format"}),
            "published_at": time.time(),
        }
        (partial / MANIFEST).write_text(json.dumps(manifest, indent=1))
        final = store / snapshot_id
        partial.rename(final)
    except BaseException:
        shutil.rmtree(partial, ignore_errors=True)
        raise
    previous = target.resolve().name if target.is_symlink() else None
    _point_at(target, final)
    _drop_old_snapshots(store, keep={final.name, previous})  # the previous one for readers in flight
    return Published(name, "parquet", target, rows.count, len(files))


def _point_at(target: Path, snapshot: Path) -> None:
    """Make ``target`` a symlink to ``snapshot`` with one atomic rename."""
    link = target.parent / f".{target.name}.link-{secrets.token_hex(4)}"
    os.symlink(os.path.relpath(snapshot, target.parent), link)
    try:
        os.replace(link, target)
    except BaseException:
        link.unlink(missing_ok=True)
        raise


def _drop_old_snapshots(store: Path, keep: set[str | None]) -> None:
    for snapshot in store.iterdir():
        if snapshot.is_dir() and not snapshot.name.endswith(".partial") and snapshot.name not in keep:
            shutil.rmtree(snapshot, ignore_errors=True)


# -- reading ---------------------------------------------------------------------------
def read_lake(
    con: BaseBackend, name: str, lake: Path, *, version: int | None = None, filters: Mapping[str, Any] | None = None
) -> ir.Table:
    """Read lake table ``name`` back as an Ibis table of ``con``.

    Parameters
    ----------
    version
        For a delta table: the version to read (the latest by default).
    filters
        ``{column: value}`` or ``{column: [values]}``: keep only those rows. On a
        partition column, only the matching folders are read (on PostgreSQL, before
        any row is loaded). On DuckDB any Ibis filter on the result prunes as well.
    """
    target = existing_lake_table(lake, name)
    if (target / "_delta_log").is_dir() and not target.is_symlink():
        table = read_delta(con, name, target, version, filters)
    else:
        if version is not None:
            raise MillpondError(f"lake table {name} is parquet and keeps no versions; publish it with format: delta")
        table = _read_parquet(con, target, filters)
    for column, wanted in (filters or {}).items():
        if column not in table.columns:
            raise MillpondError(f"lake table {name}: filter column {column!r} is not a column")
        values = list(wanted) if isinstance(wanted, (list, tuple, set)) else [wanted]
        table = table.filter(table[column].isin(values))
    return table


def _read_parquet(con: BaseBackend, target: Path, filters: Mapping[str, Any] | None) -> ir.Table:
    import ibis

    snapshot = target.resolve()  # pinned: a later publish does not change this expression's files
    manifest = json.loads((snapshot / MANIFEST).read_text())
    schema = schema_from_text(manifest["schema"])
    partition_by = manifest["partition_by"]

    native = engine_for(con).read_parquet_folder(snapshot, schema, partition_by) if manifest["rows"] else None
    if native is not None:
        return native
    import pyarrow as pa
    import pyarrow.dataset as ds

    fields = schema.to_pyarrow()
    partitioning = None
    if partition_by:
        partitioning = ds.partitioning(pa.schema([fields.field(c) for c in partition_by]), flavor="hive")
    dataset = ds.dataset(snapshot, format="parquet", partitioning=partitioning)
    return ibis.memtable(dataset.to_table(filter=arrow_filter(filters, dataset.schema.names)), schema=schema)
