"""The reference pipelines build the same tables as an earlier commit (issue 20: behaviour kept).

Checks out ``--base`` (default: 64ab7bd, main before the restructuring of issue 20) and this
working tree into two temporary folders, builds each there with its own code (the same
interpreter, the commit's ``lib/`` first on the import path): sample data with seed 42,
then ``pipelines/shop.yml`` and ``pipelines/flights.yml`` on the embedded DuckDB. Then every
table of both warehouses is compared row for row (``EXCEPT ALL`` both ways, in DuckDB),
leaving out only the columns a run stamps (``_loaded_at``, ``_run_id``, ``_quarantined_at``). Prints one
line per table and the build times side by side; exits 1 on any difference.

    .venv/bin/python benchmarks/same_tables.py [--base REF]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
STAMPED = {"_loaded_at", "_run_id", "_quarantined_at"}  # what a run stamps on the rows it loads or holds
BUILD = """
import sys
from millpond.cli import main
root = sys.argv[1]
for argv in (["generate", "--seed", "42"], ["run", "flights", "--plain", "--jobs", "2"],
             ["run", "shop", "--plain", "--jobs", "2"]):
    code = main([*argv, "-C", root])
    if code:
        sys.exit(f"{' '.join(argv)}: exit {code}")
"""


def checkout(ref: str | None, target: Path) -> Path:
    """``ref``'s files (or the working tree's, tracked and new, for ``None``) in ``target``."""
    target.mkdir(parents=True)
    if ref is None:
        files = subprocess.run(
            ["git", "ls-files", "-co", "--exclude-standard"], cwd=REPO, capture_output=True, text=True, check=True
        ).stdout.split()
        subprocess.run(["tar", "-cf", "-", *files], cwd=REPO, check=True, stdout=open(target / ".tar", "wb"))
        subprocess.run(["tar", "-xf", ".tar"], cwd=target, check=True)
        (target / ".tar").unlink()
    else:
        archive = subprocess.run(["git", "archive", ref], cwd=REPO, capture_output=True, check=True).stdout
        subprocess.run(["tar", "-xf", "-"], cwd=target, input=archive, check=True)
    return target


def build(root: Path) -> float:
    env = {**os.environ, "PYTHONPATH": str(root / "lib"), "MILLPOND_KEEP_WARM": "0", "MILLPOND_WORKSPACE": str(root)}
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-c", BUILD, str(root)], env=env, capture_output=True, text=True)
    if done.returncode:
        raise SystemExit(f"build in {root} failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}")
    return time.perf_counter() - started


def compare(base: Path, head: Path) -> list[str]:
    import duckdb

    con = duckdb.connect()
    con.execute(f"ATTACH '{base / 'data/warehouse.duckdb'}' AS base (READ_ONLY)")
    con.execute(f"ATTACH '{head / 'data/warehouse.duckdb'}' AS head (READ_ONLY)")
    listing = (
        "SELECT table_schema, table_name FROM information_schema.tables WHERE table_catalog = ? "
        "AND table_type = 'BASE TABLE' AND table_name NOT LIKE '\\_mp\\_%' ESCAPE '\\'"
    )
    tables = {side: {tuple(r) for r in con.execute(listing, [side]).fetchall()} for side in ("base", "head")}
    problems = []
    for missing in sorted(tables["base"] ^ tables["head"]):
        problems.append(f"{'.'.join(missing)}: only in {'base' if missing in tables['base'] else 'head'}")
    for schema, table in sorted(tables["base"] & tables["head"]):
        columns = {
            side: [
                r[0]
                for r in con.execute(
                    "SELECT column_name FROM information_schema.columns WHERE table_catalog = ? AND table_schema = ? "
                    "AND table_name = ? ORDER BY ordinal_position",
                    [side, schema, table],
                ).fetchall()
            ]
            for side in ("base", "head")
        }
        if columns["base"] != columns["head"]:
            problems.append(f"{schema}.{table}: columns differ: {columns['base']} vs {columns['head']}")
            continue
        kept = ", ".join(f'"{c}"' for c in columns["base"] if c not in STAMPED)
        rows = con.execute(f'SELECT count(*) FROM base."{schema}"."{table}"').fetchone()[0]
        differ = con.execute(
            f'SELECT (SELECT count(*) FROM (SELECT {kept} FROM base."{schema}"."{table}" EXCEPT ALL '
            f'SELECT {kept} FROM head."{schema}"."{table}")), (SELECT count(*) FROM (SELECT {kept} FROM '
            f'head."{schema}"."{table}" EXCEPT ALL SELECT {kept} FROM base."{schema}"."{table}"))'
        ).fetchone()
        verdict = "same" if differ == (0, 0) else f"DIFFERENT ({differ[0]} rows only in base, {differ[1]} only in head)"
        print(f"{schema}.{table}: {rows:,} rows, {len(columns['base'])} columns: {verdict}")
        if differ != (0, 0):
            problems.append(f"{schema}.{table}: {verdict}")
    return problems


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base", default="64ab7bd", help="the commit to compare with")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="millpond-same-") as folder:
        base, head = checkout(args.base, Path(folder) / "base"), checkout(None, Path(folder) / "head")
        seconds = {"base": build(base), "head": build(head)}
        problems = compare(base, head)
    print(
        f"build of flights + shop: base {args.base} {seconds['base']:.1f} s, head {seconds['head']:.1f} s "
        f"(ratio {seconds['head'] / seconds['base']:.2f})"
    )
    if problems:
        print("\n".join(problems))
        raise SystemExit(1)
    print("every table the same")


if __name__ == "__main__":
    main()
