"""Whether two warehouses (two engines, say) hold the same table: same columns, same types,
the same rows as a multiset.

Types are compared as Ibis types, except that a timestamp's unstated precision equals
microseconds (Spark's timestamps are microseconds and say so nowhere; DuckDB says
``timestamp(6)``). Rows are compared exactly, as Python values: decimals as decimals.

>>> import ibis
>>> a, b = ibis.duckdb.connect(), ibis.duckdb.connect()
>>> _ = a.create_table("t", ibis.memtable({"x": [1, 2, 2]}))
>>> _ = b.create_table("t", ibis.memtable({"x": [2, 1, 2]}))
>>> table_differences(a.table("t"), b.table("t"))
[]
>>> _ = b.create_table("u", ibis.memtable({"x": [2, 1, 1]}))
>>> table_differences(a.table("t"), b.table("u"))
['1 row(s) only on the left, e.g. (2,)', '1 row(s) only on the right, e.g. (1,)']
"""

from __future__ import annotations

from collections import Counter
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import ibis.expr.types as ir


def _type(dtype) -> str:
    text = str(dtype)
    return text.replace("timestamp(6)", "timestamp")


def table_differences(left: ir.Table, right: ir.Table) -> list[str]:
    """What differs between two tables, in words; empty when they are the same."""
    left_types = {c: _type(t) for c, t in left.schema().items()}
    right_types = {c: _type(t) for c, t in right.schema().items()}
    if left_types != right_types:
        changed = sorted(set(left_types.items()) ^ set(right_types.items()))
        return [f"columns differ: {changed}"]
    columns = list(left_types)
    rows_left = Counter(tuple(r[c] for c in columns) for r in left.to_pyarrow().to_pylist())
    rows_right = Counter(tuple(r[c] for c in columns) for r in right.select(columns).to_pyarrow().to_pylist())
    found = []
    for side, extra in (("left", rows_left - rows_right), ("right", rows_right - rows_left)):
        if extra:
            example = min(extra, key=repr)
            found.append(f"{sum(extra.values())} row(s) only on the {side}, e.g. {example}")
    return found
