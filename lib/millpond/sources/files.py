"""The ``files`` source: CSV, JSON lines or Parquet files matched by a glob, loaded incrementally.

The state is a manifest of the files loaded (their path from the workspace root, size
and sha256). A load reads only the files that are new or whose content changed, and
replaces a changed file's rows (the table's rows are replaced per ``_source_file``,
``delete+insert``), so a rerun with nothing new loads nothing and a file loaded twice is
never doubled. A file gone from the folder keeps its rows unless ``deleted_files: delete``.
Rows come as the raw readers give them (:mod:`millpond.warehouse.raw_files`): CSV columns as
text, every row with ``_source_file`` and ``_loaded_at``; a row that does not parse is held in
``quarantine.<layer>_<table>`` with its file, line and error (:mod:`millpond.sources.held`).
New or changed columns follow the
table's ``on_schema_change`` (``tables:``).

Declared as::

    sources:
      orders_files:
        kind: files
        target: bronze.orders
        options: {path: "data/raw/orders/*.csv"}

>>> FileSource.Options.model_validate({"path": "data/raw/*.csv"}).deleted_files
'keep'
"""

from __future__ import annotations

import glob as globbing
import hashlib
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import ibis
import pyarrow as pa
from pydantic import BaseModel, ConfigDict, Field

from millpond.engines import create_table_as, described_table
from millpond.engines.file_origins import from_files, kind_of
from millpond.errors import MillpondError
from millpond.settings.values import GlobPattern
from millpond.sources.held import split_malformed
from millpond.sources.registry import LoadPlan, Source, register_source
from millpond.warehouse.incremental import Incremental, drop_stale_staging, staging_name
from millpond.warehouse.raw_files import load_files, source_file_name, with_load_metadata
from millpond.warehouse.sql import ensure_schema, split_name

if TYPE_CHECKING:
    import ibis.expr.types as ir
    from ibis.backends import BaseBackend

FILE_COLUMN = "_source_file"
JSON_TYPES = {"string": pa.string(), "int64": pa.int64(), "float64": pa.float64(), "boolean": pa.bool_()}
LINEAGE_FILES = 200
"""Up to this many files, lineage names each file; beyond, one node names them all."""
JsonType = Literal["string", "int64", "float64", "boolean"]


class FileOptions(BaseModel):
    """The options of a ``files`` source."""

    model_config = ConfigDict(extra="forbid")

    path: GlobPattern = Field(description="the files, a glob relative to the workspace root")
    columns: list[str] | dict[str, JsonType] | None = Field(
        default=None,
        description="CSV: the header of a 0-byte file; JSON lines: each column's type (string, int64, float64, boolean)",
    )
    deleted_files: Literal["keep", "delete"] = Field(
        default="keep", description="what a file gone from the folder does to its rows"
    )
    malformed: Literal["quarantine", "keep"] = Field(
        default="quarantine",
        description="a record that does not parse: held in quarantine.<layer>_<table>, or kept as a row "
        "of NULLs with its _source_line, _load_error and _raw_line for a later stage to hold",
    )

    def json_schema(self) -> pa.Schema | None:
        """The Arrow schema of JSON lines files given as ``columns: {name: type}``.

        >>> FileOptions(path="e/*.jsonl", columns={"id": "string", "n": "int64"}).json_schema()
        id: string
        n: int64
        """
        if not isinstance(self.columns, dict):
            return None
        return pa.schema([(name, JSON_TYPES[kind]) for name, kind in self.columns.items()])

    def csv_header(self) -> list[str] | None:
        """The header of a 0-byte CSV file: ``columns`` given as a list, or a mapping's names."""
        return list(self.columns) if self.columns is not None else None


def file_digest(path: Path) -> dict[str, Any]:
    """``{"size": bytes, "sha256": hex}`` of a file, read in chunks.

    >>> import tempfile
    >>> f = Path(tempfile.mkdtemp()) / "a.csv"
    >>> _ = f.write_text("id\\n1\\n")
    >>> file_digest(f)["size"]
    5
    """
    with path.open("rb") as handle:
        digest = hashlib.file_digest(handle, "sha256")
    return {"size": path.stat().st_size, "sha256": digest.hexdigest()}


