"""``millpond stream run | replay | status``: streams (the work: :mod:`millpond.run.streaming`).

``run NAME`` processes a stream until Ctrl-C or SIGTERM (the batch in hand commits, then it
prints where it stopped), one line per micro-batch; ``--once`` stops when the log is caught up.
``replay NAME [--from TIME]`` rebuilds its outputs from its log. ``status`` shows every stream.
"""

from __future__ import annotations

import json
import signal
import threading
from datetime import datetime
from typing import TYPE_CHECKING, Annotated, Optional

import typer

from millpond.cli.app import EnvOpt, WorkspaceOpt, _use_env, _workspace, app
from millpond.errors import MillpondError
from millpond.secrets import resolved

if TYPE_CHECKING:
    from millpond.streams.processor import Step

ACTIONS = ("run", "replay", "status")


@app.command("stream")
def stream_command(
    action: Annotated[str, typer.Argument(help="run, replay or status.")],
    name: Annotated[Optional[str], typer.Argument(help="The stream (run, replay).")] = None,
    once: Annotated[bool, typer.Option("--once", help="run: stop when the log is caught up.")] = False,
    since: Annotated[
        Optional[str], typer.Option("--from", help="replay: rebuild the windows from this event time on (ISO 8601).")
    ] = None,
    interval: Annotated[
        float, typer.Option("--interval", min=0.01, help="run: seconds between looks at an idle log.")
    ] = 0.2,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="run: no line per micro-batch.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="status: as JSON.")] = False,
    env: EnvOpt = None,
    workspace: WorkspaceOpt = None,
) -> None:
    """Streams: run one (until Ctrl-C or SIGTERM, its position committed), replay one from its
    log (Kappa), or show the status of all."""
    from millpond.run import streaming

    if action not in ACTIONS:
        raise MillpondError(f"stream {action}: expected one of {', '.join(ACTIONS)}")
    if action != "status" and not name:
        raise MillpondError(f"stream {action}: name the stream (e.g. `millpond stream {action} clicks`)")
    _use_env(env)
    ws = _workspace(workspace)
    if action == "status":
        rows = streaming.stream_status(ws)
        typer.echo(
            json.dumps(rows, default=str, indent=2) if as_json else "\n".join(map(status_line, rows)) or "no streams"
        )
        return
    assert name is not None
    if action == "replay":
        moment = _moment(since) if since else None
        done = _guarded(name, lambda: streaming.replay_stream(ws, name, since=moment))
        typer.echo(
            f"{name}: replayed {done.events:,} events in {done.batches:,} batches, {done.emitted:,} windows, "
            f"{done.late:,} late, {done.seconds:.1f} s; swapped in" + (f" from {moment}" if moment else "")
        )
        return
    stop = threading.Event()

    def show(step: Step) -> None:
        if not quiet:
            typer.echo(step_line(name, step))

    before = {sig: signal.signal(sig, lambda *_: stop.set()) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        done = _guarded(
            name, lambda: streaming.run_stream(ws, name, follow=not once, interval=interval, stop=stop, on_step=show)
        )
    finally:
        for sig, handler in before.items():
            signal.signal(sig, handler)
    how = "stopped" if stop.is_set() else "caught up"
    typer.echo(
        f"{name}: {how}, committed; {done.events:,} events in {done.batches:,} batches, {done.emitted:,} windows "
        f"emitted, {done.late:,} late, {done.rate:,.0f} events/s"
    )


def _guarded(name: str, work):
    try:
        return work()
    except MillpondError as exc:  # one line; a secret it might quote, masked
        raise MillpondError(resolved().text(str(exc))) from None
    except Exception as exc:  # a driver's or the engine's own: one line too, never a traceback
        first = (str(exc).strip().splitlines() or [""])[0]
        raise MillpondError(resolved().text(f"stream {name}: {type(exc).__name__}: {first}")) from None


def _moment(text: str) -> datetime:
    try:
        return datetime.fromisoformat(text).replace(tzinfo=None)
    except ValueError:
        raise MillpondError(f"--from {text!r} is not a time such as 2024-01-01T10:00") from None


def step_line(name: str, step: Step) -> str:
    """The line of one micro-batch.

    >>> from millpond.streams.processor import Step
    >>> step_line("clicks", Step(events=1200, late=2, emitted=3, open_windows=4, seconds=0.05))
    'clicks: 1,200 events, 3 windows closed, 4 open, 2 late, 24,000 events/s'
    """
    rate = step.events / step.seconds if step.seconds else 0
    text = f"{name}: {step.events:,} events, {step.emitted:,} windows closed, {step.open_windows:,} open, {step.late:,} late"
    if step.corrected:
        text += f", {step.corrected:,} corrected"
    return text + f", {rate:,.0f} events/s"


def status_line(row: dict) -> str:
    """One stream's status.

    >>> status_line({"stream": "clicks", "sink": "gold.c", "running": None, "batches": 3, "events": 10, "late": 1,
    ...              "windows": 2, "open_windows": 1, "watermark": "2024-01-01 10:00:00"})
    'clicks -> gold.c: idle; 3 batches, 10 events, 1 late; 2 windows closed, 1 open; watermark 2024-01-01 10:00:00'
    """
    if not row.get("batches"):
        return f"{row['stream']} -> {row['sink']}: never run" + (
            f" (running: {row['running']})" if row.get("running") else ""
        )
    text = (
        f"{row['stream']} -> {row['sink']}: {'running' if row.get('running') else 'idle'}; {row['batches']:,} batches, "
        f"{row['events']:,} events, {row['late']:,} late; {row.get('windows') or 0:,} windows closed, "
        f"{row.get('open_windows') or 0:,} open; watermark {row.get('watermark')}"
    )
    if row.get("rate"):
        text += f"; {row['rate']:,.0f} events/s recently"
    if row.get("lag_seconds") is not None:
        text += f", event-time lag {row['lag_seconds']:.1f} s"
    return text
