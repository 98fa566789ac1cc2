"""The shop's clickstream as streams: the transforms ``pipelines/clickstream.yml`` names.

Each takes a micro-batch of raw events (an Ibis table, as the log gives them: ``event_type``
text, ``event_ts`` text) and returns it row by row, with one 0/1 column per funnel step, so the
windows can sum them; the batch layer's history runs the same functions
(:func:`millpond.streams.batch.history`). Events of a type the shop does not know
(``click``, ``scroll``...) are left out here, as silver leaves them out.

>>> import ibis
>>> raw = ibis.memtable({"event_type": ["page_view", "Purchase", "hover"], "_mp_seq": [0, 1, 2]})
>>> funnel_events(raw).execute()[["event_type", "is_view", "is_purchase"]].values.tolist()
[['page_view', 1, 0], ['purchase', 0, 1]]
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from shop.domain import EVENT_TYPES

if TYPE_CHECKING:
    import ibis.expr.types as ir

STEPS = {"is_view": "page_view", "is_cart": "add_to_cart", "is_checkout": "checkout", "is_purchase": "purchase"}


def funnel_events(events: ir.Table) -> ir.Table:
    """Known events with a 0/1 column per funnel step (``is_view`` ... ``is_purchase``)."""
    kind = events.event_type.strip().lower()
    known = events.mutate(event_type=kind).filter(kind.isin(list(EVENT_TYPES)))
    return known.mutate(**{name: (known.event_type == step).cast("int64") for name, step in STEPS.items()})
