"""Turn clean shop records into raw rows, with deliberate and counted dirt.

Two kinds of dirt, both counted per source:

* **rejects**: extra rows silver must reject, counted under the exact ``reason`` code
  silver gives them (``duplicate``, ``superseded``, ``missing_email``, ...). Rows with a
  fresh key carry exactly one fault and no children, so rejecting them never
  cascades; orphans point at keys >= ``ORPHAN_KEY_BASE`` that exist nowhere.
* **normalization**: valid rows written in a non-canonical form (e-mail case and blanks,
  phone formats, status and currency case) that silver must normalize, not reject.

CSV sources come out as text (``None`` is written as an empty field); parquet and
JSON sources keep their types. Every function returns ``(rows, rejects, normalization)``.

>>> import random
>>> from shop.records import make_customers
>>> clean = make_customers(random.Random(0), 100, date(2024, 1, 1))
>>> rows, rejects, normalization = dirty_customers(random.Random(0), clean)
>>> len(rows) == len(clean) + sum(rejects.values())
True
"""

from __future__ import annotations

import random
from collections import Counter
from datetime import date, datetime, timedelta

from shop.domain import COUNTRY_CALLING_CODES

ORPHAN_KEY_BASE = 10_000_000
"""Orphan foreign keys are ``ORPHAN_KEY_BASE + i``: no generated row ever has such a key."""

Rows = list[dict]
Result = tuple[Rows, dict[str, int], dict[str, int]]


def dirt_count(rate: float, rows: int) -> int:
    """Return how many dirty rows to inject: ``rate`` of ``rows``, at least one.

    >>> dirt_count(0.02, 1000), dirt_count(0.02, 10)
    (20, 1)
    """
    return max(1, round(rate * rows))


def raw_text(value) -> str | None:
    """Return a value as a raw file holds it: text, timestamps as ``YYYY-MM-DD HH:MM:SS``, ``None`` kept.

    >>> raw_text(datetime(2024, 1, 2, 3, 4, 5)), raw_text(7), raw_text(None)
    ('2024-01-02 03:04:05', '7', None)
    """
    if value is None:
        return None
    if isinstance(value, datetime):
        return value.isoformat(sep=" ", timespec="seconds")  # raw_files.TIMESTAMP_FORMAT
    if isinstance(value, date):
        return value.isoformat()
    return str(value)


def _insert_randomly(rng: random.Random, rows: Rows, extra: Rows) -> Rows:
    rows = list(rows)
    for row in extra:
        rows.insert(rng.randrange(len(rows) + 1), row)
    return rows


def _with(row: dict, **changes) -> dict:
    return {**row, **changes}


def messy_email(rng: random.Random, email: str) -> str:
    """Return ``email`` in upper case and/or with surrounding blanks (never unchanged).

    >>> messy_email(random.Random(3), "ann@example.com").strip().lower()
    'ann@example.com'
    """
    style = rng.choice(("upper", "title", "blanks", "upper_blanks"))
    if style == "upper":
        return email.upper()
    if style == "title":
        return email[:1].upper() + email[1:]
    blanked = f"  {email} " if style == "blanks" else f" {email.upper()}"
    return blanked


def phone_format(rng: random.Random, e164: str, country: str) -> str:
    """Return an E.164 number in one of the formats people type (maybe E.164 itself).

    >>> sorted({phone_format(random.Random(i), "+31612345678", "NL") for i in range(40)})
    ['+31 6 1234 5678', '+31612345678', '0031 612345678', '06-12345678', '06.12.34.56.78']
    """
    code = COUNTRY_CALLING_CODES[country]
    number = e164[1 + len(code) :]
    style = rng.choice(("e164", "spaced", "intl00", "national", "dotted"))
    if style == "e164":
        return e164
    if style == "intl00":
        return f"00{code} {number}"
    if country == "US":
        return {
            "spaced": f"+1 {number[:3]} {number[3:6]} {number[6:]}",
            "national": f"({number[:3]}) {number[3:6]}-{number[6:]}",
            "dotted": f"{number[:3]}.{number[3:6]}.{number[6:]}",
        }[style]
    if style == "spaced":
        return f"+{code} {number[:1]} {number[1:5]} {number[5:]}"
    if style == "national":
        return f"0{number[:1]}-{number[1:]}"
    national = "0" + number
    return ".".join(national[i : i + 2] for i in range(0, len(national), 2))


