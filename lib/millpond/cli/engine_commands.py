"""``millpond engine status|stop`` (the warm engine that forks the stages' kernels) and
``millpond server status|start|stop`` (the warehouse engine's server)."""

from __future__ import annotations

from typing import Annotated

import typer

from millpond.cli.app import WorkspaceOpt, _workspace, app
from millpond.engines import engine_class
from millpond.errors import MillpondError
from millpond.kernels.fork_daemon import stop_warm_engines, warm_engines


@app.command()
def engine(
    action: Annotated[str, typer.Argument(help="status or stop.")] = "status",
) -> None:
    """The warm engine: the background process that forks each stage's kernel, kept between
    runs and gone after `execution: keep_warm` seconds (default 600) without a run."""
    if action == "status":
        found = warm_engines()
        for e in found:
            typer.echo(
                f"warm engine pid {e.pid}: {e.memory_mb:.0f} MB, idle {e.idle_for:.0f} s,"
                f" exits after {e.idle_limit:.0f} s idle ({e.socket})"
            )
        if not found:
            typer.echo("no warm engine running (the next run starts one)")
    elif action == "stop":
        stopped = stop_warm_engines()
        typer.echo(
            f"stopped {len(stopped)} warm engine{'s' if len(stopped) != 1 else ''}" + "".join(f" {p}" for p in stopped)
        )
    else:
        raise MillpondError(f"engine {action}: expected status or stop")


@app.command()
def server(
    action: Annotated[str, typer.Argument(help="status, start or stop.")] = "status",
    workspace: WorkspaceOpt = None,
) -> None:
    """The warehouse engine's server that millpond runs for the workspace (a Spark Connect
    server on pyspark://...): status, start or stop."""
    ws = _workspace(workspace)
    typer.echo(engine_class(ws.warehouse_url()).server_action(ws, action))
