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

from collections.abc import Sequence
from datetime import date, datetime, time, timedelta

import ibis
import ibis.expr.types as ir

from millpond.errors import MillpondError

MONTH_NAMES = (
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
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
    """``names[number - 1]``, from an array literal (no locale involved): one operation
    where a CASE takes one comparison per name, which Ibis builds ten times slower."""
    return ibis.literal(names)[number - 1]


class _Day(dict):
    """The dimension's columns of one day (``day["month"]``), each built on first use:
    Ibis takes about 0.1 ms an operation, so a selection should not build them all."""

    def __missing__(self, name: str) -> ir.Value:
        value = self[name] = _BUILDERS[name](self)
        return value


_BUILDERS = {
    "date_key": lambda day: date_key(day["date"]),
    "year": lambda day: day["date"].year(),
    "quarter": lambda day: day["date"].quarter(),
    "month": lambda day: day["date"].month(),
    "month_name": lambda day: _name_of(day["month"], MONTH_NAMES),
    "day": lambda day: day["date"].day(),
    "day_of_week": lambda day: (day["date"].day_of_week.index() + 1).cast("int16"),
    "day_name": lambda day: _name_of(day["day_of_week"], DAY_NAMES),
    "day_of_year": lambda day: day["date"].day_of_year(),
    "iso_year": lambda day: day["date"].iso_year(),
    "iso_week": lambda day: day["date"].week_of_year(),
    "is_weekend": lambda day: day["day_of_week"] >= 6,
    "first_day_of_month": lambda day: day["date"].truncate("M"),
    "last_day_of_month": lambda day: (day["first_day_of_month"] + ibis.interval(months=1) - ibis.interval(days=1)).cast(
        "date"
    ),
}


#: The dimension's columns, in order (see the module docstring).
COLUMNS = (
    "date_key",
    "date",
    "year",
    "quarter",
    "month",
    "month_name",
    "day",
    "day_of_week",
    "day_name",
    "day_of_year",
    "iso_year",
    "iso_week",
    "is_weekend",
    "first_day_of_month",
    "last_day_of_month",
)


def date_dimension(start: date, end: date, columns: Sequence[str] = COLUMNS) -> ir.Table:
    """Return one row per day from ``start`` to ``end`` (both included), ordered by date.

    Parameters
    ----------
    start, end
        The first and last day. Cover every date a fact can carry (and some future
        days for plans); a fact date outside the range needs an unknown member
        (:mod:`millpond.model.unknown`).
    columns
        The columns to keep, of :data:`COLUMNS` (by default all, in that order); only
        these are built. The rows are ordered by date when ``date`` is one of them.

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
    >>> date_dimension(date(2024, 1, 1), date(2024, 1, 7), columns=["date", "day_name"]).columns
    ('date', 'day_name')
    """
    if end < start:
        raise MillpondError(f"date_dimension: end {end} is before start {start}; the calendar would be empty")
    unknown = [name for name in columns if name not in COLUMNS]
    if unknown or not columns:
        raise MillpondError(
            f"date_dimension: no column {', '.join(map(repr, unknown))}; choose of {', '.join(COLUMNS)}"
            if unknown
            else "date_dimension: columns is empty; choose at least one"
        )
    midnight = time()
    stamps = ibis.range(
        ibis.timestamp(datetime.combine(start, midnight)),
        ibis.timestamp(datetime.combine(end + timedelta(days=1), midnight)),
        ibis.interval(days=1),
    )
    spine = stamps.unnest().name("day_start").as_table()  # its own select: Spark's EXPLODE cannot sit in a CAST
    day = _Day(date=spine.day_start.cast("date"))
    days = spine.select(**{name: day[name] for name in columns})
    return days.order_by("date") if "date" in columns else days


#: The compact calendar of :func:`calendar`: what most stars need of a day.
CALENDAR_COLUMNS = ("date_key", "date", "year", "month", "day", "weekday", "weekday_name", "is_weekend")


def calendar(start: date, end: date) -> ir.Table:
    """Return the compact date dimension from ``start`` to ``end`` (both included), ordered by date.

    Columns (:data:`CALENDAR_COLUMNS`): ``date_key`` (yyyymmdd), ``date``, ``year``, ``month``,
    ``day``, ``weekday`` (ISO: 1 = Monday ... 7 = Sunday), ``weekday_name`` and ``is_weekend``,
    a selection of :func:`date_dimension`.

    Examples
    --------
    >>> import ibis
    >>> from datetime import date
    >>> days = ibis.duckdb.connect().to_pyarrow(calendar(date(2024, 1, 6), date(2024, 1, 8))).to_pylist()
    >>> [(d["date_key"], d["weekday"], d["weekday_name"], d["is_weekend"]) for d in days]
    [(20240106, 6, 'Saturday', True), (20240107, 7, 'Sunday', True), (20240108, 1, 'Monday', False)]
    """
    days = date_dimension(
        start, end, ("date_key", "date", "year", "month", "day", "day_of_week", "day_name", "is_weekend")
    )
    return days.rename(weekday="day_of_week", weekday_name="day_name")
