"""Generate a deterministic, deliberately dirty shop under a raw directory.

The same ``seed`` and ``scale`` give byte-identical files: all randomness comes from
one ``random.Random(seed)`` and nothing reads the clock. At ``scale=1`` the shop has
1,000 customers, 200 products, 5,000 orders (about 12,400 lines), about 4,400 payments
and about 20,000 clickstream events over ``days`` days; row counts scale linearly.

Files written under ``out_dir`` (see :mod:`shop.raw_files`)::

    customers.csv        customer_id, first_name, last_name, email, phone, country,
                         signup_date, updated_at              (all text)
    products.parquet     product_id, sku, name, category, unit_price (float), active
    orders.csv           order_id, customer_id, order_ts, status, currency, channel
    order_lines.parquet  order_line_id, order_id, product_id, quantity, unit_price,
                         discount (decimal(10, 2))
    payments.csv         payment_id, order_id, paid_ts, method, amount
    events/events_YYYY-MM-DD.jsonl   one file per day an event was *received*
    _manifest.json       the truth, see :mod:`shop.manifest`

``day=N`` writes the shop as it stands ``N`` days after the window instead: the base
plus each day's drop of new, late and changed rows, deletions and returns, and a schema
change (:mod:`shop.days`); the manifest states the truth of that day and lists each day's
changes (``history``).

Command line::

    python -m shop.generate --seed 42 --scale 1 --out data/raw [--day 3]

>>> import tempfile
>>> manifest = generate(Path(tempfile.mkdtemp()), seed=1, scale=0.05, days=3)
>>> manifest.valid_rows["customers"], manifest.valid_rows["orders"]
(50, 250)
"""

from __future__ import annotations

import argparse
import csv
import json
import random
from collections import Counter
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from shop import dirt, records
from shop.days import World, advance
from shop.domain import NON_REVENUE_STATUSES, ORDER_STATUSES
from shop.manifest import Manifest
from shop.raw_files import (
    CSV_COLUMNS,
    EVENTS_DIR,
    ORDER_LINES_SCHEMA,
    PRODUCTS_SCHEMA,
    RAW_FILES,
    events_file_name,
    owned_paths,
)

BASE_ROWS = {"customers": 1000, "products": 200, "orders": 5000, "sessions": 4600}
"""Row counts at ``scale=1`` (events come from sessions: about 4.3 events each)."""


def scaled_count(base: int, scale: float) -> int:
    """Return ``base * scale`` rounded, at least 1.

    >>> scaled_count(1000, 0.2), scaled_count(200, 0.001)
    (200, 1)
    """
    return max(1, round(base * scale))


def _write_csv(path: Path, columns: tuple[str, ...], rows: list[dict]) -> None:
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(columns)
        writer.writerows([[row.get(column) for column in columns] for row in rows])


def _write_parquet(path: Path, schema: pa.Schema, rows: list[dict]) -> None:
    pq.write_table(pa.Table.from_pylist(rows, schema=schema), path, compression="zstd")


def _write_events(out_dir: Path, rows: list[dict]) -> list[str]:
    by_file: dict[str, list[str]] = {}
    for row in rows:
        name = events_file_name(date.fromisoformat(row["received_ts"][:10]))
        by_file.setdefault(name, []).append(json.dumps(row, separators=(",", ":"), ensure_ascii=False))
    (out_dir / EVENTS_DIR).mkdir(exist_ok=True)
    for name, lines in sorted(by_file.items()):
        (out_dir / name).write_text("\n".join(lines) + "\n", encoding="utf-8")
    return sorted(by_file)


def _write_world(out_dir: Path, world: World) -> dict[str, list[str]]:
    """Write every raw file of ``world``; return the files per source."""
    for source in ("customers", "orders", "payments"):
        columns = CSV_COLUMNS[source] + tuple(world.added_columns.get(source, ()))
        _write_csv(out_dir / RAW_FILES[source], columns, world.raw[source])
    _write_parquet(out_dir / RAW_FILES["products"], PRODUCTS_SCHEMA, world.raw["products"])
    _write_parquet(out_dir / RAW_FILES["order_lines"], ORDER_LINES_SCHEMA, world.raw["order_lines"])
    files = {source: [name] for source, name in RAW_FILES.items()}
    files["events"] = _write_events(out_dir, world.raw["events"])
    return files


