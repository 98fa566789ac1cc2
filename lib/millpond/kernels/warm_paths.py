"""Run the code paths of a typical stage once in the fork server, before stages fork from it.

Ibis, sqlglot and pyarrow fill caches on first use (compiled rewrite rules, dispatch
tables, dialect generators, type converters). A stage kernel is a fresh fork, so without
this every stage paid those first-use costs again: about 0.1 s for a small gold table.
:func:`exercise` builds, materializes (whole and incrementally, with a contract), profiles
and reads back a small table on a private in-memory database, then closes it, so children
inherit the warm caches and nothing else: no connection, no table, no thread.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from millpond.engines import scratch
from millpond.quality.monitors import profile_table


def exercise() -> None:
    """One small materialization of each kind on an in-memory database; see the module docstring.

    >>> exercise()
    """
    import ibis
    import pyarrow as pa

    from millpond.lineage.compiled import compiled_sql
    from millpond.warehouse.incremental import Incremental
    from millpond.warehouse.materialize import materialize

    con = scratch()  # the default engine in memory, without worker threads: the server forks after this
    try:
        day = dt.datetime(2024, 1, 1)
        rows = ibis.memtable(
            pa.table(
                {
                    "id": [1, 2, 3],
                    "name": [" a ", "b", None],
                    "amount": pa.array([Decimal("1.50"), Decimal("2.00"), None], pa.decimal128(18, 2)),
                    "qty": [1, 2, 3],
                    "at": [day, day, day + dt.timedelta(days=1)],
                    "flag": [True, False, None],
                }
            )
        )
        base = materialize(con, rows, "silver.warm").name
        table = con.table(base.split(".")[1], database="silver")
        keys = table.select("id").distinct()
        expr = (
            table.filter(table.qty > 0)
            .mutate(
                name=table.name.strip().lower(),
                day=table.at.date(),
                net=(table.amount * table.qty).cast("decimal(18, 2)"),
                rank=ibis.row_number().over(group_by="flag", order_by="at"),
                kind=ibis.cases((table.qty > 1, "many"), else_="one"),
            )
            .join(keys, "id")
        )
        totals = expr.group_by("day").agg(net=expr.net.sum(), n=expr.count(), first=expr.at.min())
        contract = {"not_null": ["id"], "primary_key": ["id"]}
        materialize(con, expr, "gold.warm", contract=contract)
        materialize(
            con,
            expr,
            "gold.warm",
            kind="incremental",
            contract=contract,
            incremental=Incremental.of("merge", unique_key="id", watermark="at", lookback="1d"),
        )
        materialize(con, totals, "gold.warm_totals", kind="view")
        compiled_sql(con, totals, "gold.warm_totals")
        profile_table(con.table("warm", database="gold"), "gold.warm")
        totals.to_pyarrow()
        totals.execute()
    finally:
        con.disconnect()