def dirty_customers(rng: random.Random, customers: Rows) -> Result:
    """Return raw customer rows: messy e-mails/phones plus duplicates, old versions and bad rows.

    An old version has the same ``customer_id``, an older ``updated_at`` and a former
    e-mail; the row with the latest ``updated_at`` is the truth.
    """
    normalization: Counter = Counter()
    rows = []
    for customer in customers:
        row = {key: raw_text(value) for key, value in customer.items()}
        if rng.random() < 0.12:
            row["email"] = messy_email(rng, row["email"])
            normalization["email"] += 1
        if row["phone"] is not None:
            row["phone"] = phone_format(rng, row["phone"], customer["country"])
            normalization["phone"] += row["phone"] != customer["phone"]
        rows.append(row)
    count = len(customers)
    extra: Rows = []
    for customer in rng.sample(customers, dirt_count(0.03, count)):
        signed_up = datetime.combine(customer["signup_date"], datetime.min.time())
        newer_by = int((customer["updated_at"] - signed_up).total_seconds())
        former = f"{customer['first_name'][0]}{customer['last_name']}@oldmail.test".lower().replace(" ", "")
        extra.append(
            _with(
                rows[customer["customer_id"] - 1],
                email=former,
                updated_at=raw_text(signed_up + timedelta(seconds=rng.randrange(newer_by))),
            )
        )
    rejects = {"superseded": len(extra)}
    rejects["duplicate"] = dirt_count(0.02, count)
    extra += [dict(row) for row in rng.sample(rows, rejects["duplicate"])]
    fresh_id = iter(range(count + 1, 2 * count + 100))
    rejects["missing_email"] = dirt_count(0.01, count)
    extra += [
        _with(rng.choice(rows), customer_id=str(next(fresh_id)), email=None) for _ in range(rejects["missing_email"])
    ]
    rejects["invalid_signup_date"] = dirt_count(0.005, count)
    extra += [
        _with(
            rng.choice(rows),
            customer_id=str(next(fresh_id)),
            signup_date=rng.choice(("unknown", "31/12/2023", "2023-13-01x")),
        )
        for _ in range(rejects["invalid_signup_date"])
    ]
    return _insert_randomly(rng, rows, extra), rejects, dict(normalization)


def dirty_products(rng: random.Random, products: Rows) -> Result:
    """Return raw product rows (``unit_price`` as float) plus exact duplicates and rows without SKU."""
    rows = [_with(product, unit_price=float(product["unit_price"])) for product in products]
    count = len(products)
    rejects = {"duplicate": dirt_count(0.01, count), "missing_sku": dirt_count(0.01, count)}
    extra = [dict(row) for row in rng.sample(rows, rejects["duplicate"])]
    extra += [_with(rng.choice(rows), product_id=count + 1 + i, sku=None) for i in range(rejects["missing_sku"])]
    return _insert_randomly(rng, rows, extra), rejects, {}


def dirty_orders(rng: random.Random, orders: Rows) -> Result:
    """Return raw order rows: mixed-case status/currency plus duplicates and faulty orders.

    Faulty orders have fresh ids and no lines or payments.
    """
    normalization: Counter = Counter()
    rows = []
    for order in orders:
        row = {key: raw_text(value) for key, value in order.items()}
        if rng.random() < 0.03:
            row["status"] = rng.choice((row["status"].upper(), row["status"].capitalize(), f" {row['status']} "))
            normalization["status"] += 1
        if rng.random() < 0.05:
            row["currency"] = rng.choice(("eur", " EUR", "Eur", "EUR "))
            normalization["currency"] += 1
        rows.append(row)
    count = len(orders)
    rejects = {
        "duplicate": dirt_count(0.015, count),
        "missing_customer_id": dirt_count(0.005, count),
        "invalid_order_ts": dirt_count(0.005, count),
        "invalid_status": dirt_count(0.003, count),
        "orphan_customer": dirt_count(0.005, count),
    }
    extra = [dict(row) for row in rng.sample(rows, rejects["duplicate"])]
    fresh_id = iter(range(count + 1, 2 * count + 100))
    faults = {
        "missing_customer_id": lambda i: {"customer_id": None},
        "invalid_order_ts": lambda i: {"order_ts": rng.choice(("not-a-date", "2024/01/05 10:00", "yesterday"))},
        "invalid_status": lambda i: {"status": rng.choice(("lost", "pending_review"))},
        "orphan_customer": lambda i: {"customer_id": str(ORPHAN_KEY_BASE + i)},
    }
    for reason, fault in faults.items():
        extra += [_with(rng.choice(rows), order_id=str(next(fresh_id)), **fault(i)) for i in range(rejects[reason])]
    return _insert_randomly(rng, rows, extra), rejects, dict(normalization)


