"""Problems of the weather table: hours missing, local hours repeated, duplicate keys, implausible wind.

Part of :mod:`flights.problems`, which finds them all.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import ibis
import ibis.expr.types as ir
import pyarrow as pa

from flights.problem import NEW_YORK, Problem
from flights.staging import MAX_WIND_SPEED, local_date
from millpond.quality.basic import unique

_ISO_UTC = "%Y-%m-%dT%H:%M:%SZ"


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
        "weather_hours_missing",
        "weather",
        missing,
        "{rows:,} of the {expected:,} hourly weather observations of {year} (each local hour at each of the "
        "{origins} origins) are missing; the last observation is at {latest} (UTC).",
        none="Every hour of {year} has a weather observation at each of the {origins} origins.",
        facts={
            "expected": spine.count(),
            "origins": origins.count(),
            "latest": weather.time_hour.max(),
            "year": ibis.literal(year),
        },
    )


def weather_local_hour_repeat(weather: ir.Table) -> Problem:
    """Weather rows sharing origin and local date and hour with another row."""
    repeated = unique(weather, ["origin", "year", "month", "day", "hour"])
    local = local_date(repeated.year, repeated.month, repeated.day).cast("timestamp") + repeated.hour.cast(
        "int32"
    ).as_interval("h")
    rows = repeated.mutate(local_hour=local.strftime("%Y-%m-%d %H:00"))
    return Problem(
        "weather_local_hour_repeat",
        "weather",
        rows,
        "{rows:,} weather rows share their origin and local date and hour with another row ({values}, when clocks "
        "fell back); in UTC they are different hours, so weather is keyed and joined on (origin, time_hour).",
        none="No local hour repeats in weather.",
        distinct="local_hour",
    )


def weather_duplicate_key(weather: ir.Table) -> Problem:
    """Weather rows sharing ``(origin, time_hour)`` with another row."""
    return Problem(
        "weather_duplicate_key",
        "weather",
        unique(weather, ["origin", "time_hour"]),
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
        "implausible_wind_speed",
        "weather",
        rows,
        "Wind speeds above " + str(MAX_WIND_SPEED) + " mph: {rows:,} weather row{s} ({values} mph), which "
        "staging quarantines.",
        none="No wind speed is above " + str(MAX_WIND_SPEED) + " mph.",
        distinct="wind_mph",
    )
