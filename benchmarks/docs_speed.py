"""How long ``millpond docs`` takes to write the site: the reference workspace, and 200 tables.

A. The reference workspace (``--workspace``, already built, e.g. by ``make run``).
B. A generated workspace of ``--tables`` tables: the catalog declarations, builds and
   check results of ``benchmarks/catalog_speed.py`` and, for the same table names, the
   compiled SQL of ``benchmarks/lineage_speed.py`` (joins, aggregates, windows, CTEs).

For each it prints the seconds to gather the site's data (catalog, column lineage,
history) and to write it, as the median of ``--repeat`` runs; the first write also
builds the Vega bundle once per process (printed separately).

    .venv/bin/python benchmarks/docs_speed.py [--tables 200] [--repeat 3] [--workspace PATH]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from catalog_speed import generate
from lineage_speed import generated_records
from timing import median

from millpond.docs.site import write_site
from millpond.docs.site_data import gather_site
from millpond.project import project_of
from millpond.workspace import Workspace


def measure(label: str, ws: Workspace, out: Path, repeat: int) -> None:
    gather, write = [], []
    for _ in range(repeat):
        t0 = time.perf_counter()
        site = gather_site(ws)
        t1 = time.perf_counter()
        write_site(ws, out, site=site)
        write.append(time.perf_counter() - t1)
        gather.append(t1 - t0)
    pages = sum(1 for _ in out.rglob("*.html"))
    print(
        f"{label}: {pages} pages, {len(site.graph['edges']):,} column edges: gather {median(gather):.2f} s"
        f" + write {median(write):.2f} s = {median(gather) + median(write):.2f} s"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tables", type=int, default=200)
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--workspace", type=Path, help="an already built workspace")
    args = parser.parse_args()
    from millpond.docs.site import _vega_bundle

    t0 = time.perf_counter()
    _vega_bundle()
    print(f"Vega bundle, once per process: {time.perf_counter() - t0:.2f} s")
    with tempfile.TemporaryDirectory() as tmp:
        if args.workspace:
            measure("reference workspace", Workspace(args.workspace), Path(tmp) / "reference", args.repeat)
        root = Path(tmp) / "generated"
        root.mkdir()
        ws = generate(root, args.tables, args.runs, layer="gen")
        (root / "n.ipynb").write_text('{"cells": [], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}')
        store = project_of(ws).store()
        for record in generated_records(args.tables).values():
            store.record_table_sql(record)
        measure(f"{args.tables} generated tables", ws, Path(tmp) / "site", args.repeat)


if __name__ == "__main__":
    main()
