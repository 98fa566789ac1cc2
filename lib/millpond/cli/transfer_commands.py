"""``millpond export`` (a table or query to Parquet, CSV or JSON lines) and ``millpond import``
(such files back in as a table): :mod:`millpond.run.transfer`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from millpond.cli.app import WorkspaceOpt, _workspace, app


@app.command("export")
def export_command(
    to: Annotated[Path, typer.Option("--to", help="The folder to write (created; must be empty unless --overwrite).")],
    table: Annotated[Optional[str], typer.Argument(help="The table (layer.table); or --query.")] = None,
    query: Annotated[
        Optional[str], typer.Option("--query", help="SQL whose rows to export instead of a table.")
    ] = None,
    fmt: Annotated[str, typer.Option("--format", help="parquet, csv or jsonl.")] = "parquet",
    partition_by: Annotated[
        Optional[list[str]], typer.Option("--partition-by", help="A column to partition by (repeatable).")
    ] = None,
    compression: Annotated[
        Optional[str], typer.Option(help="Parquet: zstd (default), snappy, gzip...; csv and jsonl: gzip.")
    ] = None,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace what the folder holds.")] = False,
    workspace: WorkspaceOpt = None,
) -> None:
    """Write a table, or a query's rows, to files that `millpond import` reads back exactly."""
    from millpond.run.transfer import export_table

    ws = _workspace(workspace)
    done = export_table(
        ws,
        to,
        table=table,
        query=query,
        fmt=fmt,
        partition_by=partition_by,
        compression=compression,
        overwrite=overwrite,
    )
    typer.echo(f"exported {done.rows:,} rows to {done.path} ({done.files} files, {done.bytes / 1e6:.1f} MB, {fmt})")


@app.command("import")
def import_command(
    folder: Annotated[Path, typer.Argument(help="A folder `millpond export` wrote.")],
    into: Annotated[str, typer.Option("--into", help="The table to build (layer.table); replaced atomically.")],
    workspace: WorkspaceOpt = None,
) -> None:
    """Build a table from the files of an export, with the exact types they were written with."""
    from millpond.run.transfer import import_table

    built = import_table(_workspace(workspace), folder, into)
    typer.echo(f"imported {built.rows:,} rows into {built.name}")
