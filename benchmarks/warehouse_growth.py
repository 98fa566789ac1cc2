"""Warehouse growth under repeated rebuilds, with and without compaction.

Copies the reference workspace to a temporary folder, generates the sample data at
``--scale`` and builds it once with `millpond run shop` (the *fresh build*). Then, in
two copies of that workspace, it rebuilds the warehouse ``--rebuilds`` times:

- by default every table of the warehouse is rebuilt through ``ctx.materialize`` (what
  a stage does: the atomic swap, a version recorded, retention), one process per rebuild,
  from its own rows, so each rebuild writes what `millpond run shop --force` writes
  without the notebooks' start-up (in this process, a new connection per rebuild); ``--change`` drops a random 1% of each table's rows
  at each rebuild so that no two versions are alike (retention then keeps ``retain``
  copies of every table, by design);
- with ``--pipeline`` each rebuild is a real ``millpond run shop --force`` (about a
  minute each at scale 1).

One copy never compacts (``compaction.auto: false``); the other runs the runner's
end-of-run compaction after each rebuild with ``compaction.waste`` = ``--waste`` and
no minimum size (the sample warehouse is far below the default 64 MB). It prints the
file size after the fresh build and after every ``--every`` rebuilds, and the ratios
to the fresh build.

    .venv/bin/python benchmarks/warehouse_growth.py [--scale 1] [--rebuilds 30] [--change] [--pipeline]
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
MILLPOND = str(Path(sys.executable).parent / "millpond")
MB = 1024 * 1024


def _copy_workspace(root: Path) -> None:
    for name in ("millpond.yml", "pipelines", "notebooks"):
        src = REPO / name
        (shutil.copytree if src.is_dir() else shutil.copy2)(src, root / name)


def _settings(root: Path, *, retain: int, auto: bool, waste: float) -> None:
    spec = yaml.safe_load((root / "millpond.yml").read_text())
    spec["versions"] = {"retain": retain}
    spec["compaction"] = {"auto": auto, "waste": waste, "min_size_mb": 0}
    (root / "millpond.yml").write_text(yaml.safe_dump(spec, sort_keys=False))


def _file_size(root: Path) -> int:
    db = root / "data/warehouse.duckdb"
    wal = Path(f"{db}.wal")
    return db.stat().st_size + (wal.stat().st_size if wal.exists() else 0)


def _rebuild_all(root: Path, change: bool) -> None:
    """Rebuild every table through ``ctx.materialize``, on a fresh connection (closed after)."""
    import ibis

    from millpond.stage_api.context import StageContext
    from millpond.workspace import Workspace

    ctx = StageContext(Workspace(root))
    ctx.pipeline = "shop"  # its tables' options (retain, publish) come from pipelines/shop.yml, as in a run
    try:
        names = ctx.con.con.execute(
            "SELECT schema_name || '.' || table_name FROM duckdb_tables() WHERE NOT starts_with(table_name, '_mp_')"
        ).fetchall()
        for (name,) in sorted(names):
            table = ctx.table(name)
            ctx.materialize(table.filter(ibis.random() > 0.01) if change else table, name)
    finally:
        ctx.close()


def _rebuild(root: Path, *, pipeline: bool, change: bool) -> None:
    if not pipeline:
        _rebuild_all(root, change)
        return
    command = [MILLPOND, "run", "shop", "--force", "--plain", "-j", "2"]
    done = subprocess.run(command, cwd=root, capture_output=True, text=True)
    if done.returncode not in (0, 1):  # 1: a stage failed; the warehouse was still rebuilt
        sys.exit(f"rebuild failed in {root}:\n{done.stdout[-2000:]}\n{done.stderr[-2000:]}")


def _compact_like_the_runner(root: Path) -> str | None:
    from millpond.warehouse.compact import compact_after_run
    from millpond.workspace import Workspace

    return compact_after_run(Workspace(root))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=float, default=1.0)
    parser.add_argument("--rebuilds", type=int, default=30)
    parser.add_argument("--every", type=int, default=5, help="print sizes every N rebuilds")
    parser.add_argument("--retain", type=int, default=3, help="versions kept per table (millpond.yml versions.retain)")
    parser.add_argument("--waste", type=float, default=0.3, help="compaction.waste threshold")
    parser.add_argument("--change", action="store_true", help="make every rebuild differ (drop a random 1%% of rows)")
    parser.add_argument("--pipeline", action="store_true", help="rebuild with real `millpond run shop --force` runs")
    parser.add_argument("--keep", action="store_true", help="keep the temporary workspaces")
    args = parser.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="millpond-growth-"))
    fresh = tmp / "fresh"
    fresh.mkdir()
    _copy_workspace(fresh)
    _settings(fresh, retain=args.retain, auto=False, waste=args.waste)
    t0 = time.perf_counter()
    subprocess.run([MILLPOND, "generate", "--scale", str(args.scale)], cwd=fresh, check=True, capture_output=True)
    built = subprocess.run([MILLPOND, "run", "shop", "--plain", "-j", "2"], cwd=fresh, capture_output=True, text=True)
    if built.returncode != 0:
        print(f"warning: the fresh build did not fully succeed (exit {built.returncode}); measuring what it built")
    base = _file_size(fresh)
    print(f"fresh build: {base / MB:.1f} MB (scale {args.scale:g}, {time.perf_counter() - t0:.0f} s)")

    series = {}
    for label, auto in (("without compaction", False), ("with compaction", True)):
        root = tmp / label.replace(" ", "_")
        shutil.copytree(fresh, root, symlinks=True)  # the lake swaps tables by symlink
        _settings(root, retain=args.retain, auto=auto, waste=args.waste)
        sizes, compactions, t1 = [], 0, time.perf_counter()
        for i in range(1, args.rebuilds + 1):
            _rebuild(root, pipeline=args.pipeline, change=args.change)
            if auto and not args.pipeline and _compact_like_the_runner(root):  # a real run compacts by itself
                compactions += 1
            sizes.append(_file_size(root))
            if i % args.every == 0 or i == args.rebuilds:
                print(f"  {label}: after {i:>3} rebuilds {sizes[-1] / MB:7.1f} MB ({sizes[-1] / base:.2f} x fresh)")
        series[label] = (sizes, compactions, time.perf_counter() - t1)

    how = "pipeline runs" if args.pipeline else ("changing rebuilds" if args.change else "identical rebuilds")
    print(f"\n{args.rebuilds} {how}, retain {args.retain}, compaction waste threshold {args.waste:g}:")
    for label, (sizes, compactions, seconds) in series.items():
        extra = f", {compactions} compactions" if label == "with compaction" and not args.pipeline else ""
        print(
            f"  {label:<20} {sizes[-1] / MB:7.1f} MB = {sizes[-1] / base:5.2f} x fresh build "
            f"(peak {max(sizes) / base:.2f} x{extra}; {seconds:.0f} s)"
        )
    if args.keep:
        print(f"workspaces kept in {tmp}")
    else:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
