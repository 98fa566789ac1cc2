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
import subprocess
import sys
import tempfile
from pathlib import Path

from timing import alternate, median, timed

REPO = Path(__file__).resolve().parents[1]
MILLPOND = str(Path(sys.executable).parent / "millpond")


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
    samples = alternate(commands, root, args.repeat)
    print(f"pipelines/shop.yml, 20 stages; first build {build:.1f} s (--jobs 2)")
    print(f"median of {args.repeat} whole-process runs each, alternating:")
    for name, values in samples.items():
        print(f"  {name:<18} {median(values):6.2f} s   (min {min(values):.2f}, max {max(values):.2f})")
    noop, help_ = median(samples["no-change rerun"]), median(samples["--help"])
    print(f"  no-change rerun / --help: {noop / help_:.1f}x")
    shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
