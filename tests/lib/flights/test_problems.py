"""The known problems of the flights data: each expression selects exactly the offending rows."""

from __future__ import annotations

import ibis

from flights import problems

COLUMNS = [
    "year",
    "month",
    "day",
    "dep_time",
    "sched_dep_time",
    "dep_delay",
    "arr_time",
    "arr_delay",
    "carrier",
    "tailnum",
    "origin",
    "dest",
    "time_hour",
]
FLIGHT_TYPES = {
    "year": "int64",
    "month": "int64",
    "day": "int64",
    "dep_time": "float64",
    "sched_dep_time": "int64",
    "dep_delay": "float64",
    "arr_time": "float64",
    "arr_delay": "float64",
    "carrier": "string",
    "tailnum": "string",
    "origin": "string",
    "dest": "string",
    "time_hour": "string",
}


def bronze_flights() -> ibis.Table:
    rows = [
        (2013, 1, 1, 517.0, 515, 2.0, 830.0, 11.0, "UA", "N14228", "EWR", "IAH", "2013-01-01T10:00:00Z"),
        (2013, 1, 1, None, 600, None, None, None, "EV", None, "EWR", "BQN", "2013-01-01T11:00:00Z"),
        (2013, 1, 1, 2400.0, 2359, 1.0, 315.0, None, "AA", "N3ALAA", "JFK", "SJU", "2013-01-02T04:00:00Z"),
        (2013, 1, 1, None, 2359, None, None, None, "AA", "N3ALAA", "JFK", "MIA", "2013-01-02T04:00:00Z"),
        (2013, 1, 1, 700.0, 700, 0.0, None, None, "MQ", "N14228", "LGA", "IAH", "2013-01-01T12:00:00Z"),
    ]
    return ibis.memtable({c: list(v) for c, v in zip(COLUMNS, zip(*rows))}, schema=FLIGHT_TYPES)


def bronze_weather() -> ibis.Table:
    # EWR: 1 am local twice on 2013-11-03 (05:00 and 06:00 UTC), one corrupt wind reading, one repeated key
    return ibis.memtable(
        {
            "origin": ["EWR", "EWR", "EWR", "EWR", "EWR"],
            "year": [2013] * 5,
            "month": [1, 11, 11, 2, 2],
            "day": [1, 3, 3, 12, 12],
            "hour": [5, 1, 1, 3, 3],
            "wind_speed": [10.4, 6.9, 5.8, 1048.36, 9.2],
            "time_hour": [
                "2013-01-01T10:00:00Z",
                "2013-11-03T05:00:00Z",
                "2013-11-03T06:00:00Z",
                "2013-02-12T08:00:00Z",
                "2013-02-12T08:00:00Z",
            ],
        }
    )


PLANES = ibis.memtable({"tailnum": ["N14228", "N999"], "year": [1999.0, None]})
AIRPORTS = ibis.memtable(
    {
        "faa": ["EWR", "JFK", "LGA", "IAH", "MIA", "DVT", "EEN"],
        "tzone": ["America/New_York"] * 5 + ["Asia/Chongqing", None],
    }
)


def counted(problem: problems.Problem) -> dict:
    return problems.measure([problem]).iloc[0].to_dict()


def test_flight_problems_select_exactly_the_offending_flights():
    flights = bronze_flights()
    assert counted(problems.cancelled_flights(flights))["rows"] == 2
    assert counted(problems.departed_without_arrival(flights))["rows"] == 2
    assert counted(problems.flights_without_tailnum(flights))["rows"] == 1
    assert counted(problems.midnight_as_2400(flights))["rows"] == 1
    missing = counted(problems.tailnum_not_in_planes(flights, PLANES))
    assert (missing["rows"], missing["distinct"], missing["values"]) == (2, 1, "N3ALAA")
    assert (
        "2 flights carry one of 1 tail numbers" in missing["finding"] and "2 of these flights are" in missing["finding"]
    )
    dest = counted(problems.dest_not_in_airports(flights, AIRPORTS))
    assert (dest["rows"], dest["distinct"], dest["values"]) == (2, 2, "BQN, SJU")
    double = counted(problems.tail_double_booked(flights))
    assert (double["rows"], double["distinct"]) == (2, 1)
    assert double["finding"].endswith("(1 tail numbers); 1 of them were cancelled.")


def test_weather_problems_tell_the_repeated_local_hour_from_a_repeated_key():
    weather = bronze_weather()
    local = counted(problems.weather_local_hour_repeat(weather))
    assert (local["rows"], local["values"]) == (4, "2013-02-12 03:00, 2013-11-03 01:00")
    assert counted(problems.weather_duplicate_key(weather))["rows"] == 2
    wind = counted(problems.implausible_wind_speed(weather))
    assert (wind["rows"], wind["finding"]) == (
        1,
        "Wind speeds above 200 mph: 1 weather row (1048 mph), which staging quarantines.",
    )
    observed = counted(problems.flights_without_weather(bronze_flights(), weather))
    assert observed["rows"] == 4


def test_no_offending_row_gives_the_sentence_for_none():
    weather = bronze_weather().filter(lambda t: t.time_hour != "2013-02-12T08:00:00Z")
    found = counted(problems.weather_duplicate_key(weather))
    assert found["rows"] == 0 and found["finding"].startswith("No two weather rows share (origin, time_hour) (0 rows)")


def test_every_hour_of_the_year_is_expected_at_each_origin():
    hours = ibis.duckdb.connect().to_pyarrow(problems.expected_hours(2013))["time_hour"].to_pylist()
    assert len(hours) == 8760 == len(set(hours))
    assert "2013-03-10T07:00:00Z" in hours and "2013-11-03T05:00:00Z" in hours and "2013-11-03T06:00:00Z" in hours
    found = counted(problems.weather_hours_missing(bronze_weather(), bronze_flights(), 2013))
    # three origins fly; EWR has 4 distinct observed hours, JFK and LGA none
    assert found["rows"] == 3 * 8760 - 4
    assert "of the 26,280 hourly weather observations of 2013" in found["finding"]
    assert "the last observation is at 2013-11-03T06:00:00Z (UTC)" in found["finding"]


def test_reference_table_problems():
    planes = counted(problems.planes_without_year(PLANES, bronze_flights()))
    assert planes["finding"] == "1 of the 2 planes have no year of manufacture (year is null); 0 flights use them."
    zones = counted(problems.airports_bad_time_zone(AIRPORTS))
    assert (zones["rows"], zones["values"]) == (2, "DVT, EEN")


def test_the_findings_run_on_each_backend(con):
    tables = {
        "flights": bronze_flights(),
        "weather": bronze_weather(),
        "planes": PLANES,
        "airports": AIRPORTS,
        "airlines": ibis.memtable({"carrier": ["UA"], "name": ["United"]}),
    }
    stored = {name: con.create_table(name, table) for name, table in tables.items()}
    findings = problems.measure(problems.find_problems(**stored, year=2013))
    assert len(findings) == 14 and findings.problem.is_unique
    assert dict(zip(findings.problem, findings["rows"]))["weather_local_hour_repeat"] == 4
    written = con.create_table("findings", problems.findings_table(findings))
    assert written.count().execute() == 14
    assert str(written.schema()["distinct"]) == "int64"
