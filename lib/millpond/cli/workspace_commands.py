"""Commands that make or feed a workspace: ``init`` (a new one), ``generate`` (its sample data), ``lab``."""

from __future__ import annotations

import datetime as dt
import inspect
from pathlib import Path
from typing import Annotated, Optional

import typer

from millpond.cli.app import WorkspaceOpt, _workspace, app
from millpond.errors import MillpondError
from millpond.lab import launch_lab
from millpond.scaffold import init_workspace


@app.command()
def init(
    folder: Annotated[Path, typer.Argument(help="The new workspace's folder (new or empty).")],
    example: Annotated[
        Optional[str], typer.Option(help="Copy a reference workspace instead of the starter: shop.")
    ] = None,
) -> None:
    """Create a workspace: millpond.yml, a bronze-silver-gold pipeline with checks, its own lib/, tests, a Makefile."""
    created = init_workspace(folder, example=example)
    typer.echo(f"created {folder} ({len(created)} files): cd {folder} && make run && make test")


@app.command()
def generate(
    seed: Annotated[int, typer.Option(help="Random seed: same seed, same files.")] = 42,
    scale: Annotated[float, typer.Option(help="1 is a small shop; row counts scale linearly.")] = 1.0,
    out: Annotated[Optional[Path], typer.Option(help="Where to write (default: the workspace's raw folder).")] = None,
    days: Annotated[int, typer.Option(help="Days of orders and events.")] = 31,
    start: Annotated[str, typer.Option(help="First day (YYYY-MM-DD).")] = "2024-01-01",
    day: Annotated[
        int, typer.Option(min=0, help="The data as it stands this many days after the window (each day's drop).")
    ] = 0,
    workspace: WorkspaceOpt = None,
) -> None:
    """Write the workspace's sample data (its millpond.yml `generator:`, e.g. the reference shop's)."""
    ws = _workspace(workspace)
    run_generate = ws.generator()
    target = out or ws.path(ws.spec.folders.raw)
    try:
        first = dt.date.fromisoformat(start)
    except ValueError:
        raise MillpondError(f"--start {start}: expected a date YYYY-MM-DD") from None
    later = {"day": day} if day else {}
    if later and "day" not in inspect.signature(run_generate).parameters:
        raise MillpondError(
            f"--day {day}: this workspace's generator ({ws.spec.generator}) has no days after its window"
        )
    try:
        manifest = run_generate(target, seed=seed, scale=scale, start=first, days=days, **later)
    except ValueError as exc:  # the generator's own word on its arguments
        raise MillpondError(f"generate: {exc}") from None
    when = f", day {day}" if day else ""
    typer.echo(f"sample data: {ws.relative(target)} (seed {seed}, scale {scale:g}{when})")
    del manifest


@app.command(context_settings={"allow_extra_args": True, "ignore_unknown_options": True})
def lab(
    context: typer.Context,
    port: Annotated[Optional[int], typer.Option(help="Port to serve on.")] = None,
    no_browser: Annotated[bool, typer.Option("--no-browser", help="Do not open a browser.")] = False,
    workspace: WorkspaceOpt = None,
) -> None:
    """Open JupyterLab at the workspace root with the project's environment as kernel; any
    other option goes to JupyterLab (e.g. --ServerApp.ip=0.0.0.0)."""
    ws = _workspace(workspace)
    ws.use_code()  # the lab's kernels import the workspace's own modules
    raise typer.Exit(launch_lab(ws.root, port=port, open_browser=not no_browser, extra_args=list(context.args)))
