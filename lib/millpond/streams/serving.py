"""The Lambda serving view of a stream: the batch layer's windows, then the speed layer's.

A stream may declare ``serving: {view: gold.clicks_serving, batch: gold.clicks_history}``. The
batch table holds the same windows rebuilt by a batch stage from history
(:func:`millpond.streams.batch.windowed` with ``complete_through``: complete windows only). The
view takes the batch table's windows up to its latest ``window_end`` (the boundary) and the
stream's windows, closed or open, that end after it: every window comes from exactly one
layer, so nothing is counted twice at the boundary and nothing is missing, however far the
stream's history reaches back. A ``layer`` column says which. The view reads the boundary when
it is queried, so a new batch build moves it at once.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import ibis

from millpond.engines import engine_for
from millpond.settings.streams import ServingSpec
from millpond.warehouse.sql import ensure_schema, quote, run_in_transaction, split_name

if TYPE_CHECKING:
    import ibis.expr.types as ir
    from ibis.backends import BaseBackend


def served(batch: ir.Table, speed: ir.Table) -> ir.Table:
    """The serving view's rows as an Ibis expression: ``batch``'s windows up to its latest
    ``window_end``, ``speed``'s after it, the columns they share and ``layer``. A stage reads
    through it what the view shows, also before the view exists (the batch layer still staged
    in its run)::

        funnel = served(ctx.table("gold.clickstream_funnel_history"), ctx.table("gold.clickstream_funnel_live"))

    >>> import datetime as dt
    >>> hour = lambda h: dt.datetime(2024, 1, 1, h)
    >>> batch = ibis.memtable({"window_start": [hour(0), hour(1)], "window_end": [hour(1), hour(2)], "n": [5, 6]})
    >>> speed = ibis.memtable({"window_start": [hour(1), hour(2)], "window_end": [hour(2), hour(3)], "n": [60, 7],
    ...                        "final": [True, False]})
    >>> served(batch, speed).order_by("window_start").execute()[["n", "layer"]].values.tolist()
    [[5, 'batch'], [6, 'batch'], [7, 'speed']]
    """
    columns = [c for c in batch.columns if c in speed.columns]
    boundary = batch.window_end.max()
    old = batch.filter(batch.window_end <= boundary).select(*columns, layer=ibis.literal("batch"))
    new = speed.filter(boundary.isnull() | (speed.window_end > boundary)).select(*columns, layer=ibis.literal("speed"))
    return old.union(new)


def serving_view(con: BaseBackend, serving: ServingSpec, live: str, columns: list[str]) -> bool:
    """Create (or replace) the serving view once the batch table and the stream's live view exist;
    whether it exists now."""
    engine = engine_for(con)
    if not engine.existing_kind(*split_name(serving.batch)) or not engine.existing_kind(*split_name(live)):
        return False
    listed = ", ".join(quote(con, c) for c in columns)
    batch, speed = quote(con, *split_name(serving.batch)), quote(con, *split_name(live))
    schema, name = split_name(serving.view)
    ensure_schema(con, schema)
    boundary = f"(SELECT max(window_end) FROM {batch})"
    select = (
        f"SELECT {listed}, 'batch' AS layer FROM {batch} WHERE window_end <= {boundary} "
        f"UNION ALL SELECT {listed}, 'speed' AS layer FROM {speed} "
        f"WHERE {boundary} IS NULL OR window_end > {boundary}"
    )
    view = quote(con, schema, name)
    run_in_transaction(con, [engine.drop_statement("view", schema, name), f"CREATE VIEW {view} AS {select}"])
    return True
