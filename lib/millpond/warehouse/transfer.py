"""Export a table or query to files, and import such files back, without losing a value.

:func:`export_rows` writes rows as Parquet, CSV or JSON lines under a folder, in one file or
partitioned by columns (Hive style, ``col=value/``), compressed if asked (Parquet: zstd,
snappy, gzip...; CSV and JSON lines: gzip). Beside the data goes ``_schema.arrow``, the
Arrow schema of the rows, so that :func:`read_exported` gives back exactly what was
written: decimals at their precision and scale, timestamps with their time zone, dates,
NULLs, any unicode, and (Parquet and JSON lines) nested lists and structs. CSV has no nested
values: exporting one is refused in one line.

>>> import tempfile
>>> rows = pa.table({"id": [1, 2], "price": pa.array([Decimal("1.10"), None], pa.decimal128(9, 2))})
>>> folder = Path(tempfile.mkdtemp()) / "out"
>>> export_rows(rows, folder, fmt="csv").files
1
>>> read_exported(folder).to_pylist()
[{'id': 1, 'price': Decimal('1.10')}, {'id': 2, 'price': None}]
"""

from __future__ import annotations

import base64
import datetime as dt
import gzip
import json
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from millpond.errors import MillpondError

FORMATS = ("parquet", "csv", "jsonl")
SCHEMA_FILE = "_schema.arrow"


@dataclass
class Exported:
    """What an export wrote."""

    path: Path
    files: int
    rows: int
    bytes: int


def _nested(field: pa.Field) -> bool:
    return pa.types.is_nested(field.type)


def export_rows(
    table: pa.Table,
    folder: Path,
    *,
    fmt: str = "parquet",
    partition_by: list[str] | None = None,
    compression: str | None = None,
    overwrite: bool = False,
) -> Exported:
    """Write ``table`` under ``folder`` (see the module docstring); refuses a folder that holds
    files unless ``overwrite``."""
    folder = Path(folder)
    partition_by = list(partition_by or [])
    if fmt not in FORMATS:
        raise MillpondError(f"export: format {fmt!r}: choose from {', '.join(FORMATS)}")
    unknown = [c for c in partition_by if c not in table.column_names]
    if unknown:
        raise MillpondError(
            f"export: no column {', '.join(unknown)} to partition by (columns: {', '.join(table.column_names)})"
        )
    if fmt == "csv" and (nested := [f.name for f in table.schema if _nested(f)]):
        raise MillpondError(
            f"export: CSV has no nested values; column {nested[0]} is {table.schema.field(nested[0]).type}: use parquet or jsonl"
        )
    if compression not in (None, "gzip") and fmt != "parquet":
        raise MillpondError(f"export: {fmt} is compressed with gzip or not at all, not {compression}")
    if folder.exists() and any(folder.iterdir()) and not overwrite:
        raise MillpondError(f"export: {folder} is not empty; pass --overwrite to replace what is there")
    if folder.exists() and overwrite:
        for old in sorted(folder.rglob("*"), reverse=True):
            old.unlink() if old.is_file() else old.rmdir()
    folder.mkdir(parents=True, exist_ok=True)
    groups = _partitions(table, partition_by)
    for values, part in groups:
        where = folder.joinpath(*[f"{c}={_partition_text(v)}" for c, v in zip(partition_by, values, strict=True)])
        where.mkdir(parents=True, exist_ok=True)
        rows = part.drop_columns(partition_by) if partition_by else part
        suffix = {"parquet": ".parquet", "csv": ".csv", "jsonl": ".jsonl"}[fmt]
        target = where / f"part-0{suffix}{'.gz' if compression == 'gzip' and fmt != 'parquet' else ''}"
        if fmt == "parquet":
            pq.write_table(rows, target, compression=compression or "zstd")
        else:
            opener = gzip.open if compression == "gzip" else open
            with opener(target, "wb") as handle:
                if fmt == "csv":
                    pacsv.write_csv(rows, handle)
                else:
                    for record in rows.to_pylist():
                        handle.write(json.dumps(record, default=_json_value, ensure_ascii=False).encode() + b"\n")
    (folder / SCHEMA_FILE).write_bytes(table.schema.serialize().to_pybytes())
    written = [p for p in folder.rglob("*") if p.is_file() and p.name != SCHEMA_FILE]
    return Exported(folder, len(written), table.num_rows, sum(p.stat().st_size for p in written))


def _partitions(table: pa.Table, columns: list[str]) -> list[tuple[tuple, pa.Table]]:
    if not columns:
        return [((), table)]
    keys = table.select(columns).to_pylist()
    order: dict[tuple, list[int]] = {}
    for index, key in enumerate(keys):
        order.setdefault(tuple(key[c] for c in columns), []).append(index)
    return [(values, table.take(pa.array(indices))) for values, indices in order.items()]


