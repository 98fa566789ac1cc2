"""Hostile pipeline specs never crash or hang ``millpond validate`` or ``millpond run --dry-run``
(issue 19): hundreds of seeded mutants of the reference ``pipelines/shop.yml`` and
``millpond.yml`` (tests/support/spec_mutants.py), in a copy of the reference workspace with
its real notebooks, each answer exit 0, or exit 2 with exactly one line naming the file
and line, in under a second of CPU, in bounded memory, without a traceback.

The mutants run in-process through ``millpond.cli.main`` (a subprocess each would take
an hour); the attack classes of the issue also run through the real command, under a
memory limit.
"""

from __future__ import annotations

import contextlib
import io
import re
import resource
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from millpond.cli import main
from support.reference import copy_workspace
from support.spec_mutants import ALIAS_BOMB, Mutant, mutants

MILLPOND = str(Path(sys.executable).parent / "millpond")
ERROR_LINE = re.compile(r"^error: (pipelines/shop\.yml|millpond\.yml):\d+: \S")
COMMANDS = (["validate", "shop"], ["run", "shop", "--dry-run"])


@pytest.fixture(scope="module")
def workspace(tmp_path_factory) -> Path:
    root = copy_workspace(tmp_path_factory.mktemp("hostile") / "ws")
    for command in COMMANDS:  # warm: notebooks inspected once, Ibis imported for the checks
        code, _, err, _ = _call([*command, "-C", str(root)])
        assert code == 0, err
    return root


class _Hung(Exception):
    pass


def _call(argv: list[str], wall_limit: float = 10) -> tuple[object, str, str, float]:
    """``(exit code, stdout, stderr, CPU seconds)`` of ``millpond ARGV`` in this process; an
    exception that escapes ``main`` (a traceback for the user) is returned as the code."""
    out, err = io.StringIO(), io.StringIO()

    def expire(*_):
        raise _Hung(f"still running after {wall_limit} s")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, wall_limit)
    started = time.process_time()
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            code: object = main(argv)
    except BaseException as exc:  # noqa: BLE001 - what the user would see as a traceback
        code = f"{type(exc).__name__}: {str(exc)[:300]}"
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
    return code, out.getvalue(), err.getvalue(), time.process_time() - started


def _problem(code: object, out: str, err: str, cpu: float) -> str | None:
    """What is wrong with one answer, or ``None``."""
    lines = err.splitlines()
    if code not in (0, 2):
        return f"exit {code!r}"
    if "Traceback" in out + err:
        return "a traceback"
    if cpu > 1:
        return f"{cpu:.2f} s of CPU"
    if code == 2 and (not lines or not all(ERROR_LINE.match(line) for line in lines)):  # validate: one per error
        return f"not error lines each naming file and line: {err[:300]!r}"
    if code == 0 and lines:
        return f"stderr on success: {err[:300]!r}"
    return None


def _fuzz(workspace: Path, target: str, batch: list[Mutant]) -> tuple[list[str], dict]:
    path = workspace / target
    original = path.read_bytes()
    failures, codes = [], {0: 0, 2: 0}
    try:
        for number, mutant in enumerate(batch):
            path.write_bytes(mutant.content)
            for command in COMMANDS:
                code, out, err, cpu = _call([*command, "-C", str(workspace)])
                codes[code] = codes.get(code, 0) + 1
                problem = _problem(code, out, err, cpu)
                if problem:
                    failures.append(f"{target} mutant {number} ({mutant.describe()[:120]}), {command[0]}: {problem}")
    finally:
        path.write_bytes(original)
    return failures, codes


def test_mutants_of_the_shop_pipeline_never_crash_or_hang(workspace):
    batch = list(mutants((workspace / "pipelines/shop.yml").read_text(), 300, seed=19))
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    failures, codes = _fuzz(workspace, "pipelines/shop.yml", batch)
    growth_mb = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024
    assert not failures, f"{len(failures)} bad answers, the first:\n" + "\n".join(failures[:10])
    assert growth_mb < 150, f"peak memory grew {growth_mb:.0f} MB"
    # the mutants are neither all accepted nor all refused: both paths are exercised
    assert codes[0] > 30 and codes[2] > 300, codes


def test_mutants_of_the_workspace_file_never_crash_or_hang(workspace):
    batch = list(mutants((workspace / "millpond.yml").read_text(), 100, seed=19))
    failures, codes = _fuzz(workspace, "millpond.yml", batch)
    assert not failures, f"{len(failures)} bad answers, the first:\n" + "\n".join(failures[:10])
    assert codes[0] > 10 and codes[2] > 50, codes


def _shop(workspace: Path) -> str:
    return (workspace / "pipelines/shop.yml").read_text()


