"""Bronze: the raw shop files as they are, plus where and when they were loaded.

Each shop source is a list of files (:func:`shop.raw_files.source_paths`); the framework
reads them (:mod:`millpond.warehouse.raw_files`): CSV as text with malformed rows kept,
Parquet as typed, the events' JSON lines with the fixed :data:`~shop.raw_files.EVENTS_SCHEMA`,
each row stamped with ``_source_file`` and ``_loaded_at``.

>>> import tempfile, ibis
>>> from shop.generate import generate
>>> root = Path(tempfile.mkdtemp())
>>> _ = generate(root / "raw", seed=1, scale=0.01, days=2)
>>> con = ibis.duckdb.connect()
>>> orders = load_source(con, root / "raw", "orders", root=root, loaded_at=datetime(2024, 2, 1))
>>> str(orders.schema()["order_ts"]), orders.columns[-2:]
('string', ('_source_file', '_loaded_at'))
>>> con.to_pyarrow(orders.select("_source_file").distinct())["_source_file"].to_pylist()
['raw/orders.csv']
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Literal

import ibis.expr.types as ir

from millpond.warehouse.raw_files import load_files
from shop.raw_files import CSV_COLUMNS, EVENTS_SCHEMA, source_paths


def load_source(
    con,
    raw_dir: Path,
    source: str,
    *,
    root: Path,
    loaded_at: datetime,
    reader: Literal["native", "arrow"] | None = None,
) -> ir.Table:
    """Return the bronze table of one shop source: every file of it, with load metadata.

    ``source`` is one of :data:`~shop.raw_files.SOURCES`, ``raw_dir`` the folder the generator
    wrote, ``root`` the workspace root; the rest as :func:`millpond.warehouse.raw_files.load_files`.
    """
    return load_files(
        con,
        source_paths(raw_dir, source),
        root=root,
        loaded_at=loaded_at,
        reader=reader,
        expected=CSV_COLUMNS.get(source),
        json_schema=EVENTS_SCHEMA,
    )
