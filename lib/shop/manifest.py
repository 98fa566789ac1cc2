"""The generator's known truth about a generated shop, written as ``_manifest.json``.

Every number here is computed by the generator from its own clean records, before
any dirt is added, with plain Python (``decimal.Decimal`` for money). It never
touches Ibis, so end-to-end tests can hold the gold tables against it.

Definitions
-----------
valid_rows
    Distinct valid records per source: what silver must keep. Equal to
    ``raw_rows[source] - sum(dirt[source].values())``.
raw_rows
    Rows written per source, all files together, dirt included.
dirt
    ``source -> reason -> rows``: rows injected that silver must reject, keyed by the
    exact ``reason`` code silver gives them (see :mod:`shop.silver`).
normalization
    ``source -> kind -> rows``: valid rows written in a non-canonical form that silver
    must normalize, not reject (``email``: upper case and/or surrounding blanks;
    ``phone``: anything but E.164; ``status``/``currency``: wrong case or blanks).
orders_by_status
    Valid orders per status (all five statuses present, zero allowed).
revenue_orders, orders_by_day
    Valid orders whose status is not ``cancelled``, in total and per order date
    (the UTC date of ``order_ts``), every day of the window present.
revenue_total, revenue_by_day
    Sum over valid order lines of ``quantity * unit_price - discount`` for lines of
    valid orders whose status is not ``cancelled`` (returned orders count: this is
    gross booked revenue), by order date. All inputs are whole cents, so the sums
    are exact; every day of the window is present (``0.00`` when nothing sold).
payments_total
    Sum of ``amount`` over valid payments.
late_events
    Valid events received on a later UTC day than they happened
    (``received_ts.date() > event_ts.date()``); they sit in a later day's file.
anonymous_events
    Valid events without a ``customer_id``.
revenue_by_country
    Revenue (as ``revenue_total``) by the country of the ordering customer now.
day, history, added_columns
    For a shop ``day`` days after its window (``generate(..., day=N)``): each day's
    changes by key (:class:`shop.days.DayChanges`) and the columns sources gained. The
    truth fields above describe that last day: a deleted customer's orders are orphans
    until the customer is back.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from pathlib import Path

from pydantic import BaseModel, ConfigDict

from shop.days import DayChanges
from shop.raw_files import MANIFEST_FILE


class Manifest(BaseModel):
    """Truth about one generated shop; see the module docstring for each field.

    >>> m = Manifest(seed=1, scale=0.1, start=date(2024, 1, 1), end=date(2024, 1, 1), days=1,
    ...              files={}, raw_rows={"orders": 3}, valid_rows={"orders": 2},
    ...              dirt={"orders": {"duplicate": 1}}, normalization={},
    ...              orders_by_status={}, revenue_orders=0, orders_by_day={},
    ...              revenue_total=Decimal("0.00"), revenue_by_day={},
    ...              payments_total=Decimal("0.00"), late_events=0, anonymous_events=0,
    ...              events_by_type={}, customers_by_country={})
    >>> m.rejected_rows("orders")
    1
    """

    model_config = ConfigDict(frozen=True)

    generator: str = "shop.generate/1"
    seed: int
    scale: float
    start: date
    end: date
    """Last day of the window (inclusive): ``start + days - 1``."""
    days: int
    files: dict[str, list[str]]
    """Source -> files written, relative to the raw directory."""
    raw_rows: dict[str, int]
    valid_rows: dict[str, int]
    dirt: dict[str, dict[str, int]]
    normalization: dict[str, dict[str, int]]
    orders_by_status: dict[str, int]
    revenue_orders: int
    orders_by_day: dict[date, int]
    revenue_total: Decimal
    revenue_by_day: dict[date, Decimal]
    payments_total: Decimal
    late_events: int
    anonymous_events: int
    events_by_type: dict[str, int]
    customers_by_country: dict[str, int]
    revenue_by_country: dict[str, Decimal] = {}
    day: int = 0
    history: list[DayChanges] = []
    added_columns: dict[str, list[str]] = {}

    def rejected_rows(self, source: str) -> int:
        """Return how many rows of ``source`` silver must reject."""
        return sum(self.dirt.get(source, {}).values())

    def write(self, raw_dir: Path) -> Path:
        """Write the manifest as ``_manifest.json`` under ``raw_dir`` and return its path."""
        path = Path(raw_dir) / MANIFEST_FILE
        path.write_text(self.model_dump_json(indent=2) + "\n", encoding="utf-8")
        return path


def read_manifest(raw_dir: Path) -> Manifest:
    """Read ``_manifest.json`` from a raw directory written by :func:`~shop.generate.generate`.

    >>> import tempfile
    >>> read_manifest(Path(tempfile.mkdtemp()))  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    FileNotFoundError: no _manifest.json under ...; run `python -m shop.generate --out ...` first
    """
    path = Path(raw_dir) / MANIFEST_FILE
    if not path.is_file():
        raise FileNotFoundError(
            f"no {MANIFEST_FILE} under {raw_dir}; run `python -m shop.generate --out {raw_dir}` first"
        )
    return Manifest.model_validate_json(path.read_text(encoding="utf-8"))
