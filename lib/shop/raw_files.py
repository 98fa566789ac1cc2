"""Where the raw shop files live and what shape they have.

The generator writes these files and the bronze readers read them, so both sides
take names, formats and the JSON schema from here.

>>> SOURCES
('customers', 'products', 'orders', 'order_lines', 'payments', 'events')
>>> RAW_FILES["orders"]
'orders.csv'
>>> events_file_name(date(2024, 1, 31))
'events/events_2024-01-31.jsonl'
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pyarrow as pa

SOURCES: tuple[str, ...] = ("customers", "products", "orders", "order_lines", "payments", "events")
"""Every raw source, parents before children."""

RAW_FILES: dict[str, str] = {
    "customers": "customers.csv",
    "products": "products.parquet",
    "orders": "orders.csv",
    "order_lines": "order_lines.parquet",
    "payments": "payments.csv",
}
"""Single-file sources, relative to the raw directory (events are one file per day)."""

EVENTS_DIR = "events"
EVENTS_GLOB = "events_*.jsonl"
MANIFEST_FILE = "_manifest.json"

CSV_COLUMNS: dict[str, tuple[str, ...]] = {
    "customers": (
        "customer_id",
        "first_name",
        "last_name",
        "email",
        "phone",
        "country",
        "signup_date",
        "updated_at",
    ),
    "orders": ("order_id", "customer_id", "order_ts", "status", "currency", "channel"),
    "payments": ("payment_id", "order_id", "paid_ts", "method", "amount"),
}
"""Header of each CSV source; every column is text in the file and in bronze."""

MONEY = pa.decimal128(10, 2)

PRODUCTS_SCHEMA = pa.schema(
    [
        ("product_id", pa.int64()),
        ("sku", pa.string()),
        ("name", pa.string()),
        ("category", pa.string()),
        ("unit_price", pa.float64()),
        ("active", pa.bool_()),
    ]
)
"""``unit_price`` is a float on purpose ("decimal-ish"): silver casts it to decimal(18, 2)."""

ORDER_LINES_SCHEMA = pa.schema(
    [
        ("order_line_id", pa.int64()),
        ("order_id", pa.int64()),
        ("product_id", pa.int64()),
        ("quantity", pa.int64()),
        ("unit_price", MONEY),
        ("discount", MONEY),
    ]
)

EVENTS_SCHEMA = pa.schema(
    [
        ("event_id", pa.string()),
        ("session_id", pa.string()),
        ("customer_id", pa.int64()),
        ("event_type", pa.string()),
        ("product_id", pa.int64()),
        ("event_ts", pa.string()),
        ("received_ts", pa.string()),
    ]
)
"""One JSON object per line; timestamps are text (``YYYY-MM-DD HH:MM:SS``, UTC)."""

TIMESTAMP_FORMAT = "%Y-%m-%d %H:%M:%S"


def events_file_name(day: date) -> str:
    """Return the raw-relative path of the events file for the day events were received.

    >>> events_file_name(date(2024, 2, 1))
    'events/events_2024-02-01.jsonl'
    """
    return f"{EVENTS_DIR}/events_{day.isoformat()}.jsonl"


def source_paths(raw_dir: Path, source: str) -> list[Path]:
    """Return the files holding one raw source, sorted by name.

    Raises ``ValueError`` for an unknown source and ``FileNotFoundError`` when the
    raw directory holds no file for it (generate the data first).

    >>> import tempfile
    >>> source_paths(Path(tempfile.mkdtemp()), "refunds")
    Traceback (most recent call last):
    ...
    ValueError: unknown shop source 'refunds'; expected one of customers, products, orders, order_lines, payments, events
    """
    if source not in SOURCES:
        raise ValueError(f"unknown shop source {source!r}; expected one of {', '.join(SOURCES)}")
    raw_dir = Path(raw_dir)
    if source == "events":
        paths = sorted((raw_dir / EVENTS_DIR).glob(EVENTS_GLOB))
    else:
        path = raw_dir / RAW_FILES[source]
        paths = [path] if path.exists() else []
    if not paths:
        raise FileNotFoundError(
            f"no raw {source} file under {raw_dir}; run `python -m shop.generate --out {raw_dir}` first"
        )
    return paths


def owned_paths(raw_dir: Path) -> list[Path]:
    """Return every file a previous generation wrote under ``raw_dir`` (and nothing else).

    >>> import tempfile
    >>> owned_paths(Path(tempfile.mkdtemp()))
    []
    """
    raw_dir = Path(raw_dir)
    candidates = [raw_dir / name for name in RAW_FILES.values()] + [raw_dir / MANIFEST_FILE]
    candidates += sorted((raw_dir / EVENTS_DIR).glob(EVENTS_GLOB))
    return [path for path in candidates if path.is_file()]