# the classes of issue 19, each as the real command sees it: (name, how to edit shop.yml, expected line)
ATTACKS = [
    # lol0..lol4 hold 10, 91, 820, 7381 and 66430 values (74,738 with the keys and the top mapping);
    # lol5's first *l4 passes 100,000
    (
        "alias bomb",
        lambda text: ALIAS_BOMB + text,
        r"pipelines/shop\.yml:6: lol5\[0\]: YAML alias \*l4 makes the document more than 100000 values",
    ),
    (
        "recursive alias",
        lambda text: "loop: &m {a: *m}\n" + text,
        r"pipelines/shop\.yml:1: loop\.a: recursive YAML alias \*m",
    ),
    (
        "binary junk",
        lambda text: "".join(text.splitlines(keepends=True)[:4]) + "\udcff\udcfe junk\n" + text,
        r"pipelines/shop\.yml:5: not UTF-8 text \(byte 0xff at column 1\)",
    ),
    (
        "long notebook path",
        lambda text: text.replace("notebooks/silver/21_clean_products.ipynb", "n" * 200_000),
        r"pipelines/shop\.yml:\d+: stages\[7\]\.notebook: path too long \(200000 bytes; at most 4096\)",
    ),
    (
        "regex",
        lambda text: text.replace("pattern: email", "pattern: '(unclosed'"),
        r"pipelines/shop\.yml:\d+: stages\[6\]\.checks\.silver\.customers\[2\]\.regex\.pattern: not a valid regular expression",
    ),
    (
        "regex RE2 lacks",
        lambda text: text.replace("pattern: email", "pattern: '(?<!x)@'"),
        r"pipelines/shop\.yml:\d+: stages\[6\]\.checks\.silver\.customers\[2\]\.regex\.pattern: the warehouse's "
        r"regular expressions \(RE2\) have no lookahead or lookbehind",
    ),
    (
        "date override",
        lambda text: text.replace(
            "notebook: notebooks/gold/32_build_dim_date.ipynb\n",
            "notebook: notebooks/gold/32_build_dim_date.ipynb\n    params: {run_date: not-a-date}\n",
        ),
        r"pipelines/shop\.yml:\d+: stages\[14\]\.params\.run_date: expected date",
    ),
    (
        "infinite timeout",
        lambda text: text.replace("timeout: 600", "timeout: .inf"),
        r"pipelines/shop\.yml:8: defaults\.timeout: Input should be a finite number",
    ),
    (
        "absurd backoff",
        lambda text: text.replace("retry_backoff: 2", "retry_backoff: 1e308"),
        r"pipelines/shop\.yml:8: defaults\.retry_backoff: Input should be less than or equal to 3600",
    ),
]


def _limit_memory() -> None:
    limit = 2 << 30  # 2 GiB of address space: the command needs about a third; a bomb would pass it
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))


@pytest.mark.parametrize(("name", "edit", "expected"), ATTACKS, ids=[a[0] for a in ATTACKS])
def test_each_attack_class_through_the_real_command(workspace, tmp_path, name, edit, expected):
    root = copy_workspace(tmp_path / "ws")
    (root / "data/.millpond").mkdir(parents=True)
    for cache in (workspace / "data/.millpond").glob("*.json"):  # the notebooks were inspected already
        (root / "data/.millpond" / cache.name).write_bytes(cache.read_bytes())
    (root / "pipelines/shop.yml").write_bytes(edit(_shop(workspace)).encode("utf-8", "surrogateescape"))
    commands = COMMANDS if name in ("alias bomb", "recursive alias") else COMMANDS[:1]
    for command in commands:
        done = subprocess.run(
            [MILLPOND, *command, "-C", str(root)],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
            preexec_fn=_limit_memory,  # the library the shell's PYTHONPATH names, as for every test
        )
        assert done.returncode == 2, done.stderr[-2000:]
        assert "Traceback" not in done.stderr
        assert done.stderr.count("\n") == 1, done.stderr[-2000:]
        assert re.match("error: " + expected, done.stderr), done.stderr


def test_a_merge_key_in_the_reference_pipeline_plans_the_same_run(workspace):
    original = _shop(workspace)
    merged = original.replace("defaults: {", "defaults: &defaults {", 1).replace(
        "    retries: 0\n", "    <<: *defaults\n    retries: 0\n"
    )
    assert merged.count("<<: *defaults") == 2
    plans = []
    path = workspace / "pipelines/shop.yml"
    try:
        for text in (original, merged):
            path.write_text(text)
            code, out, err, _ = _call(["run", "shop", "--dry-run", "-C", str(workspace)])
            assert code == 0, err
            plans.append(out)
    finally:
        path.write_text(original)
    # the merged stages get the defaults they already fell back to: the same stages, same reasons
    assert plans[0] == plans[1] and "render_report" in plans[1]
