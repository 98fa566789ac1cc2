"""``millpond sync SOURCE [--follow]``: a change stream's target kept in step
(:mod:`millpond.run.sync`), one line per batch: changes, transactions, changes per second,
lag (seconds since the last applied commit, and WAL bytes not yet applied), position."""

from __future__ import annotations

import signal
import threading
from typing import TYPE_CHECKING, Annotated

import typer

from millpond.cli.app import EnvOpt, WorkspaceOpt, _use_env, _workspace, app
from millpond.engines.pgoutput import format_lsn
from millpond.errors import MillpondError
from millpond.secrets import resolved

if TYPE_CHECKING:
    from millpond.sources.cdc_stream import Step


@app.command("sync")
def sync_command(
    source: Annotated[str, typer.Argument(help="A declared source of kind postgres_cdc.")],
    follow: Annotated[
        bool, typer.Option("--follow", "-f", help="Keep following until Ctrl-C or SIGTERM (the batch in hand commits).")
    ] = False,
    interval: Annotated[
        float, typer.Option("--interval", min=0.01, help="With --follow: seconds between looks at an idle source.")
    ] = 1.0,
    env: EnvOpt = None,
    workspace: WorkspaceOpt = None,
) -> None:
    """Keep a change stream's target in step with its source: once, or continuously with --follow."""
    from millpond.run.sync import sync_source

    _use_env(env)
    ws = _workspace(workspace)
    stop = threading.Event()

    def show(step: Step) -> None:
        if step.note:
            typer.echo(f"warning: {step.note}", err=True)
        typer.echo(step_line(source, step, format_lsn(step.position)))

    before = {sig: signal.signal(sig, lambda *_: stop.set()) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        synced = sync_source(ws, source, follow=follow, interval=interval, stop=stop, on_step=show)
    except MillpondError as exc:  # one line; a secret it might quote, masked
        raise MillpondError(resolved().text(str(exc))) from None
    except Exception as exc:  # the driver's or the engine's own: one line too, never a traceback
        first = (str(exc).strip().splitlines() or [""])[0]
        raise MillpondError(resolved().text(f"sync {source}: {type(exc).__name__}: {first}")) from None
    finally:
        for sig, handler in before.items():
            signal.signal(sig, handler)
    if not synced.position:
        typer.echo(f"{source}: stopped before it started")
        return
    how = "stopped at" if stop.is_set() else "in step at"
    typer.echo(
        f"{source}: {how} {synced.position} (committed); {synced.changes:,} changes in {synced.transactions:,} "
        f"transactions, {synced.batches:,} batches, {synced.rate:,.0f} changes/s"
    )


def step_line(source: str, step: Step, at: str) -> str:
    """The line of one step.

    >>> from millpond.sources.cdc_stream import Step
    >>> step_line("crm", Step(1, copied=1200, seconds=0.5), "0/1")
    'crm: copied 1,200 rows in 0.5 s, following from 0/1'
    >>> step_line("crm", Step(1, behind=2_500_000), "0/1")
    'crm: no changes, 2.5 MB behind, at 0/1'
    """
    if step.copied is not None:
        return f"{source}: copied {step.copied:,} rows in {step.seconds:.1f} s, following from {at}"
    if not step.changes:
        return f"{source}: no changes, {_size(step.behind)} behind, at {at}"
    return (
        f"{source}: {step.changes:,} changes in {step.transactions:,} transactions, {step.rate:,.0f} changes/s, "
        f"lag {step.lag:.2f} s, {_size(step.behind)} behind, at {at}"
    )


def _size(n: int) -> str:
    for unit, scale in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if n >= scale:
            return f"{n / scale:.1f} {unit}"
    return f"{n} B"
