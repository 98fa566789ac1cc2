"""How a run shows itself: a rich live table on a terminal, one line per event otherwise."""

from __future__ import annotations

import sys
import time
from typing import TextIO

STATUS_STYLE = {
    "pending": "dim",
    "waiting": "dim",
    "running": "cyan",
    "success": "green",
    "skipped": "blue",
    "failed": "bold red",
    "upstream_failed": "yellow",
    "timeout": "bold red",
}


class PlainReporter:
    """One line per event, for logs and CI."""

    def __init__(self, stream: TextIO | None = None):
        self.stream = stream or sys.stdout

    def _say(self, text: str) -> None:
        print(f"{time.strftime('%H:%M:%S')} {text}", file=self.stream, flush=True)

    def run_started(self, run_id: str, pipeline: str, stages: list[str], params: dict) -> None:
        shown = " ".join(f"{k}={v}" for k, v in sorted(params.items()))
        self._say(f"run {run_id}: pipeline {pipeline}, {len(stages)} stages{', ' + shown if shown else ''}")

    def stage_started(self, stage: str) -> None:
        self._say(f"  start   {stage}")

    def waiting(self, text: str) -> None:
        """The run or its stages wait for something outside it (another run, the warehouse)."""
        self._say(text)

    def stage_retry(self, stage: str, attempt: int, error: str, wait: float) -> None:
        self._say(f"  retry   {stage} (attempt {attempt} failed: {error}; next in {wait:.1f} s)")

    def stage_finished(
        self, stage: str, status: str, duration: float | None, rows: int | None, detail: str | None
    ) -> None:
        parts = [f"  {status:<7} {stage}"]
        if duration is not None and status not in {"skipped", "upstream_failed"}:
            parts.append(f"{duration:.1f} s")
        if rows:
            parts.append(f"{rows:,} rows")
        if detail:
            parts.append(detail)
        self._say(", ".join(parts))

    def run_finished(self, run_id: str, status: str, counts: dict[str, int], duration: float) -> None:
        summary = ", ".join(f"{n} {s}" for s, n in sorted(counts.items()))
        self._say(f"run {run_id} {status} in {duration:.1f} s ({summary})")

    def close(self) -> None:
        pass


class RichReporter(PlainReporter):
    """A live table of stages with their state, for people at a terminal."""

    def __init__(self, console=None):
        from rich.console import Console
        from rich.live import Live

        super().__init__()
        self.console = console or Console()
        self.rows: dict[str, dict] = {}
        self.title = ""
        self.live = Live(self._render(), console=self.console, refresh_per_second=8, transient=False)
        self.live.start()

    def _render(self):
        from rich.markup import escape
        from rich.table import Table

        table = Table(title=self.title, title_justify="left", expand=False)
        for col in ("stage", "status", "time", "rows", "detail"):
            table.add_column(col)
        for name, row in self.rows.items():
            status = row["status"]
            elapsed = row.get("duration")
            if status == "running":
                elapsed = time.monotonic() - row["t0"]
            table.add_row(
                name,
                f"[{STATUS_STYLE.get(status, '')}]{status}[/]",
                "" if elapsed is None else f"{elapsed:.1f} s",
                "" if not row.get("rows") else f"{row['rows']:,}",
                escape(row.get("detail") or ""),  # [brackets] in a message are text, not markup
            )
        return table

    def _refresh(self) -> None:
        self.live.update(self._render())

    def run_started(self, run_id, pipeline, stages, params) -> None:
        shown = " ".join(f"{k}={v}" for k, v in sorted(params.items()))
        self.title = f"run {run_id} · {pipeline} {shown}"
        self.rows = {s: {"status": "pending"} for s in stages}
        self._refresh()

    def stage_started(self, stage) -> None:
        self.rows[stage] = {"status": "running", "t0": time.monotonic()}
        self._refresh()

    def waiting(self, text) -> None:
        self.console.print(f"[yellow]{text}[/]")

    def stage_retry(self, stage, attempt, error, wait) -> None:
        self.rows[stage]["detail"] = f"retry {attempt}: {error}"
        self._refresh()

    def stage_finished(self, stage, status, duration, rows, detail) -> None:
        self.rows[stage] = {"status": status, "duration": duration, "rows": rows, "detail": detail}
        self._refresh()

    def run_finished(self, run_id, status, counts, duration) -> None:
        self._refresh()
        self.live.stop()
        summary = ", ".join(f"{n} {s}" for s, n in sorted(counts.items()))
        style = "green" if status == "success" else "bold red"
        self.console.print(f"[{style}]run {run_id} {status}[/] in {duration:.1f} s ({summary})")

    def close(self) -> None:
        self.live.stop()


def make_reporter(plain: bool | None = None) -> PlainReporter:
    """Rich on a terminal, plain lines otherwise (or as asked)."""
    if plain is None:
        plain = not sys.stdout.isatty()
    return PlainReporter() if plain else RichReporter()