def _truth(clean: dict[str, list[dict]], start: date, days: int) -> dict:
    """Return the manifest's truth fields, computed from the clean records only."""
    window = [start + timedelta(days=offset) for offset in range(days)]
    status_of = {order["order_id"]: order["status"] for order in clean["orders"]}
    day_of = {order["order_id"]: order["order_ts"].date() for order in clean["orders"]}
    revenue_by_day = {day: Decimal("0.00") for day in window}
    for line in clean["order_lines"]:
        if status_of[line["order_id"]] not in NON_REVENUE_STATUSES:
            revenue_by_day[day_of[line["order_id"]]] += records.line_amount(line)
    orders_by_day = {day: 0 for day in window}
    for order in clean["orders"]:
        if order["status"] not in NON_REVENUE_STATUSES:
            orders_by_day[order["order_ts"].date()] += 1
    events = clean["events"]
    statuses = Counter(status_of.values())
    country_of = {c["customer_id"]: c["country"] for c in clean["customers"]}
    net_of: dict[int, Decimal] = {}
    for line in clean["order_lines"]:
        net_of[line["order_id"]] = net_of.get(line["order_id"], Decimal("0.00")) + records.line_amount(line)
    revenue_by_country: dict[str, Decimal] = {}
    for order in clean["orders"]:
        if order["status"] not in NON_REVENUE_STATUSES:
            country = country_of[order["customer_id"]]
            revenue_by_country[country] = revenue_by_country.get(country, Decimal("0.00")) + net_of.get(
                order["order_id"], Decimal("0.00")
            )
    return {
        "valid_rows": {source: len(rows) for source, rows in clean.items()},
        "orders_by_status": {status: statuses[status] for status in ORDER_STATUSES},
        "revenue_orders": sum(orders_by_day.values()),
        "orders_by_day": orders_by_day,
        "revenue_total": sum(revenue_by_day.values(), Decimal("0.00")),
        "revenue_by_day": revenue_by_day,
        "payments_total": sum((payment["amount"] for payment in clean["payments"]), Decimal("0.00")),
        "late_events": sum(event["received_ts"].date() > event["event_ts"].date() for event in events),
        "anonymous_events": sum(event["customer_id"] is None for event in events),
        "events_by_type": dict(sorted(Counter(event["event_type"] for event in events).items())),
        "customers_by_country": dict(sorted(Counter(c["country"] for c in clean["customers"]).items())),
        "revenue_by_country": dict(sorted(revenue_by_country.items())),
    }


