"""A conformed date dimension: one row per day, the same calendar for every fact table.

Every fact joins it on ``date_key`` (``yyyymmdd`` as an integer, see :func:`date_key`),
so "revenue by ISO week" or "orders on weekends" mean the same thing in every mart.
The days are the engine's own range of timestamps, not in-memory data (so the table is
built by one statement and its SQL is kept across runs); every column is computed by the
engine, with names (``month_name``, ``day_name``) spelled out in English, independent of
the server's locale.

==================  ======  =========================================================
column              type    meaning
==================  ======  =========================================================
date_key            int32   ``yyyymmdd``, e.g. 20240131
date                date    the day
year                int32   calendar year
quarter             int32   1..4
month               int32   1..12
month_name          string  ``January`` .. ``December``
day                 int32   day of the month, 1..31
day_of_week         int16   ISO: 1 = Monday .. 7 = Sunday
day_name            string  ``Monday`` .. ``Sunday``
day_of_year         int32   1..366
iso_year            int32   the ISO 8601 week-numbering year (2021-01-03 is in 2020)
iso_week            int32   ISO 8601 week, 1..53
is_weekend          bool    Saturday or Sunday
first_day_of_month  date    e.g. 2024-02-01 for 2024-02-29
last_day_of_month   date    e.g. 2024-02-29 for 2024-02-01
==================  ======  =========================================================
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta

import ibis
import ibis.expr.types as ir

from millpond.errors import MillpondError

MONTH_NAMES = (
    "January", "February", "March", "April", "May", "June",
    "July", "August", "September", "October", "November", "December",
)
DAY_NAMES = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")


def date_key(value: ir.DateValue) -> ir.IntegerValue:
    """Return ``yyyymmdd`` of a date as an int32, the key facts join the dimension on.

    Examples
    --------
    >>> import ibis
    >>> from datetime import date
    >>> ibis.duckdb.connect().execute(date_key(ibis.literal(date(2024, 2, 29))))
    20240229
    """
    return (value.year() * 10000 + value.month() * 100 + value.day()).cast("int32")


def _name_of(number: ir.IntegerValue, names: tuple[str, ...]) -> ir.StringValue:
    """``names[number - 1]`` as a CASE expression (no locale involved)."""
    return ibis.cases(*((number == i, name) for i, name in enumerate(names, start=1)))


def date_dimension(start: date, end: date) -> ir.Table:
    """Return one row per day from ``start`` to ``end`` (both included), ordered by date.

    Parameters
    ----------
    start, end
        The first and last day. Cover every date a fact can carry (and some future
        days for plans); a fact date outside the range needs an unknown member
        (:mod:`millpond.model.unknown`).

    Returns
    -------
    ir.Table
        The columns listed in the module docstring.

    Examples
    --------
    >>> import ibis
    >>> from datetime import date
    >>> days = date_dimension(date(2024, 12, 29), date(2024, 12, 30))
    >>> rows = ibis.duckdb.connect().to_pyarrow(
    ...     days.select("date_key", "day_name", "iso_year", "iso_week", "last_day_of_month")
    ... ).to_pylist()
    >>> rows[0]
    {'date_key': 20241229, 'day_name': 'Sunday', 'iso_year': 2024, 'iso_week': 52, 'last_day_of_month': datetime.date(2024, 12, 31)}
    >>> rows[1]["iso_year"], rows[1]["iso_week"]
    (2025, 1)
    """
    if end < start:
        raise MillpondError(f"date_dimension: end {end} is before start {start}; the calendar would be empty")
    midnight = time()
    stamps = ibis.range(ibis.timestamp(datetime.combine(start, midnight)),
                        ibis.timestamp(datetime.combine(end + timedelta(days=1), midnight)), ibis.interval(days=1))
    spine = stamps.unnest().name("day_start").as_table()  # its own select: Spark's EXPLODE cannot sit in a CAST
    day = spine.day_start.cast("date")
    day_of_week = (day.day_of_week.index() + 1).cast("int16")
    month = day.month()
    first_day_of_month = day.truncate("M")
    return spine.select(
        date_key=date_key(day),
        date=day,
        year=day.year(),
        quarter=day.quarter(),
        month=month,
        month_name=_name_of(month, MONTH_NAMES),
        day=day.day(),
        day_of_week=day_of_week,
        day_name=_name_of(day_of_week, DAY_NAMES),
        day_of_year=day.day_of_year(),
        iso_year=day.iso_year(),
        iso_week=day.week_of_year(),
        is_weekend=day_of_week >= 6,
        first_day_of_month=first_day_of_month,
        last_day_of_month=(first_day_of_month + ibis.interval(months=1) - ibis.interval(days=1)).cast("date"),
    ).order_by("date")
