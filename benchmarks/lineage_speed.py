"""How long column lineage takes: the reference workspace, and a generated one of 200 tables.

A. The reference workspace (``pipelines/shop.yml``, built in a temporary copy unless
   ``--workspace`` names one already built): read the recorded SQL and the pipeline
   files, then compute the lineage of every column of every table, and follow every
   gold column to its origins.
B. ``--tables`` (200) generated tables in an in-memory DuckDB, each an Ibis expression
   over one or two earlier ones (a chain with fan-in: table i reads i-1 and i//2),
   cycling through a join, a group-by aggregate, a window function, a CTE (a reused
   subexpression) and a pass-through; each is materialized and its SQL recorded as
   ``ctx.materialize`` records it. Then the same computation over all of them.

Each figure is the median of ``--repeat`` fresh computations (no cache kept between
repeats); it prints seconds.

    .venv/bin/python benchmarks/lineage_speed.py [--tables 200] [--repeat 3] [--workspace PATH] [--skip-reference]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

from timing import median

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))


def lineage_seconds(records, declared_reads=None, root=None) -> tuple[float, int, int]:
    """Seconds to compute every column's direct sources and every column's origins."""
    from millpond.lineage.columns import ColumnRef
    from millpond.lineage.graph import LineageGraph

    t0 = time.perf_counter()
    graph = LineageGraph(records, declared_reads, root=root)
    columns = graph.compute_all()
    origins = sum(len(graph.origins(ColumnRef(t, c))) for t in graph.records for c in graph.columns(t))
    return time.perf_counter() - t0, columns, origins


def reference(workspace: Path | None, repeat: int) -> None:
    from millpond.lineage.declared import pipeline_facts
    from millpond.project import project_of
    from millpond.workspace import Workspace

    if workspace is None:
        from support.reference import build_reference_workspace

        target = Path(tempfile.mkdtemp(prefix="lineage-ref-"))
        t0 = time.perf_counter()
        build_reference_workspace(target, pipelines=("shop",))
        print(f"built the reference workspace in {time.perf_counter() - t0:.0f} s ({target})")
        workspace = target
    ws = Workspace(workspace)
    samples = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        records = project_of(ws).store().table_sqls()
        facts = pipeline_facts(ws)
        seconds, columns, origins = lineage_seconds(records, facts.declared_reads, str(ws.root))
        samples.append(time.perf_counter() - t0)
    print(
        f"reference workspace: {len(records)} tables, {columns} columns ({origins} origin links): "
        f"{median(samples):.3f} s (store + pipelines + lineage; lineage alone {seconds:.3f} s)"
    )


def generated_records(n: int):
    """``n`` tables over each other in an in-memory DuckDB, and their recorded SQL."""
    import ibis

    from millpond.lineage.compiled import compiled_sql

    con = ibis.duckdb.connect()
    con.raw_sql("CREATE SCHEMA gen")
    base = ibis.memtable({"k": [1, 2, 3], "g": ["a", "b", "a"], **{f"v{j}": [1.0, 2.0, 3.0] for j in range(8)}})
    con.create_table("t0", base, database="gen")
    records = {}
    for i in range(1, n):
        left, right = con.table(f"t{i - 1}", database="gen"), con.table(f"t{i // 2}", database="gen")
        values = sorted(c for c in left.columns if c.startswith("v"))
        shape = i % 5
        if shape == 0:  # a join of two earlier tables
            other = right.select(k2=right.k, w=right[values[0]] * 2)
            last = values[-1]
            expr = left.join(other, left.k == other.k2).select("k", "g", *values[:-1], **{last: other.w + left[last]})
        elif shape == 1:  # an aggregate, rejoined to keep the grain
            totals = left.group_by("g").agg(total=left[values[0]].sum())
            expr = left.join(totals, "g").select("k", "g", *values[1:], **{values[0]: totals.total})
        elif shape == 2:  # a window function
            expr = left.mutate(**{values[1]: left[values[1]].sum().over(group_by="g", order_by="k")})
        elif shape == 3:  # a reused subexpression: Ibis writes a CTE
            doubled = left.mutate(**{values[2]: left[values[2]] * 2})
            best = doubled.group_by("g").agg(top=doubled[values[2]].max())
            expr = doubled.join(best, "g").drop("top")
        else:  # a pass-through
            expr = left
        name = f"gen.t{i}"
        records[name] = compiled_sql(con, expr, name)
        con.create_table(f"t{i}", expr, database="gen")
    return records


def generated(n: int, repeat: int) -> None:
    t0 = time.perf_counter()
    records = generated_records(n)
    print(f"generated and built {len(records)} tables in {time.perf_counter() - t0:.1f} s (not counted)")
    samples = []
    for _ in range(repeat):
        seconds, columns, origins = lineage_seconds(records)
        samples.append(seconds)
    print(f"{len(records)} generated tables, {columns} columns ({origins} origin links): {median(samples):.3f} s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tables", type=int, default=200)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--workspace", type=Path, help="an already built workspace (else the reference is built)")
    parser.add_argument("--skip-reference", action="store_true")
    args = parser.parse_args()
    if not args.skip_reference:
        reference(args.workspace, args.repeat)
    generated(args.tables + 1, args.repeat)


if __name__ == "__main__":
    main()
