"""Delta Lake tables in the lake (``format: delta``), written and read by ``deltalake`` (delta-rs).

Each publish overwrites the table as a new Delta **version**, committed atomically to
``_delta_log`` (a failed write commits nothing: readers keep the previous version, and
the files it had written are referenced by no version, removed by a later ``vacuum``).
The Ibis schema of the published table rides in each commit's metadata, so a version
reads back with exactly its own types. No DuckDB extension is involved: DuckDB scans the
version's Arrow dataset, with filters pushed down to its partitions.

>>> import ibis, tempfile
>>> from pathlib import Path
>>> from millpond.warehouse.lake import PublishSpec, publish, read_lake
>>> con, lake = ibis.duckdb.connect(), Path(tempfile.mkdtemp())
>>> publish(con, ibis.memtable({"n": [1, 2]}), "gold.n", lake, PublishSpec(format="delta"))
Published gold.n (delta, version 0): 2 rows in 1 files
>>> publish(con, ibis.memtable({"n": [3]}), "gold.n", lake, PublishSpec(format="delta"))
Published gold.n (delta, version 1): 1 rows in 1 files
>>> delta_versions(lake, "gold.n"), int(read_lake(con, "gold.n", lake, version=0).n.sum().execute())
([0, 1], 3)
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from millpond.engines import engine_for
from millpond.errors import MillpondError
from millpond.settings.tables import PublishSpec
from millpond.warehouse.lake_files import (
    CODECS,
    Published,
    RowCounter,
    arrow_filter,
    existing_lake_table,
    schema_from_text,
    schema_text,
)

if TYPE_CHECKING:
    import ibis.expr.types as ir
    import pyarrow as pa
    from ibis.backends import BaseBackend

_SCHEMA_KEY = "millpond.schema"
"""The commit metadata key holding the published table's Ibis schema (as JSON)."""


def publish_delta(batches: pa.RecordBatchReader, schema: Any, name: str, target: Path, spec: PublishSpec) -> Published:
    """Write ``batches`` (of Ibis ``schema``) as a new version of the delta table at ``target``."""
    from deltalake import CommitProperties, DeltaTable, WriterProperties, write_deltalake

    if target.is_symlink() or (target.exists() and not (target / "_delta_log").is_dir()):
        raise MillpondError(
            f"publish {name}: {target} is not a delta lake table (a parquet one?); "
            "delete it and its snapshots to publish it as delta"
        )
    rows = RowCounter(batches)
    properties = WriterProperties(
        compression=CODECS[spec.compression],
        compression_level=spec.compression_level,
        max_row_group_size=spec.row_group_size,
    )
    # The Ibis schema rides in the commit, so that a version reads back with its own types.
    commit = CommitProperties(custom_metadata={_SCHEMA_KEY: json.dumps(schema_text(schema))})
    write_deltalake(
        str(target),
        rows.reader(),
        partition_by=spec.partition_by or None,
        mode="overwrite",
        schema_mode="overwrite",
        writer_properties=properties,
        commit_properties=commit,
    )
    table = DeltaTable(str(target))
    return Published(name, "delta", target, rows.count, len(table.file_uris()), table.version())


def delta_versions(lake: Path, name: str) -> list[int]:
    """The versions of delta lake table ``name`` that can be read, oldest first."""
    return sorted(_delta_history(existing_lake_table(lake, name)))


def _delta_history(target: Path) -> dict[int, dict[str, Any]]:
    from deltalake import DeltaTable

    return {entry["version"]: entry for entry in DeltaTable(str(target)).history() if "version" in entry}


def read_delta(
    con: BaseBackend, name: str, target: Path, version: int | None, filters: Mapping[str, Any] | None
) -> ir.Table:
    """``version`` (default the latest) of the delta table at ``target`` as an Ibis table of ``con``."""
    from deltalake import DeltaTable

    history = _delta_history(target)
    if version is not None and version not in history:
        raise MillpondError(
            f"lake table {name} has no version {version} (versions: {', '.join(map(str, sorted(history)))})"
        )
    table = DeltaTable(str(target), version=version)
    dataset = table.to_pyarrow_dataset()

    result = engine_for(con).from_arrow_dataset(dataset, arrow_filter(filters, dataset.schema.names))
    recorded = history.get(table.version(), {}).get(_SCHEMA_KEY)
    if recorded is None:  # written by another tool: the Arrow types as they are
        return result
    schema = schema_from_text(json.loads(recorded))
    return result.select(*schema.names).cast(schema)
