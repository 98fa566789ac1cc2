"""``millpond watch PIPELINE`` on the command line: one line per trigger, run and missed
schedule; SIGTERM stops it with exit 0 (a run in progress finishes first); a mistake is one
line and exit 2, never a traceback."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
from datetime import timedelta
from pathlib import Path

import pytest

from millpond.cli import main
from millpond.run.watch import now, state_file
from millpond.run.watch_triggers import WatchState
from millpond.warehouse.lease import Lease
from support.watch_workspace import land, run_log, wait_for, watch_workspace

MILLPOND = str(Path(sys.executable).parent / "millpond")
CLOCK = r"\d\d:\d\d:\d\d"


def _start(root: Path, *args: str) -> tuple[subprocess.Popen, list[str], list[str]]:
    """``millpond watch p ARGS`` in a process of its own; its stdout and stderr lines as they come."""
    watch = subprocess.Popen(
        [MILLPOND, "watch", "p", *args, "-C", str(root)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={k: v for k, v in os.environ.items() if k != "PYTHONUNBUFFERED"},  # lines must come through a pipe
    )
    out: list[str] = []
    err: list[str] = []
    threading.Thread(target=lambda: out.extend(watch.stdout), daemon=True).start()
    threading.Thread(target=lambda: err.extend(watch.stderr), daemon=True).start()
    return watch, out, err


def _said(lines: list[str], text: str, seconds: float = 60) -> bool:
    return wait_for(lambda: any(text in line for line in list(lines)), seconds)


def test_sigterm_stops_an_idle_watch_with_exit_0(tmp_path):
    watch_workspace(tmp_path)
    watch, out, err = _start(tmp_path)
    try:
        assert _said(out, "watching p: files data/raw/events/*.jsonl (then 2 s of quiet)"), (out, err)
    finally:
        watch.send_signal(signal.SIGTERM)
    assert watch.wait(timeout=30) == 0
    assert wait_for(lambda: any("stopped" in line for line in out), 5)
    assert re.fullmatch(rf"{CLOCK} stopped on SIGTERM: 0 runs\n", out[-1]), out
    assert err == []


def test_sigterm_during_a_run_lets_the_run_finish_then_exits_0(tmp_path):
    watch_workspace(tmp_path, nap=2.0)
    watch, out, err = _start(tmp_path, "--debounce", "0.2")
    try:
        assert _said(out, "watching p"), (out, err)
        land(tmp_path, 3, within=0.1)
        assert wait_for(lambda: run_log(tmp_path), 60), (out, err)  # the stage is running
    finally:
        watch.send_signal(signal.SIGTERM)
    assert watch.wait(timeout=60) == 0, (out, err)
    wait_for(lambda: any("stopped" in line for line in out), 5)
    assert [what for _, what, _ in run_log(tmp_path)] == ["start", "end"]
    assert re.fullmatch(
        rf"{CLOCK} trigger: 3 files landed \(data/raw/events/e000.jsonl, data/raw/events/e001.jsonl, "
        r"data/raw/events/e002.jsonl\): run\n",
        out[1],
    ), out
    assert re.fullmatch(rf"{CLOCK} run \S+ success in [\d.]+ s \(1 success\)\n", out[2]), out
    assert out[3].endswith("stopped on SIGTERM: 1 run\n") and len(out) == 4, out
    assert "Traceback" not in "".join(err) and err == [], err


def test_a_missed_schedule_is_one_line_then_one_catch_up_run(tmp_path, capsys):
    ws = watch_workspace(tmp_path)
    WatchState(state_file(ws, "p"), last_tick=now() - timedelta(hours=2)).save()
    code = main(["watch", "p", "--cron", "*/15 * * * *", "--max-runs", "1", "-C", str(tmp_path)])
    out, err = capsys.readouterr()
    assert code == 0, err
    lines = out.splitlines()
    assert re.fullmatch(rf"{CLOCK} watching p: .*; schedule '\*/15 \* \* \* \*' \(next \d\d:\d\d\)", lines[0])
    assert re.fullmatch(
        rf"{CLOCK} missed schedule (\S+ )?\d\d:\d\d \(8 ticks, to \d\d:\d\d, while the watcher was not running\): "
        "one catch-up run",
        lines[1],
    ), lines
    assert re.fullmatch(rf"{CLOCK} trigger: catch-up of the missed schedule: run", lines[2])
    assert re.fullmatch(rf"{CLOCK} run \S+ success in [\d.]+ s \(1 success\)", lines[3])
    assert re.fullmatch(rf"{CLOCK} stopped after --max-runs: 1 run, 8 missed ticks", lines[4]) and len(lines) == 5


HOSTILE = {
    "unknown pipeline": (["watch", "nosuch"], "error: no pipeline 'nosuch' in pipelines (known: p)"),
    "bad cron": (["watch", "p", "--cron", "61 * * * *"], "error: --cron '61 * * * *': not a schedule (minute hour"),
    "cron of seven fields": (
        ["watch", "p", "--cron", "* * * * * * *"],
        "error: --cron '* * * * * * *': a schedule has five",
    ),
    "a cron that never comes": (["watch", "p", "--cron", "0 0 30 2 *"], "error: --cron '0 0 30 2 *': never comes"),
    "bad glob": (["watch", "p", "--files", "data/**.csv"], "error: --files 'data/**.csv': '**' must be a whole"),
    "negative debounce": (["watch", "p", "--debounce", "-1"], "error: --debounce -1.0: Input should be greater than 0"),
    "infinite debounce": (["watch", "p", "--debounce", "inf"], "error: --debounce inf: Input should be a finite"),
    "a day of debounce": (
        ["watch", "p", "--debounce", "86400"],
        "error: --debounce 86400.0: Input should be less than",
    ),
    "debounce not a number": (["watch", "p", "--debounce", "soon"], "error: --debounce 'soon': not a number"),
    "no runs": (["watch", "p", "--max-runs", "0"], "error: --max-runs 0: at least 1"),
    "bad environment": (["watch", "p", "--env", "no such env!"], "error: "),
}


@pytest.mark.parametrize("argv, said", HOSTILE.values(), ids=HOSTILE.keys())
def test_a_mistake_on_the_command_line_is_one_line_and_exit_2(tmp_path, capsys, argv, said):
    watch_workspace(tmp_path)
    code = main([*argv, "-C", str(tmp_path)])
    out, err = capsys.readouterr()
    assert code == 2 and out == "", (code, out, err)
    assert err.startswith(said) and err.count("\n") == 1, err


DECLARED = {
    "bad cron": ({"cron": "every day"}, r"watch\.cron: 'every day': a schedule has five fields"),
    "negative debounce": ({"debounce": -2}, r"watch\.debounce: Input should be greater than 0"),
    "bad glob": ({"files": ["../../**/*.csv"]}, r"watch\.files\[0\]: '\*\*' after '\.\.'"),
    "unknown key": ({"cron": "* * * * *", "debunce": 1}, r"watch\.debunce: unknown key \(did you mean debounce\?\)"),
}


@pytest.mark.parametrize("watch, said", DECLARED.values(), ids=DECLARED.keys())
def test_a_mistake_in_the_watch_block_names_file_line_and_field(tmp_path, capsys, watch, said):
    watch_workspace(tmp_path, watch=watch)
    for command in (["watch", "p"], ["validate", "p"]):
        code = main([*command, "-C", str(tmp_path)])
        out, err = capsys.readouterr()
        assert code == 2 and re.fullmatch(rf"error: pipelines/p\.yml:\d+: {said}.*\n", err), (command, err)


def test_a_stage_s_stream_must_be_a_name(tmp_path, capsys):
    watch_workspace(tmp_path, more=[{"name": "react", "notebook": "notebooks/logged.ipynb", "on_stream": "a b"}])
    assert main(["watch", "p", "-C", str(tmp_path)]) == 2
    assert re.fullmatch(r"error: pipelines/p\.yml:\d+: stages\[1\]\.on_stream: .*\n", capsys.readouterr().err)


def test_a_pipeline_watched_already_is_refused(tmp_path, capsys):
    ws = watch_workspace(tmp_path)
    with Lease(state_file(ws, "p").with_suffix(""), "millpond watch p"):
        assert main(["watch", "p", "-C", str(tmp_path)]) == 2
    assert capsys.readouterr().err.startswith("error: pipeline p is being watched already, by millpond watch p")