def _partition_text(value: Any) -> str:
    if value is None:
        return "__HIVE_DEFAULT_PARTITION__"
    text = value.isoformat() if isinstance(value, (dt.date, dt.datetime)) else str(value)
    return text.replace("/", "%2F").replace("=", "%3D")


def _json_value(value: Any) -> Any:
    if isinstance(value, Decimal):
        return str(value)  # exact: read back with the schema's decimal type
    if isinstance(value, (dt.datetime, dt.date, dt.time)):
        return value.isoformat()
    if isinstance(value, dt.timedelta):
        return value.total_seconds()
    if isinstance(value, bytes):
        return base64.b64encode(value).decode()
    raise TypeError(f"cannot write {type(value).__name__} as JSON")


def read_exported(folder: Path, *, fmt: str | None = None) -> pa.Table:
    """The rows :func:`export_rows` wrote under ``folder``, with their exact types (from
    ``_schema.arrow``; without it, as the files' own types say)."""
    folder = Path(folder)
    if not folder.is_dir():
        raise MillpondError(f"import: {folder} is not a folder of exported files")
    schema_file = folder / SCHEMA_FILE
    schema = pa.ipc.read_schema(pa.py_buffer(schema_file.read_bytes())) if schema_file.exists() else None
    files = sorted(p for p in folder.rglob("*") if p.is_file() and p.name != SCHEMA_FILE and not p.name.startswith("."))
    if not files:
        raise MillpondError(f"import: no data file under {folder}")
    kinds = {fmt} if fmt else {p.name.split(".")[1] if "." in p.name else "" for p in files}
    if len(kinds) != 1 or (kind := kinds.pop()) not in FORMATS:
        raise MillpondError(f"import: {folder} holds files of no single known format ({', '.join(sorted(kinds))})")
    parts = []
    for path in files:
        rel = path.relative_to(folder).parts[:-1]
        values = dict(part.split("=", 1) for part in rel if "=" in part)
        data = _read_one(path, kind, schema, set(values))
        for column, text in values.items():
            data = data.append_column(column, pa.array([_unescape(text)] * data.num_rows, type=pa.string()))
        parts.append(data)
    table = pa.concat_tables(parts, promote_options="permissive")
    if schema is None:
        return table
    try:
        return table.select(schema.names).cast(schema)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError, KeyError) as exc:
        raise MillpondError(f"import: {folder}: the files do not match {SCHEMA_FILE}: {exc}") from None


def _unescape(text: str) -> str | None:
    return None if text == "__HIVE_DEFAULT_PARTITION__" else text.replace("%2F", "/").replace("%3D", "=")


def _read_one(path: Path, kind: str, schema: pa.Schema | None, partitions: set[str]) -> pa.Table:
    fields = [f for f in schema if f.name not in partitions] if schema is not None else None
    try:
        if kind == "parquet":
            return pq.read_table(path)
        if kind == "csv":
            types = {f.name: f.type for f in fields} if fields is not None else None
            options = pacsv.ConvertOptions(
                column_types=types, strings_can_be_null=True, quoted_strings_can_be_null=False
            )
            return pacsv.read_csv(path, convert_options=options)
        opener = gzip.open if path.suffix == ".gz" else open
        with opener(path, "rt", encoding="utf-8") as handle:
            records = [json.loads(line) for line in handle if line.strip()]
        if fields is None:
            return pa.Table.from_pylist(records)
        return pa.Table.from_pylist([_typed(r, fields) for r in records], schema=pa.schema(fields))
    except (OSError, ValueError, pa.ArrowInvalid) as exc:
        raise MillpondError(f"import: {path}: {str(exc).splitlines()[0]}") from None


def _typed(record: dict, fields: list[pa.Field]) -> dict:
    """A JSON record's top-level values as the schema's Python types (decimals, times, bytes)."""
    out = dict(record)
    for field in fields:
        value, kind = out.get(field.name), field.type
        if value is None:
            continue
        if pa.types.is_decimal(kind):
            out[field.name] = Decimal(value)
        elif pa.types.is_timestamp(kind):
            out[field.name] = dt.datetime.fromisoformat(value)
        elif pa.types.is_date(kind):
            out[field.name] = dt.date.fromisoformat(value)
        elif pa.types.is_binary(kind) or pa.types.is_large_binary(kind):
            out[field.name] = base64.b64decode(value)
    return out


__all__ = ["FORMATS", "Exported", "export_rows", "read_exported"]
