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

from millpond.engines import engine_for
from millpond.settings.streams import ServingSpec
from millpond.warehouse.sql import ensure_schema, quote, run_in_transaction, split_name

if TYPE_CHECKING:
    from ibis.backends import BaseBackend


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