def all_files_origin(rows: ir.Table, paths: list[Path], loaded_at: datetime) -> ir.Table:
    """What the lineage of a load records: a table of ``rows``' columns read from every file the
    table now holds (``paths``), not only the files this load read, with the load metadata
    added as ``with_load_metadata`` adds it. Compiled for its SQL, never run."""
    metadata = (FILE_COLUMN, "_loaded_at")
    columns = {name: dtype for name, dtype in rows.schema().items() if name not in metadata}
    empty = pa.table({name: [] for name in columns}, schema=ibis.schema(columns).to_pyarrow())
    groups = [[path] for path in paths] if len(paths) <= LINEAGE_FILES else [paths]  # a node per file
    reads = [from_files(ibis.memtable(empty), kind_of(paths[0]), group) for group in groups]
    read = reads[0] if len(reads) == 1 else ibis.union(*reads, distinct=False)
    return with_load_metadata(read, source_file="", loaded_at=loaded_at)


@register_source
class FileSource(Source):
    """Files matched by a glob; see the module docstring."""

    kind = "files"
    Options = FileOptions
    options: FileOptions

    def matched(self) -> list[Path]:
        """The files the glob matches now, sorted; a one-line error when they mix formats."""
        pattern = self.options.path
        full = pattern if Path(pattern).is_absolute() else str(self.root / pattern)
        found = sorted(Path(p) for p in globbing.glob(full, recursive=True) if Path(p).is_file())
        kinds = {kind_of(p) for p in found}
        if len(kinds) > 1:
            raise MillpondError(
                f"source {self.name}: {pattern} matches files of several formats ({', '.join(sorted(kinds))})"
            )
        return found

    def plan(self, con: BaseBackend, state: dict[str, dict[str, Any]], *, loaded_at: datetime) -> LoadPlan:
        paths = self.matched()
        if not paths and not state:
            raise MillpondError(f"source {self.name}: no file matches {self.options.path}")
        now: dict[str, tuple[Path, dict[str, Any]]] = {}
        for path in paths:
            try:
                now[source_file_name(path, self.root)] = (path, file_digest(path))
            except OSError as exc:
                raise MillpondError(f"source {self.name}: cannot read {path}: {exc.strerror or exc}") from None
            except ValueError as exc:
                raise MillpondError(f"source {self.name}: {exc}") from None
        fresh = {name: found for name, found in now.items() if state.get(name) != found[1]}
        gone = sorted(set(state) - set(now)) if self.options.deleted_files == "delete" else []
        counts = {
            "new": sum(name not in state for name in fresh),
            "changed": sum(name in state for name in fresh),
            "unchanged": len(now) - len(fresh),
            "gone": len(set(state) - set(now)),
        }
        held, temps, origin = None, [], None
        if fresh:
            read = load_files(
                con,
                [path for path, _ in fresh.values()],
                root=self.root,
                loaded_at=loaded_at,
                expected=self.options.csv_header(),
                json_schema=self.options.json_schema(),
            )
            schema, table = split_name(self.spec.target)  # read once: the rows and the held rows come from it
            ensure_schema(con, schema)
            drop_stale_staging(con, schema, f"{table}_read")  # what a killed load left
            temps.append((schema, staging_name(f"{table}_read")))
            staged = create_table_as(con, temps[-1][1], read, schema)
            if self.options.malformed == "keep":
                rows = staged
            else:
                rows, held = split_malformed(staged)
            kept = sorted(set(state) - set(gone) | set(fresh))
            origin = all_files_origin(rows, [self.root / name for name in kept], loaded_at)
        elif gone:  # only the rows of files gone to delete: no rows, of the table's own shape
            schema, table = split_name(self.spec.target)
            rows = described_table(con, table, schema).limit(0)
        else:
            rows = None
        replaced = Incremental.of("delete+insert", partition_by=FILE_COLUMN, partitions=sorted([*fresh, *gone]))
        state = {name: digest for name, (_, digest) in fresh.items()}
        return LoadPlan(rows, replaced, state, gone, counts, temps, origin, held)
