"""Time-series helpers: time buckets, dense series with gaps filled, as-of joins.

Written with portable Ibis operations (truncation, interval arithmetic, window
functions) so DuckDB and PostgreSQL give the same answers. Intervals are written
``"<n><unit>"`` with unit ``s``, ``m``, ``h`` or ``d``: ``"15m"``, ``"1h"``, ``"1d"``.
A bucket width must divide the next unit evenly (``"15m"``, ``"6h"``; not ``"7m"``)
and a day bucket is ``"1d"``, so buckets are aligned on whole hours and days.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping, Sequence
from typing import Any

import ibis
import ibis.expr.types as ir
import pandas as pd

from millpond.errors import MillpondError
from millpond.model._columns import require_columns

_EVERY = re.compile(r"^\s*(\d+)\s*([smhd])\s*$")
_UNIT_NAMES = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}
# The unit a bucket of each unit must divide, and how many of it fit in that one.
_PER_NEXT_UNIT = {"s": 60, "m": 60, "h": 24, "d": 1}


def parse_every(every: str) -> tuple[int, str]:
    """``"15m"`` -> ``(15, "m")``, refusing widths that do not tile an hour or a day.

    Examples
    --------
    >>> parse_every("15m"), parse_every("1d")
    ((15, 'm'), (1, 'd'))
    """
    match = _EVERY.match(every)
    if not match:
        raise MillpondError(f"time series: interval {every!r} is not like '15m', '1h' or '1d'")
    count, unit = int(match[1]), match[2]
    if count == 0 or _PER_NEXT_UNIT[unit] % count:
        raise MillpondError(
            f"time series: interval {every!r} must divide {_PER_NEXT_UNIT[unit]} "
            f"{_UNIT_NAMES[unit]} evenly (e.g. '15m', '6h', '1d')"
        )
    return count, unit


def time_bucket(ts: ir.TimestampValue, every: str) -> ir.TimestampValue:
    """The start of the ``every``-wide bucket that holds each timestamp.

    Examples
    --------
    >>> import ibis
    >>> t = ibis.memtable({"at": ["2024-01-05 10:37:12"]}).cast({"at": "timestamp"})
    >>> ibis.duckdb.connect().execute(time_bucket(t["at"], "15m"))[0]
    Timestamp('2024-01-05 10:30:00')
    """
    count, unit = parse_every(every)
    if unit == "d":
        return ts.truncate("D").cast(ts.type())
    enclosing, part = {
        "s": ("m", ts.second()),
        "m": ("h", ts.minute()),
        "h": ("D", ts.hour()),
    }[unit]
    # Ibis types a truncated timestamp as naive; keep the input's time zone (UTC on both engines).
    return (ts.truncate(enclosing) + ((part // count) * count).as_interval(unit)).cast(ts.type())


def fill_gaps(
    table: ir.Table,
    time_col: str,
    every: str,
    start: Any,
    end: Any,
    by: str | Sequence[str] | None = None,
    fill: Mapping[str, Any] | None = None,
    forward_fill: bool | Sequence[str] = False,
) -> ir.Table:
    """A dense series: one row per bucket in ``[start, end)`` (per group of ``by``).

    ``table`` should hold bucket starts in ``time_col`` (see :func:`time_bucket`) and
    at most one row per bucket and group; rows off the grid or outside the range are
    not in the result. Groups are those present in ``table``.

    Parameters
    ----------
    start, end
        The range, half-open; ``start`` must be a bucket start.
    fill
        Column -> value for the rows of missing buckets (else NULL).
    forward_fill
        ``True`` (all columns) or some columns: a missing bucket takes the value of
        the previous row of its group; missing buckets before the first row take
        ``fill`` or NULL. Applied before ``fill``.

    Examples
    --------
    >>> import ibis
    >>> t = ibis.memtable({"hour": ["2024-01-01 00:00", "2024-01-01 02:00"], "n": [3, 5]})
    >>> t = t.cast({"hour": "timestamp"})
    >>> dense = fill_gaps(t, "hour", "1h", "2024-01-01 00:00", "2024-01-01 04:00", fill={"n": 0})
    >>> ibis.duckdb.connect().execute(dense.order_by("hour"))["n"].tolist()
    [3, 0, 5, 0]
    """
    groups = [] if by is None else [by] if isinstance(by, str) else list(by)
    fill = dict(fill or {})
    values = [c for c in table.columns if c != time_col and c not in groups]
    carried = values if forward_fill is True else list(forward_fill or [])
    require_columns(table, [time_col, *groups, *fill, *carried], "fill_gaps")

    grid = _grid(every, start, end).cast(table[time_col].type()).name(time_col).as_table()
    dense = grid if not groups else table.select(*groups).distinct().cross_join(grid)
    rows = table.mutate(_present=ibis.literal(1))
    result = dense.left_join(rows, [time_col, *groups]).select(
        time_col, *groups, *values, _present=rows._present.fill_null(0)
    )
    if carried:
        run = ibis.cumulative_window(group_by=groups, order_by=time_col)
        result = result.mutate(_run=result._present.sum().over(run))
        since_row = ibis.window(group_by=[*groups, "_run"], order_by=time_col)
        result = result.mutate(**{c: result[c].first().over(since_row) for c in carried})
    if fill:
        gap = result._present == 0
        filled = {c: gap.ifelse(result[c].fill_null(v), result[c]) for c, v in fill.items()}
        result = result.mutate(**filled)
    return result.select(time_col, *groups, *values)


def _grid(every: str, start: Any, end: Any) -> ir.Value:
    """The bucket starts in ``[start, end)`` as an unnested column."""
    count, unit = parse_every(every)
    first, stop = pd.Timestamp(start), pd.Timestamp(end)
    width = pd.Timedelta(**{_UNIT_NAMES[unit]: count})
    if first.floor(width) != first:
        raise MillpondError(f"fill_gaps: start {start!r} is not the start of a {every!r} bucket")
    return ibis.range(
        ibis.timestamp(first.to_pydatetime()),
        ibis.timestamp(stop.to_pydatetime()),
        ibis.interval(**{_UNIT_NAMES[unit]: count}),
    ).unnest()


def asof_join(
    left: ir.Table,
    right: ir.Table,
    on: str,
    by: str | Sequence[str] = (),
    direction: str = "backward",
    tolerance: str | dt.timedelta | None = None,
) -> ir.Table:
    """For each ``left`` row, the latest ``right`` row at or before it (same ``by`` keys).

    Every left row is kept once; with no match (or none within ``tolerance``) the
    right columns are NULL. ``direction="forward"`` takes the earliest right row at
    or after instead. When several right rows share the matching time, the one
    whose other columns sort first (in column order, NULL last) is taken.

    Returns
    -------
    Table
        The left columns, then the right columns except ``by``: ``on`` becomes
        ``<on>_right`` and any other name already in ``left`` gets ``_right`` too.

    Examples
    --------
    >>> import ibis
    >>> trades = ibis.memtable({"t": [2, 5, 9], "qty": [1, 2, 3]})
    >>> quotes = ibis.memtable({"t": [1, 4, 5, 10], "price": [10, 40, 50, 100]})
    >>> joined = asof_join(trades, quotes, on="t")
    >>> ibis.duckdb.connect().execute(joined.order_by("t"))[["t", "t_right", "price"]]
       t  t_right  price
    0  2        1     10
    1  5        5     50
    2  9        5     50
    """
    keys = [by] if isinstance(by, str) else list(by)
    if direction not in ("backward", "forward"):
        raise MillpondError(f"asof_join: direction {direction!r} is not 'backward' or 'forward'")
    require_columns(left, [on, *keys], "asof_join left")
    require_columns(right, [on, *keys], "asof_join right")

    renamed = {f"_asof_by_{i}": right[k] for i, k in enumerate(keys)}
    payload = [c for c in right.columns if c not in keys]
    for column in payload:
        clash = column == on or column in left.columns
        renamed[f"{column}_right" if clash else column] = right[column]
    side = right.select(**renamed)
    matched_on = f"{on}_right"

    rows = left.mutate(_asof_row=ibis.row_number())
    if direction == "backward":
        before = side[matched_on] <= rows[on]
    else:
        before = side[matched_on] >= rows[on]
    conditions = [rows[k] == side[f"_asof_by_{i}"] for i, k in enumerate(keys)] + [before]
    if tolerance is not None:
        window = _interval(tolerance)
        if direction == "backward":
            conditions.append(side[matched_on] >= rows[on] - window)
        else:
            conditions.append(side[matched_on] <= rows[on] + window)
    joined = rows.left_join(side, conditions)

    nearest = ibis.desc(matched_on) if direction == "backward" else ibis.asc(matched_on)
    others = [c for c in renamed if c != matched_on and not c.startswith("_asof_by_")]
    ties = [ibis.asc(c, nulls_first=False) for c in others]
    best_first = ibis.window(group_by="_asof_row", order_by=[nearest, *ties])
    ranked = joined.mutate(_asof_rank=ibis.row_number().over(best_first))
    chosen = ranked.filter(ranked._asof_rank == 0)
    return chosen.select(*left.columns, *[c for c in renamed if not c.startswith("_asof_by_")])


def _interval(tolerance: str | dt.timedelta) -> ir.IntervalScalar:
    if isinstance(tolerance, dt.timedelta):
        return ibis.interval(seconds=int(tolerance.total_seconds()))
    match = _EVERY.match(tolerance)
    if not match:
        raise MillpondError(f"asof_join: tolerance {tolerance!r} is not like '30s', '15m' or '1h'")
    return ibis.interval(**{_UNIT_NAMES[match[2]]: int(match[1])})
