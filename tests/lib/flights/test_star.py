"""The flights star schema: inferred members instead of dropped flights, one fact row per flight."""

from __future__ import annotations

import datetime as dt

import ibis

from flights import star


def staged_flights() -> ibis.Table:
    """Five staged flights: to a known airport, to SJU (unknown), without tail number, cancelled, late."""
    rows = [
        # flight, tailnum, dest, time_hour (UTC), dep_delay, arr_delay, cancelled
        (1, "N1", "LAX", dt.datetime(2013, 11, 3, 5), 2, 11, False),
        (2, "N725MQ", "SJU", dt.datetime(2013, 11, 3, 6), 30, None, False),
        (3, None, "LAX", dt.datetime(2013, 11, 3, 7), None, None, True),
        (4, "N1", "LAX", dt.datetime(2013, 11, 3, 9), -3, -10, False),
        (5, "N1", "LAX", dt.datetime(2013, 11, 3, 13), 0, 0, False),
    ]
    columns = dict(zip(["flight", "tailnum", "dest", "time_hour", "dep_delay", "arr_delay", "cancelled"], zip(*rows)))
    t = ibis.memtable(
        {name: list(values) for name, values in columns.items()},
        schema={
            "flight": "int32",
            "tailnum": "string",
            "dest": "string",
            "time_hour": "timestamp",
            "dep_delay": "int32",
            "arr_delay": "int32",
            "cancelled": "boolean",
        },
    )
    return t.mutate(
        flight_date=ibis.date(2013, 11, 3),
        carrier=ibis.literal("MQ"),
        origin=ibis.literal("EWR"),
        sched_dep_local=t.time_hour - ibis.interval(hours=5),
        sched_dep_utc=t.time_hour,
        dep_local=t.time_hour - ibis.interval(hours=5) + t.dep_delay.as_interval("m"),
        air_time=ibis.literal(100, type="int32"),
        distance=ibis.literal(1000, type="int32"),
    )


def weather() -> ibis.Table:
    """EWR at 01:00 local twice (05:00 and 06:00 UTC, when clocks fell back); 07:00 UTC is missing."""
    return ibis.memtable(
        {
            "origin": ["EWR"] * 3,
            "time_hour": [dt.datetime(2013, 11, 3, h) for h in (5, 6, 9)],
            "obs_local": [dt.datetime(2013, 11, 3, 1), dt.datetime(2013, 11, 3, 1), dt.datetime(2013, 11, 3, 4)],
            "temp": [51.98, 50.0, 48.0],
            "wind_speed": [6.9, 5.8, 4.6],
        }
    )


def dimensions(flights: ibis.Table):
    airlines = star.dim_airline(ibis.memtable({"carrier": ["9E", "MQ"], "name": ["Endeavor", "Envoy Air"]}), flights)
    airports = star.dim_airport(
        ibis.memtable({"faa": ["EWR", "LAX"], "name": ["Newark", "Los Angeles"], "tzone": ["America/New_York", None]}),
        flights,
    )
    planes = star.dim_plane(
        ibis.memtable({"tailnum": ["N1", "N2"], "year": [2004, None]}, schema={"tailnum": "string", "year": "int32"}),
        flights,
    )
    return airlines, airports, planes


def test_codes_missing_from_the_reference_tables_become_inferred_members(con):
    airlines, airports, planes = dimensions(staged_flights())
    assert con.to_pyarrow(airports.select("airport_key", "faa", "is_known")).to_pylist() == [
        {"airport_key": 1, "faa": "EWR", "is_known": True},
        {"airport_key": 2, "faa": "LAX", "is_known": True},
        {"airport_key": 3, "faa": "SJU", "is_known": False},
    ]
    assert con.to_pyarrow(planes).to_pylist() == [
        {"plane_key": 0, "tailnum": None, "year": None, "is_known": False},
        {"plane_key": 1, "tailnum": "N1", "year": 2004, "is_known": True},
        {"plane_key": 2, "tailnum": "N2", "year": None, "is_known": True},
        {"plane_key": 3, "tailnum": "N725MQ", "year": None, "is_known": False},
    ]
    assert con.to_pyarrow(airlines.select("airline_key", "carrier", "is_known")).to_pylist() == [
        {"airline_key": 1, "carrier": "9E", "is_known": True},
        {"airline_key": 2, "carrier": "MQ", "is_known": True},
    ]


def test_the_fact_keeps_every_flight_with_resolved_keys_and_the_weather_as_of_its_utc_hour(con):
    flights = staged_flights()
    airlines, airports, planes = dimensions(flights)
    fct = star.fct_flights(flights, weather(), airlines, airports, planes)
    got = con.to_pyarrow(
        fct.select(
            "flight_key",
            "flight",
            "dest_airport_key",
            "plane_key",
            "cancelled",
            "arrival_unknown",
            "weather_hour",
            "weather_observed",
            "temp",
        )
    ).to_pylist()
    hour = {h: dt.datetime(2013, 11, 3, h) for h in (5, 6, 9)}
    assert got == [
        # 05:00 and 06:00 UTC are both 01:00 local: each flight gets its own hour's observation
        {
            "flight_key": 1,
            "flight": 1,
            "dest_airport_key": 2,
            "plane_key": 1,
            "cancelled": False,
            "arrival_unknown": False,
            "weather_hour": hour[5],
            "weather_observed": True,
            "temp": 51.98,
        },
        {
            "flight_key": 2,
            "flight": 2,
            "dest_airport_key": 3,
            "plane_key": 3,
            "cancelled": False,
            "arrival_unknown": True,
            "weather_hour": hour[6],
            "weather_observed": True,
            "temp": 50.0,
        },
        # 07:00 was not reported: the 06:00 observation stands for it
        {
            "flight_key": 3,
            "flight": 3,
            "dest_airport_key": 2,
            "plane_key": 0,
            "cancelled": True,
            "arrival_unknown": False,
            "weather_hour": hour[6],
            "weather_observed": False,
            "temp": 50.0,
        },
        {
            "flight_key": 4,
            "flight": 4,
            "dest_airport_key": 2,
            "plane_key": 1,
            "cancelled": False,
            "arrival_unknown": False,
            "weather_hour": hour[9],
            "weather_observed": True,
            "temp": 48.0,
        },
        # 13:00: the last observation (09:00) is four hours old, past the three hours allowed
        {
            "flight_key": 5,
            "flight": 5,
            "dest_airport_key": 2,
            "plane_key": 1,
            "cancelled": False,
            "arrival_unknown": False,
            "weather_hour": None,
            "weather_observed": False,
            "temp": None,
        },
    ]
    keys = con.to_pyarrow(fct.select("date_key", "airline_key", "origin_airport_key")).to_pylist()
    assert {tuple(k.values()) for k in keys} == {(20131103, 2, 1)}


def test_the_calendar_covers_the_year():
    dates = ibis.duckdb.connect().to_pyarrow(star.dim_date(dt.date(2013, 1, 1), dt.date(2013, 12, 31)))
    assert dates.num_rows == 365
    assert dates["date_key"][0].as_py() == 20130101 and dates["date_key"][-1].as_py() == 20131231
