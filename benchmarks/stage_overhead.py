"""Per-stage overhead of `millpond run` against Papermill on the same trivial notebooks.

Builds a throwaway workspace with a chain of N trivial stage notebooks and runs, side
by side and alternating (A B C A B C ...):

A. `millpond run bench --force` (the whole pipeline, one process);
B. `papermill IN OUT` once per notebook, one after another (Papermill's command line);
C. one Python process calling `papermill.execute_notebook` for each notebook.

Prints medians per notebook and the ratio of millpond to each baseline.

    .venv/bin/python benchmarks/stage_overhead.py [--stages 10] [--repeat 3]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

from timing import alternate, median

import nbformat
import yaml

BIN = Path(sys.executable).parent


def make_workspace(root: Path, stages: int) -> list[Path]:
    notebooks = []
    for i in range(stages):
        params = nbformat.v4.new_code_cell(f"step = {i}")
        params.metadata["tags"] = ["parameters"]
        body = nbformat.v4.new_code_cell("result = step * 2\nresult")
        nb = nbformat.v4.new_notebook(cells=[params, body])
        nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
        path = root / "notebooks" / f"{i:02d}_step.ipynb"
        path.parent.mkdir(parents=True, exist_ok=True)
        nbformat.write(nb, path)
        notebooks.append(path)
    spec = {"stages": [
        {"name": f"s{i:02d}", "notebook": f"notebooks/{i:02d}_step.ipynb", **({"needs": [f"s{i - 1:02d}"]} if i else {})}
        for i in range(stages)
    ]}
    (root / "pipelines").mkdir(exist_ok=True)
    (root / "pipelines" / "bench.yml").write_text(yaml.safe_dump(spec, sort_keys=False))
    (root / "millpond.yml").write_text("name: bench\n")
    return notebooks




def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--stages", type=int, default=10)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="millpond-bench-"))
    notebooks = make_workspace(root, args.stages)
    out = root / "out"
    out.mkdir()
    papermill_cli = " && ".join(f"{BIN}/papermill -k python3 --no-progress-bar {nb} {out / nb.name}" for nb in notebooks)
    in_process = (
        "import papermill, sys, logging; logging.disable(logging.WARNING)\n"
        f"for nb in {[str(n) for n in notebooks]!r}:\n"
        f"    papermill.execute_notebook(nb, {str(out)!r} + '/' + nb.split('/')[-1], kernel_name='python3', progress_bar=False)\n"
    )
    commands = {
        "millpond run": [str(BIN / "millpond"), "run", "bench", "--force", "--plain"],
        "papermill CLI": ["bash", "-c", papermill_cli],
        "papermill in-process": [sys.executable, "-c", in_process],
    }
    samples = alternate(commands, root, args.repeat)
    medians = {name: median(values) for name, values in samples.items()}
    n = args.stages
    print(f"{n} trivial stage notebooks, median of {args.repeat} runs each, alternating")
    print(f"{'':<22}{'total s':>9}{'per notebook s':>16}")
    for name, total in medians.items():
        print(f"{name:<22}{total:>9.2f}{total / n:>16.3f}")
    base = medians["millpond run"]
    print(f"ratio millpond / papermill CLI        {base / medians['papermill CLI']:.2f}")
    print(f"ratio millpond / papermill in-process {base / medians['papermill in-process']:.2f}")
    print(f"millpond per-stage overhead over in-process papermill: "
          f"{(base - medians['papermill in-process']) / n:+.3f} s")


if __name__ == "__main__":
    main()
