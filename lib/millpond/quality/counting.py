"""Count the violating rows of many checks in one query instead of one query each.

A check's cost on a small table is almost all fixed: compiling its count (about 6 ms
here) and one round trip with a result conversion (about 5 ms). :func:`count_rows`
puts the counts of up to :data:`BATCH` expressions in one ``UNION ALL`` query, each
part tagged with its position, so 24 gold checks cost one compile and one round trip
(0.08 s instead of 0.17 s here). Expressions that cannot share a query (tables of different
backends, an expression that does not compile) make it return ``None``, and the caller
counts each expression on its own, which names the one that fails.
"""

from __future__ import annotations

from collections.abc import Sequence

import ibis
import ibis.expr.types as ir

__all__ = ["BATCH", "count_rows"]

BATCH = 64
"""Most expressions counted by one query."""


def count_rows(expressions: Sequence[ir.Table]) -> list[int] | None:
    """The row count of each expression, from one query per :data:`BATCH` of them.

    Returns ``None`` when they cannot be counted together (nothing is partly counted).

    Examples
    --------
    >>> t = ibis.memtable({"id": [1, 2, None, 4]})
    >>> count_rows([t.filter(t.id.isnull()), t.filter(t.id > 1), t.filter(t.id > 9)])
    [1, 2, 0]
    >>> a = ibis.duckdb.connect().create_table("a", {"x": [1]})
    >>> b = ibis.duckdb.connect().create_table("b", {"x": [1, 2]})
    >>> count_rows([a, b]) is None   # two connections: count them one by one
    True
    """
    counts: list[int] = []
    for start in range(0, len(expressions), BATCH):
        chunk = expressions[start : start + BATCH]
        try:
            parts = [
                expr.count().name("n").as_table().mutate(i=ibis.literal(k, type="int64"))
                for k, expr in enumerate(chunk)
            ]
            result = (ibis.union(*parts, distinct=False) if len(parts) > 1 else parts[0]).to_pyarrow()
        except Exception:  # noqa: BLE001 - counted one by one, which reports the failing check
            return None
        found = dict(zip(result["i"].to_pylist(), result["n"].to_pylist(), strict=True))
        if sorted(found) != list(range(len(chunk))):
            return None
        counts += [int(found[k]) for k in range(len(chunk))]
    return counts
