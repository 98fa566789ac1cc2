"""The generator: determinism, scaling, clean re-generation, and a manifest that tells the truth.

The dirt counts are recounted here from the files with plain ``csv``/``json``/``pyarrow``,
never with the shop transforms.
"""

from __future__ import annotations

import csv
import json
from collections import Counter
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from shop.generate import generate, main
from shop.manifest import read_manifest

STATUSES = {"placed", "shipped", "delivered", "cancelled", "returned"}
EVENT_TYPES = {"page_view", "add_to_cart", "checkout", "purchase"}


def _files(directory: Path) -> dict[str, bytes]:
    return {
        path.relative_to(directory).as_posix(): path.read_bytes()
        for path in sorted(directory.rglob("*"))
        if path.is_file()
    }


def _csv_rows(path: Path) -> list[dict]:
    with path.open(newline="", encoding="utf-8") as handle:
        return [{key: value or None for key, value in row.items()} for row in csv.DictReader(handle)]


def _is_timestamp(text: str | None) -> bool:
    try:
        datetime.strptime(text or "", "%Y-%m-%d %H:%M:%S")
    except ValueError:
        return False
    return True


def _is_date(text: str | None) -> bool:
    try:
        datetime.strptime(text or "", "%Y-%m-%d")
    except ValueError:
        return False
    return True


def _is_money(text: str | None) -> bool:
    try:
        return Decimal(text or "x").as_tuple().exponent >= -2
    except InvalidOperation:
        return False


@pytest.fixture(scope="module")
def shop(tmp_path_factory) -> Path:
    raw = tmp_path_factory.mktemp("raw")
    generate(raw, seed=7, scale=0.2)
    return raw


def test_same_seed_gives_byte_identical_files(tmp_path):
    generate(tmp_path / "a", seed=11, scale=0.05, days=5)
    generate(tmp_path / "b", seed=11, scale=0.05, days=5)
    generate(tmp_path / "c", seed=12, scale=0.05, days=5)
    first, second, other = (_files(tmp_path / name) for name in "abc")
    assert first.keys() == second.keys()
    assert [name for name in first if first[name] != second[name]] == []
    assert [name for name in first if name in other and first[name] != other[name]] != []


def test_row_counts_scale_linearly(tmp_path):
    small = generate(tmp_path / "small", seed=1, scale=0.1, days=7)
    large = generate(tmp_path / "large", seed=1, scale=0.3, days=7)
    assert small.valid_rows["customers"] == 100 and large.valid_rows["customers"] == 300
    assert small.valid_rows["products"] == 20 and large.valid_rows["products"] == 60
    assert small.valid_rows["orders"] == 500 and large.valid_rows["orders"] == 1500
    for source in ("order_lines", "payments", "events"):
        assert 2.5 < large.valid_rows[source] / small.valid_rows[source] < 3.5, source


def test_scale_one_has_the_documented_size(tmp_path):
    manifest = generate(tmp_path, seed=42, scale=1.0)
    assert manifest.valid_rows["customers"] == 1000
    assert manifest.valid_rows["products"] == 200
    assert manifest.valid_rows["orders"] == 5000
    assert 12_000 <= manifest.valid_rows["order_lines"] <= 15_000
    assert 4_000 <= manifest.valid_rows["payments"] <= 5_000
    assert 18_000 <= manifest.valid_rows["events"] <= 22_000


def test_regeneration_replaces_its_own_files_and_keeps_others(tmp_path):
    generate(tmp_path, seed=1, scale=0.05, days=6)
    (tmp_path / "notes.txt").write_text("mine")
    manifest = generate(tmp_path, seed=1, scale=0.05, days=3)
    events = sorted(path.name for path in (tmp_path / "events").iterdir())
    assert events == ["events_2024-01-01.jsonl", "events_2024-01-02.jsonl", "events_2024-01-03.jsonl"]
    assert (tmp_path / "notes.txt").read_text() == "mine"
    assert read_manifest(tmp_path) == manifest


def test_command_line_writes_the_same_files_as_the_function(tmp_path, capsys):
    assert main(["--seed", "3", "--scale", "0.02", "--days", "2", "--out", str(tmp_path / "cli")]) == 0
    generate(tmp_path / "api", seed=3, scale=0.02, days=2)
    assert _files(tmp_path / "cli") == _files(tmp_path / "api")
    assert "20 customers" in capsys.readouterr().out


def test_every_raw_row_is_either_valid_or_counted_dirt(shop):
    manifest = read_manifest(shop)
    for source, rows in manifest.raw_rows.items():
        assert rows == manifest.valid_rows[source] + sum(manifest.dirt[source].values()), source


def test_customer_dirt_matches_the_file(shop):
    manifest = read_manifest(shop)
    rows = _csv_rows(shop / "customers.csv")
    assert len(rows) == manifest.raw_rows["customers"]
    distinct = {tuple(row.values()) for row in rows}
    good = [dict(zip(rows[0], values)) for values in distinct]
    good = [row for row in good if row["email"] and _is_date(row["signup_date"])]
    latest = {}
    for row in sorted(good, key=lambda row: row["updated_at"]):
        latest[row["customer_id"]] = row
    assert {
        "duplicate": len(rows) - len(distinct),
        "missing_email": sum(row["email"] is None for row in rows),
        "invalid_signup_date": sum(not _is_date(row["signup_date"]) for row in rows),
        "superseded": len(good) - len(latest),
    } == manifest.dirt["customers"]
    assert len(latest) == manifest.valid_rows["customers"]
    messy = sum(row["email"] != row["email"].strip().lower() for row in latest.values())
    assert messy == manifest.normalization["customers"]["email"]
    assert Counter(row["country"] for row in latest.values()) == manifest.customers_by_country


