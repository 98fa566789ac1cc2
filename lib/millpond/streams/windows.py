"""Windows on event time for one micro-batch, on Arrow and NumPy (the warehouse is not here).

Times are whole microseconds since the epoch (``int64``). The semantics, which the tests
check against an event-at-a-time oracle, are those of the events in log order, so they do not
depend on where the micro-batches begin and end:

- **Watermark.** Before event *i* it is ``max(time of events 0..i-1) - delay`` (the events of
  earlier batches included); it never goes back.
- **Tumbling and hopping windows** ``[start, start + size)`` are aligned to the epoch (a hopping
  window starts on every ``slide``). An event is late *for a window* when that window has
  closed before it: ``end + allowed_lateness <= watermark``. An event exactly at the watermark
  is never late (its window ends after it). A window closes, and is emitted, once the
  watermark after a batch reaches ``end + allowed_lateness``.
- **Session windows**: a key's events closer than ``gap`` form one session
  ``[first, last + gap)``. An event is late when ``time + allowed_lateness < watermark``; a
  session closes once ``last + gap + allowed_lateness <= watermark``. These two rules make a
  closed session unreachable for any event that is not late, so merging sessions at the end
  of a batch gives the sessions of the log.

>>> import numpy as np
>>> t = np.array([10, 30, 5, 70, 30], dtype=np.int64)
>>> watermarks(t, None, 0).tolist()[1:]
[10, 30, 30, 70]
>>> index, start, late = window_rows(t, watermarks(t, None, 0), size=20, slide=20, lateness=0)
>>> start.tolist(), late.tolist()
([0, 20, 0, 60, 20], [False, False, True, False, True])
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from millpond.errors import MillpondError
from millpond.settings.streams import Aggregate

NO_TIME = int(np.iinfo(np.int64).min)
"""No event time: a row without one, or a watermark before any event."""
MERGE = {"count": "sum", "sum": "sum", "min": "min", "max": "max"}
"""How partial aggregates of one window combine across micro-batches."""


def event_times(column: pa.ChunkedArray | pa.Array, name: str) -> np.ndarray:
    """The column's times as microseconds (UTC), :data:`NO_TIME` where there is none or it does
    not parse (ISO 8601 text, with or without an offset, or a timestamp)."""
    if pa.types.is_timestamp(column.type):
        times = column.cast(pa.timestamp("us", column.type.tz)) if column.type.unit != "us" else column
    elif pa.types.is_string(column.type) or pa.types.is_large_string(column.type):
        times = _parsed(column)
    elif pa.types.is_date(column.type):
        times = column.cast(pa.timestamp("us"))
    else:
        raise MillpondError(f"time column {name} is {column.type}; it must be a timestamp or ISO 8601 text")
    values = times.cast(pa.int64())
    return values.fill_null(NO_TIME).to_numpy(zero_copy_only=False).astype(np.int64, copy=False)


def _parsed(column: pa.ChunkedArray | pa.Array) -> pa.ChunkedArray | pa.Array:
    for kind in (pa.timestamp("us"), pa.timestamp("us", "UTC")):
        try:
            return column.cast(kind)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            continue
    import pandas as pd  # HEAVY: only for text Arrow cannot cast (mixed offsets, odd spellings)

    parsed = pd.to_datetime(pd.Series(column.to_pylist(), dtype=object), errors="coerce", utc=True, format="ISO8601")
    return pa.array(parsed.dt.tz_localize(None), pa.timestamp("us"), from_pandas=True)


def watermarks(times: np.ndarray, carry: int | None, delay: int) -> np.ndarray:
    """The watermark before each event (module docstring); ``carry`` is the latest event time of
    the batches before (``None``: none yet). :data:`NO_TIME` until an event is seen."""
    before = np.empty_like(times)
    if len(times):
        before[0] = NO_TIME if carry is None else carry
        np.maximum.accumulate(times[:-1], out=before[1:])
        if carry is not None:
            np.maximum(before, carry, out=before)
    return np.where(before == NO_TIME, NO_TIME, before - delay)


def window_rows(
    times: np.ndarray, marks: np.ndarray, *, size: int, slide: int, lateness: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(event index, window start, late)`` for each window each event falls in (one for a
    tumbling window, ``size / slide`` for a hopping one); ``late``: that window had closed."""
    count = size // slide
    base = (times // slide) * slide
    index = np.tile(np.arange(len(times), dtype=np.int64), count)
    start = np.concatenate([base - j * slide for j in range(count)]) if count > 1 else base
    mark = np.tile(marks, count) if count > 1 else marks
    late = (mark != NO_TIME) & (start + size + lateness <= mark)
    return index, start, late


def _inputs(events: pa.Table, rows: np.ndarray | None, aggregates: dict[str, Aggregate]) -> dict[str, pa.Array]:
    """The columns the aggregates read, taken at ``rows`` (all rows when ``None``)."""
    out: dict[str, pa.Array] = {}
    for aggregate in aggregates.values():
        if aggregate.column and aggregate.column not in out:
            if aggregate.column not in events.column_names:
                raise MillpondError(f"aggregate column {aggregate.column} is not among the events' columns")
            column = events[aggregate.column]
            out[aggregate.column] = column.take(pa.array(rows)) if rows is not None else column
    return out


def partials(
    events: pa.Table, rows: np.ndarray, start: np.ndarray, keys: list[str], aggregates: dict[str, Aggregate]
) -> pa.Table:
    """Each window's partial aggregates over the event ``rows`` (with window ``start``): the keys,
    ``window_start`` and one column per aggregate."""
    taken = pa.array(rows)
    columns = {key: events[key].take(taken) for key in keys}
    columns["window_start"] = pa.array(start, pa.int64())
    columns.update({f"_in_{name}": value for name, value in _inputs(events, rows, aggregates).items()})
    table = pa.table(columns)
    specs, names = [], []
    for name, aggregate in aggregates.items():
        if aggregate.function == "count" and aggregate.column is None:
            specs.append(([], "count_all"))
        else:
            specs.append((f"_in_{aggregate.column}", aggregate.function))
        names.append(name)
    grouped = table.group_by([*keys, "window_start"], use_threads=True).aggregate(specs)
    return _renamed(grouped, [*keys, "window_start"], names, specs)


def _renamed(grouped: pa.Table, keys: list[str], names: list[str], specs: list[tuple]) -> pa.Table:
    """Arrow names an aggregate ``column_function`` (``count_all``): keys first, then ``names``."""
    fixed = {name: grouped[name] for name in keys}
    for name, (column, function) in zip(names, specs, strict=True):
        fixed[name] = grouped[f"{column}_{function}" if column else function]
    return pa.table(fixed)


def merge(tables: list[pa.Table], group: list[str], aggregates: dict[str, Aggregate]) -> pa.Table:
    """Partial aggregates of the same windows (rows with equal ``group`` columns) combined."""
    tables = [t for t in tables if t.num_rows]
    if not tables:
        return tables_empty(group, aggregates)
    table = pa.concat_tables(tables, promote_options="permissive") if len(tables) > 1 else tables[0]
    specs = [(name, MERGE[aggregate.function]) for name, aggregate in aggregates.items()]
    grouped = table.group_by(group, use_threads=True).aggregate(specs)
    return _renamed(grouped, group, list(aggregates), specs)


def tables_empty(group: list[str], aggregates: dict[str, Aggregate]) -> pa.Table:
    """A table of no windows (its types unknown: the first batch's decide them)."""
    return pa.table({name: pa.array([], pa.null()) for name in [*group, *aggregates]})


def sessions(
    state: pa.Table | None,
    events: pa.Table,
    rows: np.ndarray,
    times: np.ndarray,
    keys: list[str],
    gap: int,
    aggregates: dict[str, Aggregate],
) -> pa.Table:
    """The open sessions of ``state`` merged with the event ``rows`` (their ``times``): keys,
    ``window_start`` (first event), ``_last`` (last event) and the aggregates."""

    taken = pa.array(rows)
    single = {key: events[key].take(taken) for key in keys}
    single["window_start"] = pa.array(times[rows], pa.int64())
    single["_last"] = single["window_start"]
    inputs = _inputs(events, rows, aggregates)
    for name, aggregate in aggregates.items():
        if aggregate.function == "count":
            valid = inputs[aggregate.column].is_valid() if aggregate.column else pa.array(np.ones(len(rows), bool))
            single[name] = pc.cast(valid, pa.int64())
        else:
            single[name] = inputs[aggregate.column]  # type: ignore[index]
    parts = [pa.table(single)]
    if state is not None and state.num_rows:
        parts.insert(0, state.select(list(single)))
    frame = pa.concat_tables(parts, promote_options="permissive").to_pandas()
    frame = frame.sort_values([*keys, "window_start", "_last"], kind="stable", na_position="first")
    by = frame.groupby(keys, dropna=False, sort=False) if keys else None
    reach = by["_last"].cummax() if by is not None else frame["_last"].cummax()
    before = reach.groupby([frame[k] for k in keys], dropna=False, sort=False).shift() if keys else reach.shift()
    starts = before.isna() | (frame["window_start"] - before >= gap)
    frame["_session"] = starts.cumsum()
    how = {"window_start": "min", "_last": "max", **{k: "first" for k in keys}}
    how.update({name: MERGE[aggregate.function] for name, aggregate in aggregates.items()})
    merged = frame.groupby("_session", sort=False).agg(how)
    table = pa.Table.from_pandas(merged[[*keys, "window_start", "_last", *aggregates]], preserve_index=False)
    return table.cast(
        pa.schema([f.with_type(pa.int64()) if f.name in ("window_start", "_last") else f for f in table.schema])
    )
