"""``millpond watch PIPELINE``: runs started by files landing, a schedule or a stream's output
(:mod:`millpond.run.watch`), one line per trigger, run and missed schedule. Ctrl-C or SIGTERM
stops it once the run in progress has finished (exit 0); a second one interrupts that run, as
Ctrl-C does ``millpond run``'s."""

from __future__ import annotations

import signal
import sys
import threading
from datetime import datetime
from typing import TYPE_CHECKING, Annotated, Optional

import typer

from millpond.cli.app import EnvOpt, WorkspaceOpt, _use_env, _workspace, app
from millpond.errors import MillpondError

if TYPE_CHECKING:
    from millpond.run.watch import WatchEvent

SHOWN_FILES = 3


@app.command("watch")
def watch_command(
    pipeline: Annotated[str, typer.Argument(help="Pipeline name (pipelines/<name>.yml) or file.")],
    files: Annotated[
        list[str],
        typer.Option(
            "--files", metavar="GLOB", help="Watch these files instead of watch.files (repeatable; from the root)."
        ),
    ] = [],
    debounce: Annotated[
        Optional[str],
        typer.Option("--debounce", metavar="SECONDS", help="Quiet after the last file landed before its run."),
    ] = None,
    cron: Annotated[
        Optional[str],
        typer.Option(
            "--cron",
            metavar="CRON",
            help="A schedule of runs instead of watch.cron: five cron fields, or six (seconds).",
        ),
    ] = None,
    max_runs: Annotated[Optional[str], typer.Option("--max-runs", metavar="N", help="Stop after N runs.")] = None,
    env: EnvOpt = None,
    workspace: WorkspaceOpt = None,
) -> None:
    """Run a pipeline whenever files land, on a schedule, or when a stream's output advances; until Ctrl-C or SIGTERM."""
    from millpond.run.watch import watch_pipeline

    seconds = _number("--debounce", debounce, float)
    most = _number("--max-runs", max_runs, int)
    env = _use_env(env)
    ws = _workspace(workspace)
    stop = threading.Event()
    signals = []

    def on_signal(number: int, _frame) -> None:
        signals.append(number)
        if len(signals) > 1:
            raise KeyboardInterrupt  # a second one: the run in progress is interrupted, as Ctrl-C does it
        stop.set()

    def show(event: WatchEvent) -> None:
        line = event_line(event)
        typer.echo(line, err=line.startswith("warning:"))

    before = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        watched = watch_pipeline(
            ws,
            pipeline,
            files=files or None,
            debounce=seconds,
            cron=cron,
            max_runs=most,
            env=env,
            stop=stop,
            on_event=show,
        )
    finally:
        for sig, handler in before.items():
            signal.signal(sig, handler)
    why = f" on {signal.Signals(signals[0]).name}" if signals else " after --max-runs" if most else ""
    missed = f", {_count(watched.missed, 'missed tick')}" if watched.missed else ""
    typer.echo(f"{_clock(datetime.now())} stopped{why}: {_count(watched.runs, 'run')}{missed}")
    sys.stdout.flush()


def _number(option: str, text: str | None, kind: type):
    if text is None:
        return None
    try:
        value = kind(text)
    except ValueError:
        raise MillpondError(f"{option} {text!r}: not {'a number of seconds' if kind is float else 'a whole number'}")
    if kind is int and value < 1:
        raise MillpondError(f"{option} {text}: at least 1")
    return value


def event_line(event: WatchEvent) -> str:
    """The line of one event, after the time it happened.

    >>> from datetime import datetime
    >>> from millpond.run.watch import Ran, Triggered
    >>> at = datetime(2024, 1, 1, 12, 0, 5)
    >>> event_line(Triggered(at, files=("data/a.csv", "data/b.csv")))
    '12:00:05 trigger: 2 files landed (data/a.csv, data/b.csv): run'
    >>> event_line(Triggered(at, streams=(("clicks", "3 new windows"),), stages=("report",)))
    '12:00:05 trigger: stream clicks, 3 new windows: run of report'
    >>> event_line(Ran(at, "20240101T120005-ab12", "success", {"a": "success", "b": "skipped"}, 1.24))
    '12:00:05 run 20240101T120005-ab12 success in 1.2 s (1 skipped, 1 success)'
    """
    from millpond.run.watch import Failed, Missed, Ran, Triggered, Waiting, Watching

    at = _clock(event.at)
    if isinstance(event, Watching):
        plan, parts = event.plan, []
        if plan.files:
            parts.append(f"files {', '.join(plan.files)} (then {plan.debounce:g} s of quiet)")
        if plan.cron:
            parts.append(f"schedule {plan.cron!r} (next {_tick(event.next_tick, len(plan.cron.split()) == 6)})")
        parts += [f"stream {name} for {', '.join(stages)}" for name, stages in plan.streams.items()]
        return f"{at} watching {plan.name}: {'; '.join(parts)}"
    if isinstance(event, Triggered):
        reasons = []
        if event.files:
            shown = ", ".join(event.files[:SHOWN_FILES]) + (" ..." if len(event.files) > SHOWN_FILES else "")
            reasons.append(f"{_count(len(event.files), 'file')} landed ({shown})")
        if event.tick is not None:
            reasons.append(f"schedule {_tick(event.tick, event.tick.second != 0)}")
        if event.catch_up:
            reasons.append("catch-up of the missed schedule")
        reasons += [f"stream {name}, {what}" for name, what in event.streams]
        return f"{at} trigger: {'; '.join(reasons)}: run" + (f" of {', '.join(event.stages)}" if event.stages else "")
    if isinstance(event, Ran):
        counts: dict[str, int] = {}
        for status in event.stages.values():
            counts[status] = counts.get(status, 0) + 1
        summary = ", ".join(f"{n} {s}" for s, n in sorted(counts.items()))
        return f"{at} run {event.run_id} {event.status} in {event.seconds:.1f} s ({summary})"
    if isinstance(event, Missed):
        ticks = event.ticks
        many = f"{'more than ' if ticks.more else ''}{_count(ticks.count, 'tick')}"
        span = f", to {_tick(ticks.last, event.seconds)}" if ticks.count > 1 else ""
        return f"{at} missed schedule {_tick(ticks.first, event.seconds)} ({many}{span}, {event.why}): one catch-up run"
    if isinstance(event, Waiting):
        return f"{at} {event.text}"
    assert isinstance(event, Failed)
    return f"warning: {at} {event.message}"


def _clock(moment: datetime) -> str:
    return moment.strftime("%H:%M:%S")


def _tick(moment: datetime | None, seconds: bool) -> str:
    """A tick as HH:MM (HH:MM:SS for a schedule of seconds), with its date when not today."""
    if moment is None:
        return "never"
    shown = moment.strftime("%H:%M:%S" if seconds else "%H:%M")
    return shown if moment.date() == datetime.now(moment.tzinfo).date() else f"{moment:%Y-%m-%d} {shown}"


def _count(n: int, noun: str) -> str:
    return f"{n:,} {noun}{'' if n == 1 else 's'}"