def dirty_order_lines(rng: random.Random, lines: Rows) -> Result:
    """Return raw order lines plus lines without or with a non-positive quantity, and orphans."""
    count = len(lines)
    rejects = {
        "missing_quantity": dirt_count(0.003, count),
        "invalid_quantity": dirt_count(0.003, count),
        "orphan_order": dirt_count(0.005, count),
        "orphan_product": dirt_count(0.005, count),
    }
    faults = {
        "missing_quantity": lambda i: {"quantity": None},
        "invalid_quantity": lambda i: {"quantity": rng.choice((0, -1))},
        "orphan_order": lambda i: {"order_id": ORPHAN_KEY_BASE + i},
        "orphan_product": lambda i: {"product_id": ORPHAN_KEY_BASE + i},
    }
    fresh_id = iter(range(count + 1, 2 * count + 100))
    extra = []
    for reason, fault in faults.items():
        extra += [_with(rng.choice(lines), order_line_id=next(fresh_id), **fault(i)) for i in range(rejects[reason])]
    return _insert_randomly(rng, lines, extra), rejects, {}


def dirty_payments(rng: random.Random, payments: Rows) -> Result:
    """Return raw payments plus duplicates, unparseable amounts and payments for missing orders."""
    rows = [{key: raw_text(value) for key, value in payment.items()} for payment in payments]
    count = len(payments)
    rejects = {
        "duplicate": dirt_count(0.01, count),
        "invalid_amount": dirt_count(0.005, count),
        "orphan_order": dirt_count(0.005, count),
    }
    extra = [dict(row) for row in rng.sample(rows, rejects["duplicate"])]
    fresh_id = iter(range(count + 1, 2 * count + 100))
    extra += [
        _with(rng.choice(rows), payment_id=str(next(fresh_id)), amount=rng.choice(("N/A", "12,50", "twelve", "€10.00")))
        for _ in range(rejects["invalid_amount"])
    ]
    extra += [
        _with(rng.choice(rows), payment_id=str(next(fresh_id)), order_id=str(ORPHAN_KEY_BASE + i))
        for i in range(rejects["orphan_order"])
    ]
    return _insert_randomly(rng, rows, extra), rejects, {}


def dirty_events(rng: random.Random, events: Rows) -> Result:
    """Return raw events sorted by ``received_ts``: duplicates, events without time or of unknown type.

    A duplicate is the same event delivered twice (identical line, same file).
    """
    rows = [
        {key: raw_text(value) if key.endswith("_ts") else value for key, value in event.items()} for event in events
    ]
    count = len(events)
    rejects = {
        "duplicate": dirt_count(0.015, count),
        "missing_event_ts": dirt_count(0.003, count),
        "invalid_event_type": dirt_count(0.003, count),
    }
    extra = [dict(row) for row in rng.sample(rows, rejects["duplicate"])]
    fresh_id = (f"ev-{number:07d}" for number in range(count + 1, 2 * count + 100))
    extra += [
        _with(rng.choice(rows), event_id=next(fresh_id), event_ts=None) for _ in range(rejects["missing_event_ts"])
    ]
    extra += [
        _with(rng.choice(rows), event_id=next(fresh_id), event_type=rng.choice(("click", "scroll", "hover")))
        for _ in range(rejects["invalid_event_type"])
    ]
    rows = _insert_randomly(rng, rows, extra)
    rows.sort(key=lambda row: row["received_ts"])
    return rows, rejects, {}
