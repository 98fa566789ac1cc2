"""Build small throwaway workspaces of trivial notebooks for runner tests."""

from __future__ import annotations

import textwrap
from pathlib import Path

import duckdb
import nbformat
import yaml


def write_notebook(path: Path, parameters: str, *cells: str) -> Path:
    """A notebook with a ``parameters`` cell and the given code cells."""
    path.parent.mkdir(parents=True, exist_ok=True)
    first = nbformat.v4.new_code_cell(textwrap.dedent(parameters).strip())
    first.metadata["tags"] = ["parameters"]
    nb = nbformat.v4.new_notebook(
        cells=[first, *(nbformat.v4.new_code_cell(textwrap.dedent(c).strip()) for c in cells)]
    )
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, path)
    return path


def make_workspace(root: Path, pipelines: dict[str, dict], workspace: dict | None = None) -> Path:
    """``millpond.yml`` plus ``pipelines/<name>.yml`` files under ``root``."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "millpond.yml").write_text(yaml.safe_dump(workspace or {"name": "test"}))
    (root / "pipelines").mkdir(exist_ok=True)
    for name, spec in pipelines.items():
        (root / "pipelines" / f"{name}.yml").write_text(yaml.safe_dump(spec, sort_keys=False))
    return root


# A stage that materializes ``n`` rows into ``table``.
MAKE_ROWS = (
    "import millpond as mp, ibis\nctx = mp.stage()",
    "ctx.materialize(ibis.memtable({'x': list(range(n))}), table)",
)

# A stage that copies ``source`` into ``table`` (so it depends on it).
COPY_TABLE = (
    "import millpond as mp\nctx = mp.stage()",
    "ctx.materialize(ctx.table(source), table)",
)


def query(ws, sql: str) -> list[tuple]:
    """Rows of ``sql`` on workspace ``ws``'s DuckDB warehouse, opened read-only."""
    con = duckdb.connect(str(ws.warehouse_file()), read_only=True)
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()
