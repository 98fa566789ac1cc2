"""Whole-process timing shared by the benchmark scripts (public tools only)."""

from __future__ import annotations

import statistics
import subprocess
import time
from pathlib import Path


def timed(cmd: list[str], cwd: Path) -> float:
    """Wall seconds of one run of ``cmd`` in ``cwd`` (output discarded; fails if it fails)."""
    t0 = time.perf_counter()
    subprocess.run(cmd, cwd=cwd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - t0


def alternate(commands: dict[str, list[str]], cwd: Path, repeat: int) -> dict[str, list[float]]:
    """Run each command ``repeat`` times, alternating A B C A B C ..., after one warm-up of each."""
    for cmd in commands.values():
        timed(cmd, cwd)
    samples: dict[str, list[float]] = {name: [] for name in commands}
    for _ in range(repeat):
        for name, cmd in commands.items():
            samples[name].append(timed(cmd, cwd))
    return samples


def median(values: list[float]) -> float:
    return statistics.median(values)