def generate(
    out_dir: Path,
    *,
    seed: int = 42,
    scale: float = 1.0,
    start: date = date(2024, 1, 1),
    days: int = 31,
    day: int = 0,
) -> Manifest:
    """Write a dirty shop under ``out_dir`` and return the truth about it.

    Files a previous generation wrote there are removed first; other files are left alone.

    Parameters
    ----------
    out_dir
        Raw directory to write; created if missing.
    seed
        Seed of the only random generator used.
    scale
        Multiplies every row count (1.0 = 1,000 customers, 5,000 orders).
    start
        First day of the order and event window (UTC).
    days
        Length of the window in days.
    day
        ``0`` for the window itself; ``N`` for the shop ``N`` days after it, each day's drop
        applied (:mod:`shop.days`). Day ``N`` extends day ``N - 1``.

    Returns
    -------
    Manifest
        The truth, also written to ``out_dir/_manifest.json``.

    Examples
    --------
    >>> import tempfile
    >>> out = Path(tempfile.mkdtemp())
    >>> manifest = generate(out, seed=3, scale=0.02, days=2)
    >>> sorted(path.name for path in out.iterdir())
    ['_manifest.json', 'customers.csv', 'events', 'order_lines.parquet', 'orders.csv', 'payments.csv', 'products.parquet']
    >>> manifest.revenue_total == sum(manifest.revenue_by_day.values())
    True
    """
    if scale <= 0 or days < 1 or not 0 <= day <= 365:
        raise ValueError(f"scale must be > 0, days >= 1 and 0 <= day <= 365, got scale={scale}, days={days}, day={day}")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    for path in owned_paths(out_dir):
        path.unlink()

    rng = random.Random(seed)
    customers = records.make_customers(rng, scaled_count(BASE_ROWS["customers"], scale), start)
    products = records.make_products(rng, scaled_count(BASE_ROWS["products"], scale))
    orders = records.make_orders(rng, scaled_count(BASE_ROWS["orders"], scale), len(customers), start, days)
    order_lines = records.make_order_lines(rng, orders, products)
    payments = records.make_payments(rng, orders, order_lines)
    events = records.make_events(
        rng, scaled_count(BASE_ROWS["sessions"], scale), len(customers), len(products), start, days
    )
    clean = {
        "customers": customers,
        "products": products,
        "orders": orders,
        "order_lines": order_lines,
        "payments": payments,
        "events": events,
    }

    raw = {
        "customers": dirt.dirty_customers(rng, customers),
        "products": dirt.dirty_products(rng, products),
        "orders": dirt.dirty_orders(rng, orders),
        "order_lines": dirt.dirty_order_lines(rng, order_lines),
        "payments": dirt.dirty_payments(rng, payments),
        "events": dirt.dirty_events(rng, events),
    }
    world = World(
        clean=clean,
        raw={source: rows for source, (rows, _, _) in raw.items()},
        dirt={source: Counter(rejects) for source, (_, rejects, _) in raw.items()},
        normalization={source: Counter(found) for source, (_, _, found) in raw.items()},
    )
    end = start + timedelta(days=days - 1)
    per_day = {
        "orders": max(3, len(orders) // days),
        "sessions": max(2, scaled_count(BASE_ROWS["sessions"], scale) // days),
    }
    for number in range(1, day + 1):
        advance(world, seed, number, end + timedelta(days=number), **per_day)
    files = _write_world(out_dir, world)
    manifest = Manifest(
        seed=seed,
        scale=scale,
        start=start,
        end=end + timedelta(days=day),
        days=days + day,
        day=day,
        files=files,
        raw_rows={source: len(rows) for source, rows in world.raw.items()},
        dirt=world.effective_dirt(),
        normalization={source: dict(+found) for source, found in world.normalization.items() if +found},
        history=world.history,
        added_columns=world.added_columns,
        **_truth(world.effective(), start, days + day),
    )
    for source in raw:
        if manifest.raw_rows[source] != manifest.valid_rows[source] + manifest.rejected_rows(source):
            raise RuntimeError(f"generator bug: {source} rows written != valid rows + counted dirt")
    manifest.write(out_dir)
    return manifest


def main(argv: list[str] | None = None) -> int:
    """Run the generator from the command line; print where the files went.

    >>> import tempfile
    >>> main(["--seed", "5", "--scale", "0.01", "--days", "2", "--out", tempfile.mkdtemp()])  # doctest: +ELLIPSIS
    wrote ... (seed 5, scale 0.01): 10 customers, 50 orders, ... events
    0
    """
    parser = argparse.ArgumentParser(prog="python -m shop.generate", description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, default=Path("data/raw"), help="raw directory to (re)write")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--scale", type=float, default=1.0)
    parser.add_argument("--start", type=date.fromisoformat, default=date(2024, 1, 1), help="first day, YYYY-MM-DD")
    parser.add_argument("--days", type=int, default=31)
    parser.add_argument("--day", type=int, default=0, help="the shop this many days after the window")
    args = parser.parse_args(argv)
    manifest = generate(args.out, seed=args.seed, scale=args.scale, start=args.start, days=args.days, day=args.day)
    print(
        f"wrote {args.out} (seed {args.seed}, scale {args.scale:g}): {manifest.valid_rows['customers']} customers, "
        f"{manifest.valid_rows['orders']} orders, {manifest.valid_rows['events']} events"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
