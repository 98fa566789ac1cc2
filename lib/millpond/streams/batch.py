"""A stream's windows over a whole table, in Ibis: the batch twin of the stream's logic.

:func:`windowed` applies a declared stream's transform, windows and aggregates to any Ibis
table of its events (a bronze table, history, a day's files), as one query on the warehouse:
what the stream commits for events that are not late. A batch stage uses it to rebuild history
with the same logic (the batch layer of a Lambda design, :mod:`millpond.streams.serving`), and
the tests check it against the stream. Windows are those of the stream (epoch-aligned, whole
seconds); there is no watermark in a batch: every event counts.

>>> import ibis
>>> from millpond.settings.streams import StreamSpec
>>> spec = StreamSpec.model_validate({"source": {"kind": "files", "path": "e/*.jsonl"}, "time": "ts", "keys": ["k"],
...     "window": {"type": "tumbling", "size": "1m"}, "aggregates": {"n": "count", "total": "sum(x)"}, "sink": "gold.w"})
>>> events = ibis.memtable({"k": ["a", "a", "b"], "x": [1, 2, 4],
...                          "ts": ["2024-01-01 10:00:59", "2024-01-01 10:01:00", "2024-01-01 10:00:00"]})
>>> windowed(events.mutate(ts=events.ts.cast("timestamp")), spec).order_by(["k", "window_start"]).execute()[["k", "n", "total"]].values.tolist()
[['a', 1, 1], ['a', 1, 2], ['b', 1, 4]]
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import ibis

from millpond.errors import MillpondError
from millpond.pipeline.streams import declared_stream
from millpond.settings.streams import MICROS, StreamSpec
from millpond.streams.processor import load_transform

if TYPE_CHECKING:
    import ibis.expr.types as ir

    from millpond.workspace import Workspace


def history(workspace: Workspace, stream: str, events: ir.Table, *, complete_through=None) -> ir.Table:
    """The declared stream ``stream``'s windows over ``events`` (its transform, windows and
    aggregates, found in ``pipelines/``): :func:`windowed` for a batch stage, e.g.::

        history(ctx.workspace, "clickstream_funnel", ctx.table("bronze.clickstream_events"),
                complete_through="2024-01-16")
    """
    spec, _ = declared_stream(workspace, stream)
    transform = load_transform(workspace, spec.transform) if spec.transform else None
    return windowed(events, spec, transform, complete_through=complete_through)


def windowed(events: ir.Table, spec: StreamSpec, transform=None, *, complete_through=None) -> ir.Table:
    """Keys, ``window_start``, ``window_end`` and the aggregates of ``spec`` over ``events``.

    ``complete_through`` (a time): only the events before it count, and only the windows that
    end by it are kept, the ones no later event can change: what a serving view
    (:mod:`millpond.streams.serving`) takes from the batch layer, up to the latest
    ``window_end`` here.
    """
    if transform is not None:
        events = transform(events)
    time = events[spec.time]
    if not time.type().is_timestamp():
        events = events.mutate(**{spec.time: time.cast("timestamp")})
    if complete_through is not None:
        cut = ibis.literal(complete_through).cast("timestamp")
        events = events.filter(events[spec.time] < cut)
        return _windows(events, spec).filter(lambda t: t.window_end <= cut)
    return _windows(events, spec)


def _windows(events: ir.Table, spec: StreamSpec) -> ir.Table:
    window = spec.window
    for name, micros in (("size", window.size_us), ("slide", window.slide_us), ("gap", window.gap_us)):
        if micros % MICROS:
            raise MillpondError(f"window {name} of {micros / MICROS} s: a batch rebuild takes whole seconds")
    if window.type == "session":
        return _sessions(events, spec)
    seconds = events[spec.time].epoch_seconds().floor()
    size, slide = window.size_us // MICROS, window.slide_us // MICROS
    starts = (seconds / slide).floor() * slide
    if size == slide:
        placed = events.mutate(_start=starts)
    else:
        hops = ibis.memtable({"_hop": list(range(size // slide))})
        placed = events.mutate(_base=starts).cross_join(hops)
        placed = placed.mutate(_start=placed._base - placed._hop * slide)
    grouped = placed.group_by([*spec.keys, "_start"]).aggregate(**_aggregates(placed, spec))
    return grouped.select(
        *spec.keys,
        window_start=grouped._start.cast("int64").as_timestamp("s"),
        window_end=(grouped._start + size).cast("int64").as_timestamp("s"),
        **{name: grouped[name] for name in spec.aggregates},
    )


def _aggregates(table: ir.Table, spec: StreamSpec) -> dict:
    out = {}
    for name, aggregate in spec.parsed_aggregates().items():
        if aggregate.column is None:
            out[name] = table.count()
        else:
            column = table[aggregate.column]
            out[name] = getattr(column, aggregate.function)()
    return out


def _sessions(events: ir.Table, spec: StreamSpec) -> ir.Table:
    """A key's events closer than the gap, one session each (window functions)."""
    gap = spec.window.gap_us // MICROS
    time = events[spec.time]
    over = ibis.window(group_by=spec.keys or None, order_by=[time])
    marked = events.mutate(_previous=time.lag().over(over))
    apart = marked[spec.time].delta(marked._previous, unit="microsecond") >= gap * MICROS
    marked = marked.mutate(_new=(marked._previous.isnull() | apart).cast("int64"))
    running = ibis.window(group_by=spec.keys or None, order_by=[marked[spec.time]], preceding=None, following=0)
    marked = marked.mutate(_session=marked._new.sum().over(running))
    grouped = marked.group_by([*spec.keys, "_session"]).aggregate(
        window_start=marked[spec.time].min(), _last=marked[spec.time].max(), **_aggregates(marked, spec)
    )
    return grouped.select(
        *spec.keys,
        "window_start",
        window_end=grouped._last + ibis.interval(seconds=gap),
        **{name: grouped[name] for name in spec.aggregates},
    )
