"""Commands that describe what the workspace builds: ``catalog``, ``lineage``, ``impact``, ``docs``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from millpond.cli.app import WorkspaceOpt, _workspace, app


@app.command()
def catalog(
    table: Annotated[
        Optional[str], typer.Argument(help="Show this table's whole entry with its columns (layer.table).")
    ] = None,
    tag: Annotated[
        Optional[str], typer.Option("--tag", help="Only tables that carry TAG, on the table or a column (e.g. pii).")
    ] = None,
    search: Annotated[
        Optional[str],
        typer.Option("--search", help="Only tables whose name, description, tags or columns contain TEXT."),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json")] = False,
    workspace: WorkspaceOpt = None,
) -> None:
    """Every table the workspace builds or reads: owner, tags, rows, size, last build, freshness, quality."""
    from millpond.catalog import build_catalog
    from millpond.cli.catalog_view import show_catalog, show_entry

    found = build_catalog(_workspace(workspace))
    if table:
        show_entry(found.entry(table), as_json=as_json)
    else:
        show_catalog(found, tag=tag, search=search, as_json=as_json)


@app.command()
def lineage(
    target: Annotated[str, typer.Argument(help="A table (layer.table) or a column (layer.table.column).")],
    upstream: Annotated[
        bool, typer.Option("--upstream/--downstream", help="Where it comes from (default) or where it flows.")
    ] = True,
    depth: Annotated[Optional[int], typer.Option("--depth", min=1, help="Show at most N levels.")] = None,
    as_json: Annotated[bool, typer.Option("--json")] = False,
    workspace: WorkspaceOpt = None,
) -> None:
    """Table or column lineage as a tree, computed from the SQL each build compiled to."""
    from millpond.cli.lineage_view import show_lineage

    show_lineage(_workspace(workspace), target, downstream=not upstream, depth=depth, as_json=as_json)


@app.command()
def impact(
    target: Annotated[str, typer.Argument(help="A column: layer.table.column.")],
    as_json: Annotated[bool, typer.Option("--json")] = False,
    workspace: WorkspaceOpt = None,
) -> None:
    """Every downstream table, column and declared check that changing a column affects."""
    from millpond.cli.lineage_view import show_impact

    show_impact(_workspace(workspace), target, as_json=as_json)


@app.command()
def docs(
    output: Annotated[
        Optional[Path], typer.Option("--output", "-o", help="Write the site here (default: <reports>/docs).")
    ] = None,
    serve: Annotated[bool, typer.Option("--serve", help="Then serve it over HTTP until Ctrl-C.")] = False,
    port: Annotated[int, typer.Option("--port", min=0, max=65535, help="Port for --serve (0: any free port).")] = 8000,
    host: Annotated[
        str, typer.Option("--host", help="Address for --serve; 0.0.0.0 shares it on the network.")
    ] = "127.0.0.1",
    workspace: WorkspaceOpt = None,
) -> None:
    """Write the docs site: a page per table, search, lineage graph; opens from disk, needs no network."""
    from millpond.docs import write_site

    site = write_site(_workspace(workspace), output)
    typer.echo(f"docs site: {site / 'index.html'}")
    if serve:
        from millpond.docs.serve import serve_site

        serve_site(site, host=host, port=port, echo=typer.echo)