def test_order_dirt_matches_the_file(shop):
    manifest = read_manifest(shop)
    rows = _csv_rows(shop / "orders.csv")
    customer_ids = {row["customer_id"] for row in _csv_rows(shop / "customers.csv")}
    distinct = {tuple(row.values()) for row in rows}
    assert {
        "duplicate": len(rows) - len(distinct),
        "missing_customer_id": sum(row["customer_id"] is None for row in rows),
        "invalid_order_ts": sum(not _is_timestamp(row["order_ts"]) for row in rows),
        "invalid_status": sum(row["status"].strip().lower() not in STATUSES for row in rows),
        "orphan_customer": sum(
            row["customer_id"] is not None and row["customer_id"] not in customer_ids for row in rows
        ),
    } == manifest.dirt["orders"]
    assert sum(row["status"] not in STATUSES for row in rows) >= manifest.normalization["orders"]["status"]


def test_order_line_and_product_dirt_matches_the_files(shop):
    manifest = read_manifest(shop)
    lines = pq.read_table(shop / "order_lines.parquet").to_pylist()
    products = pq.read_table(shop / "products.parquet").to_pylist()
    order_ids = {int(row["order_id"]) for row in _csv_rows(shop / "orders.csv")}
    product_ids = {row["product_id"] for row in products}
    assert {
        "missing_quantity": sum(line["quantity"] is None for line in lines),
        "invalid_quantity": sum(line["quantity"] is not None and line["quantity"] <= 0 for line in lines),
        "orphan_order": sum(line["order_id"] not in order_ids for line in lines),
        "orphan_product": sum(line["product_id"] not in product_ids for line in lines),
    } == manifest.dirt["order_lines"]
    assert {
        "duplicate": len(products) - len({tuple(row.values()) for row in products}),
        "missing_sku": sum(row["sku"] is None for row in products),
    } == manifest.dirt["products"]


def test_payment_dirt_matches_the_file(shop):
    manifest = read_manifest(shop)
    rows = _csv_rows(shop / "payments.csv")
    order_ids = {row["order_id"] for row in _csv_rows(shop / "orders.csv")}
    assert {
        "duplicate": len(rows) - len({tuple(row.values()) for row in rows}),
        "invalid_amount": sum(not _is_money(row["amount"]) for row in rows),
        "orphan_order": sum(row["order_id"] not in order_ids for row in rows),
    } == manifest.dirt["payments"]


def test_event_dirt_and_late_events_match_the_files(shop):
    manifest = read_manifest(shop)
    lines, misplaced = [], 0
    for path in sorted((shop / "events").glob("events_*.jsonl")):
        day = path.stem.removeprefix("events_")
        for line in path.read_text(encoding="utf-8").splitlines():
            lines.append(line)
            misplaced += json.loads(line)["received_ts"][:10] != day
    assert misplaced == 0
    events = [json.loads(line) for line in set(lines)]
    valid = [event for event in events if event["event_ts"] and event["event_type"] in EVENT_TYPES]
    assert {
        "duplicate": len(lines) - len(events),
        "missing_event_ts": sum(event["event_ts"] is None for event in events),
        "invalid_event_type": sum(event["event_type"] not in EVENT_TYPES for event in events),
    } == manifest.dirt["events"]
    assert len(valid) == manifest.valid_rows["events"]
    assert sum(event["received_ts"][:10] > event["event_ts"][:10] for event in valid) == manifest.late_events
    assert manifest.late_events > 0
    assert sum(event["customer_id"] is None for event in valid) == manifest.anonymous_events


def test_revenue_truth_recomputed_from_the_files(shop):
    """Revenue from the files with plain Python: valid lines of valid, non-cancelled orders."""
    manifest = read_manifest(shop)
    customers = {row["customer_id"] for row in _csv_rows(shop / "customers.csv") if row["email"]}
    orders = {}
    for row in _csv_rows(shop / "orders.csv"):
        status = row["status"].strip().lower()
        if row["customer_id"] in customers and _is_timestamp(row["order_ts"]) and status in STATUSES:
            orders[int(row["order_id"])] = (row["order_ts"][:10], status)
    products = {row["product_id"] for row in pq.read_table(shop / "products.parquet").to_pylist() if row["sku"]}
    revenue: Counter = Counter()
    for line in pq.read_table(shop / "order_lines.parquet").to_pylist():
        order = orders.get(line["order_id"])
        if order and order[1] != "cancelled" and line["product_id"] in products and (line["quantity"] or 0) > 0:
            revenue[date.fromisoformat(order[0])] += line["quantity"] * line["unit_price"] - line["discount"]
    assert {day: amount for day, amount in manifest.revenue_by_day.items() if amount} == dict(revenue)
    assert manifest.revenue_total == sum(revenue.values())
    assert Counter(status for _, status in orders.values()) == manifest.orders_by_status
