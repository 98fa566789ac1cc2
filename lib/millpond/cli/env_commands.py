"""``millpond env list | diff | promote | drop``: development environments beside production
(the work: :mod:`millpond.run.environments`)."""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import asdict
from typing import Annotated, Optional

import typer

from millpond.cli.app import WorkspaceOpt, _workspace, app
from millpond.errors import MillpondError

ACTIONS = ("list", "diff", "promote", "drop")


@app.command()
def env(
    action: Annotated[str, typer.Argument(help="list, diff, promote or drop.")] = "list",
    name: Annotated[Optional[str], typer.Argument(help="The environment (diff, promote, drop).")] = None,
    wait: Annotated[bool, typer.Option("--wait", help="promote: wait for a run in progress.")] = False,
    as_json: Annotated[bool, typer.Option("--json")] = False,
    workspace: WorkspaceOpt = None,
) -> None:
    """Development environments: list them, diff one against production, promote it
    (its changed tables swapped in at once, nothing recomputed) or drop it."""
    from millpond.run import environments

    if action not in ACTIONS:
        raise MillpondError(f"env {action}: expected one of {', '.join(ACTIONS)}")
    if action != "list" and not name:
        raise MillpondError(f"env {action}: name the environment (e.g. `millpond env {action} alice`)")
    ws = _workspace(workspace)
    if action == "list":
        found = environments.list_envs(ws)
        if as_json:
            typer.echo(json.dumps([asdict(e) for e in found], indent=2))
        for e in [] if as_json else found:
            when = dt.datetime.fromtimestamp(e.last_built).strftime("%Y-%m-%d %H:%M") if e.last_built else "-"
            typer.echo(f"{e.name:<24} {e.tables:>4} tables   last built {when}")
        if not found and not as_json:
            typer.echo(
                "no development environments on this warehouse (a notebook run outside `millpond run` makes one)"
            )
    elif action == "diff":
        changes = environments.env_diff(ws, name)
        if as_json:
            typer.echo(json.dumps([asdict(c) for c in changes], indent=2))
            return
        for c in changes:
            typer.echo(f"{c.status:<10} {c.name:<36} {_detail(c)}")
    elif action == "promote":
        done = environments.promote(ws, name, wait=wait)
        if as_json:
            typer.echo(json.dumps(asdict(done), indent=2))
            return
        typer.echo(
            f"promoted {name}: {len(done.copied)} tables swapped in together, {len(done.identical)} identical (not copied)"
        )
        for table in done.copied:
            typer.echo(f"  {table}")
        for c in done.skipped:
            typer.echo(f"  not promoted: {c.name} ({c.status}; run its stage in production)")
    else:
        dropped = environments.drop_env(ws, name)
        typer.echo(f"dropped environment {name}: {len(dropped)} tables, its lake copies and its history")


def _detail(change) -> str:
    if change.status == "changed":
        parts = [f"rows {change.prod_rows:,} -> {change.rows:,}"]
        parts += [f"+{c}" for c in change.columns_added] + [f"-{c}" for c in change.columns_removed]
        parts += change.types_changed
        return ", ".join(parts)
    if change.status in ("added", "identical"):
        return f"{change.rows:,} rows"
    if change.status == "view":
        return "a view: not promoted (run its stage in production)"
    return "recorded but gone from the warehouse"
