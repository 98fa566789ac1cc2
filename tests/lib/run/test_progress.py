"""Progress: a rich live table on a terminal, one plain line per event otherwise."""

from __future__ import annotations

import io

from rich.console import Console

from millpond.run.progress import PlainReporter, RichReporter, make_reporter


def events(reporter):
    reporter.run_started("r1", "shop", ["a", "b", "c"], {"run_date": "2024-01-31"})
    reporter.stage_started("a")
    reporter.stage_retry("a", 1, "cell 3: RuntimeError: boom", 2.0)
    reporter.stage_finished("a", "success", 1.25, 1200, None)
    reporter.stage_finished("b", "skipped", 0.0, None, "unchanged")
    reporter.stage_finished("c", "failed", 0.5, None, "cell 2: ValueError: bad")
    reporter.run_finished("r1", "failed", {"success": 1, "skipped": 1, "failed": 1}, 2.0)


def test_plain_lines_one_per_event():
    out = io.StringIO()
    events(PlainReporter(out))
    lines = [line.split(" ", 1)[1] for line in out.getvalue().splitlines()]
    assert lines == [
        "run r1: pipeline shop, 3 stages, run_date=2024-01-31",
        "  start   a",
        "  retry   a (attempt 1 failed: cell 3: RuntimeError: boom; next in 2.0 s)",
        "  success a, 1.2 s, 1,200 rows",
        "  skipped b, unchanged",
        "  failed  c, 0.5 s, cell 2: ValueError: bad",
        "run r1 failed in 2.0 s (1 failed, 1 skipped, 1 success)",
    ]


def test_rich_table_on_a_terminal():
    out = io.StringIO()
    events(RichReporter(Console(file=out, force_terminal=True, width=120)))
    text = out.getvalue()
    for expected in (
        "run r1 · shop run_date=2024-01-31",
        "1,200",
        "unchanged",
        "cell 2: ValueError: bad",
        "run r1 failed",
    ):
        assert expected in text


def test_rich_table_shows_a_detail_as_text_not_markup():
    out = io.StringIO()
    reporter = RichReporter(Console(file=out, force_terminal=False, width=160))
    reporter.run_started("r1", "shop", ["a"], {})
    reporter.stage_finished("a", "failed", 0.5, None, "cell 6: HTTPStatusError: for url '/v1/[secret:api_token]/x'")
    reporter.run_finished("r1", "failed", {"failed": 1}, 0.5)
    assert "for url '/v1/[secret:api_token]/x'" in out.getvalue()


def test_plain_when_not_a_terminal(capsys):
    assert type(make_reporter()) is PlainReporter  # pytest captures stdout: not a tty
