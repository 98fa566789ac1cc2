"""How long ``build_catalog`` takes for a generated workspace of ``--tables`` tables.

The workspace is specs and a metadata store only (no warehouse, so no sizes): one
pipeline of ``--tables`` stages, each producing one table that declares a description,
owner, tags, a primary key and five described columns; ``--runs`` runs recorded a
build of every table (21 columns) and three check results per table. Prints the best
of ``--repeat`` builds of the catalog, in seconds. With ``benchmarks/lineage_speed.py``
(the lineage of the same number of tables) it gives the issue's catalog + lineage figure.

    .venv/bin/python benchmarks/catalog_speed.py [--tables 200] [--runs 10] [--repeat 3]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import yaml

from millpond.catalog import build_catalog
from millpond.project import project_of
from millpond.store.metadata import Materialization
from millpond.workspace import Workspace


def generate(root: Path, tables: int, runs: int, layer: str = "gold") -> Workspace:
    """Write the pipeline and fill the metadata store (tables ``<layer>.t0`` ... ``<layer>.t<tables-1>``)."""
    (root / "millpond.yml").write_text("name: generated\n")
    (root / "pipelines").mkdir()
    stages = [
        {
            "name": f"s{i}",
            "notebook": "n.ipynb",
            "produces": [f"{layer}.t{i}"],
            "tables": {
                f"{layer}.t{i}": {
                    "description": f"table {i}",
                    "owner": "team",
                    "tags": ["finance"] if i % 2 else ["pii"],
                    "primary_key": ["id"],
                    "columns": {f"c{j}": {"description": f"column {j}", "tags": ["pii"]} for j in range(5)},
                }
            },
        }
        for i in range(tables)
    ]
    (root / "pipelines" / "generated.yml").write_text(yaml.safe_dump({"stages": stages}))
    store = project_of(Workspace(root)).store()
    schema = {"id": "int64", **{f"c{j}": "string" for j in range(20)}}
    for run in range(runs):
        for i in range(tables):
            store.record_materialization(
                Materialization(f"{layer}.t{i}", "table", 100, schema, 0.1, "f", f"r{run}", f"s{i}", 1000.0 + run)
            )
        store.record_checks(
            f"r{run}",
            None,
            [
                {"table": f"{layer}.t{i}", "check": f"k{k}", "severity": "error", "status": "pass", "failing_rows": 0}
                for i in range(tables)
                for k in range(3)
            ],
        )
    return Workspace(root)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tables", type=int, default=200)
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        ws = generate(Path(tmp), args.tables, args.runs)
        times = []
        for _ in range(args.repeat):
            started = time.perf_counter()
            catalog = build_catalog(ws)
            times.append(time.perf_counter() - started)
    print(
        f"{args.tables} tables ({len(catalog.entries)} catalog entries), {args.tables * args.runs:,} builds, "
        f"{args.tables * args.runs * 3:,} check results: build_catalog best of {args.repeat} = {min(times):.3f} s"
    )


if __name__ == "__main__":
    main()
