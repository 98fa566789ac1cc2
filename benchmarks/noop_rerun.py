"""Wall time of a no-change rerun of pipelines/shop.yml, as a whole process.

Copies the reference workspace to a temporary folder, generates the sample data,
builds it once, then times, alternating (A B C A B C ...):

A. `millpond run shop` when nothing changed (every stage skipped);
B. `millpond validate shop` (load + validate the spec and inspect the notebooks);
C. `millpond --help` (the floor: Python start-up and the CLI's imports).

    .venv/bin/python benchmarks/noop_rerun.py [--repeat 5]
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
MILLPOND = str(Path(sys.executable).parent / "millpond")


def timed(cmd: list[str], cwd: Path) -> float:
    t0 = time.perf_counter()
    subprocess.run(cmd, cwd=cwd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - t0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="millpond-noop-"))
    for name in ("millpond.yml", "pipelines", "notebooks"):
        src = REPO / name
        (shutil.copytree if src.is_dir() else shutil.copy2)(src, root / name)
    subprocess.run([MILLPOND, "generate"], cwd=root, check=True, stdout=subprocess.DEVNULL)
    build = timed([MILLPOND, "run", "shop", "--jobs", "2", "--plain"], root)
    commands = {
        "no-change rerun": [MILLPOND, "run", "shop", "--plain"],
        "validate": [MILLPOND, "validate", "shop"],
        "--help": [MILLPOND, "--help"],
    }
    timed(commands["no-change rerun"], root)  # warm-up
    samples: dict[str, list[float]] = {name: [] for name in commands}
    for _ in range(args.repeat):
        for name, cmd in commands.items():
            samples[name].append(timed(cmd, root))
    print(f"pipelines/shop.yml, 20 stages; first build {build:.1f} s (--jobs 2)")
    print(f"median of {args.repeat} whole-process runs each, alternating:")
    for name, values in samples.items():
        print(f"  {name:<18} {statistics.median(values):6.2f} s   (min {min(values):.2f}, max {max(values):.2f})")
    noop, help_ = statistics.median(samples["no-change rerun"]), statistics.median(samples["--help"])
    print(f"  no-change rerun / --help: {noop / help_:.1f}x")
    shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
