"""The shop over time: each day's drop of changes, applied to the world of the day before.

``generate(out, day=N)`` writes the raw files as the shop's systems hold them at the end
of day ``N`` after the base window (day 0 is the base snapshot; day ``d`` is the window's
last day plus ``d``). Day ``d`` draws only from ``random.Random(f"{seed}/day/{d}")`` and
applies to the world day ``d - 1`` left, so day ``N``'s files extend day ``N - 1``'s.
Each day brings:

- **new orders** placed that day, with lines and payments; one is written twice
  (``duplicate``, rejected by silver);
- a **late order** placed two days before (inside ``gold.fct_orders``' 3-day lookback)
  and a **very late** one placed ten days before (outside it);
- a **late payment**: an order placed earlier and unpaid is paid that day;
- a **new customer**; customers whose e-mail **changes** with a new ``updated_at`` (the
  first of them also moves country, keeping their phone number);
- a **silent change** (a last name changed, ``updated_at`` not) and a **touch** (a new
  ``updated_at``, nothing else), neither of which may make or hide a version;
- on odd days a customer **deleted** at the source (their row gone from customers.csv;
  their orders stay, so silver holds them as ``orphan_customer`` and their lines and
  payments as ``orphan_order``), **back** two days later with the same row;
- from day 2 a **schema change**: orders.csv gains a ``coupon_code`` column;
- that day's clickstream, in an events file of its own.

Only customers with one raw row, whose orders, lines and payments carry no dirt, are
changed or deleted, so every count of dirt stays exact. New keys come from
:func:`day_key`, far from the base's keys and the dirt's fresh and orphan keys.

>>> day_key(3, 7)
103000007
"""

from __future__ import annotations

import random
from collections import Counter
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from pydantic import BaseModel, ConfigDict

from shop import records
from shop.dirt import raw_text
from shop.domain import COUNTRY_CALLING_CODES, CURRENCY

DROP_KEY_BASE = 100_000_000
"""Keys a day adds are ``DROP_KEY_BASE + day * 1_000_000 + i``."""

SCHEMA_CHANGE_DAY = 2
ADDED_COLUMNS = {"orders": ["coupon_code"]}
"""The columns a source gains on :data:`SCHEMA_CHANGE_DAY`."""

LATE_DAYS, VERY_LATE_DAYS = 2, 10
"""How many days before its drop a late and a very late order was placed."""


def day_key(day: int, index: int) -> int:
    """Return the ``index``-th key (from 0) a day's drop adds to a source."""
    return DROP_KEY_BASE + day * 1_000_000 + index


class DayChanges(BaseModel):
    """What one day's drop changed, by key: the truth the end-to-end tests hold gold against."""

    model_config = ConfigDict(frozen=True)

    day: int
    date: date
    new_orders: list[int]
    late_orders: list[int]
    """Placed :data:`LATE_DAYS` days before the drop: inside the 3-day lookback."""
    very_late_orders: list[int]
    """Placed :data:`VERY_LATE_DAYS` days before the drop: outside the lookback."""
    paid_late: list[int]
    """Orders placed before the drop, first paid in it."""
    new_customers: list[int]
    changed: dict[int, datetime]
    """Customers whose attributes changed with a new ``updated_at`` (the value)."""
    moved: dict[int, str]
    """Customers (among ``changed``) who moved to another country (the value)."""
    silent: list[int]
    """Customers whose last name changed without a new ``updated_at``."""
    touched: list[int]
    """Customers with a new ``updated_at`` and nothing else changed."""
    deleted: list[int]
    returned: list[int]
    added_columns: dict[str, list[str]]


@dataclass
class World:
    """The shop's records, clean and as written, as one day leaves them."""

    clean: dict[str, list[dict]]
    """Clean records per source; ``customers`` holds those present at the source."""
    raw: dict[str, list[dict]]
    """Raw rows per source as the files hold them, dirt included."""
    dirt: dict[str, Counter]
    normalization: dict[str, Counter]
    gone: dict[int, tuple[dict, dict, int]] = field(default_factory=dict)
    """Customers deleted at the source: their clean record, raw row and day, for their return."""
    added_columns: dict[str, list[str]] = field(default_factory=dict)
    history: list[DayChanges] = field(default_factory=list)

    def effective(self) -> dict[str, list[dict]]:
        """The clean records silver must keep: orders of deleted customers (and their lines
        and payments) are orphans while the customer is gone."""
        held = {o["order_id"] for o in self.clean["orders"] if o["customer_id"] in self.gone}
        out = dict(self.clean)
        out["orders"] = [o for o in self.clean["orders"] if o["order_id"] not in held]
        out["order_lines"] = [x for x in self.clean["order_lines"] if x["order_id"] not in held]
        out["payments"] = [p for p in self.clean["payments"] if p["order_id"] not in held]
        return out

    def effective_dirt(self) -> dict[str, dict[str, int]]:
        """Dirt counts, with what the deleted customers' orders turn into."""
        clean, kept = self.clean, self.effective()
        dirt = {source: Counter(counts) for source, counts in self.dirt.items()}
        dirt["orders"]["orphan_customer"] += len(clean["orders"]) - len(kept["orders"])
        dirt["order_lines"]["orphan_order"] += len(clean["order_lines"]) - len(kept["order_lines"])
        dirt["payments"]["orphan_order"] += len(clean["payments"]) - len(kept["payments"])
        return {source: dict(counts) for source, counts in dirt.items()}


def _moment(rng: random.Random, day: date, hours: int = 21) -> datetime:
    """A time on ``day`` before ``hours`` o'clock (a payment up to 2 h later stays on the day)."""
    return datetime.combine(day, datetime.min.time()) + timedelta(seconds=rng.randrange(hours * 3600))


def _plain_customers(world: World) -> list[int]:
    """Customers with exactly one raw row whose orders, lines and payments carry no dirt."""
    rows = Counter(row["customer_id"] for row in world.raw["customers"])
    orders_of: dict[int, list[int]] = {}
    for order in world.clean["orders"]:
        orders_of.setdefault(order["customer_id"], []).append(order["order_id"])
    raw_orders = Counter(row["customer_id"] for row in world.raw["orders"])
    raw_lines = Counter(row["order_id"] for row in world.raw["order_lines"])
    clean_lines = Counter(line["order_id"] for line in world.clean["order_lines"])
    raw_payments = Counter(row["order_id"] for row in world.raw["payments"])
    clean_payments = Counter(payment["order_id"] for payment in world.clean["payments"])
    order_rows = Counter(row["order_id"] for row in world.raw["orders"])
    plain = []
    for customer in world.clean["customers"]:
        cid = customer["customer_id"]
        mine = orders_of.get(cid, [])
        if rows[str(cid)] != 1 or raw_orders[str(cid)] != len(mine):
            continue
        if all(
            order_rows[str(o)] == 1 and raw_lines[o] == clean_lines[o] and raw_payments[str(o)] == clean_payments[o]
            for o in mine
        ):
            plain.append(cid)
    return plain


def _raw_customer(world: World, customer_id: int) -> dict:
    return next(row for row in world.raw["customers"] if row["customer_id"] == str(customer_id))


def _customer_by_id(world: World) -> dict[int, dict]:
    return {c["customer_id"]: c for c in world.clean["customers"]}


def _normalized(raw: dict, clean: dict) -> Counter:
    """The normalization one raw customer row counts for (see :mod:`shop.dirt`)."""
    return Counter(email=raw["email"] != clean["email"], phone=raw["phone"] != raw_text(clean["phone"]))


def _add_orders(world: World, rng: random.Random, day: int, orders: list[dict]) -> None:
    """Add the day's clean orders with their lines and payments, keyed from the day's key range
    (called once a day; the late payment takes the range's last key)."""
    lines = records.make_order_lines(rng, orders, world.clean["products"])
    for offset, line in enumerate(lines):
        line["order_line_id"] = day_key(day, offset)
    payments = records.make_payments(rng, orders, lines)
    for offset, payment in enumerate(payments):
        payment["payment_id"] = day_key(day, offset)
    world.clean["orders"] += orders
    world.clean["order_lines"] += lines
    world.clean["payments"] += payments
    world.raw["orders"] += [{k: raw_text(v) for k, v in o.items()} for o in orders]
    world.raw["order_lines"] += [dict(line) for line in lines]
    world.raw["payments"] += [{k: raw_text(v) for k, v in p.items()} for p in payments]


def _order(order_id: int, customer_id: int, placed: datetime, rng: random.Random) -> dict:
    return {
        "order_id": order_id,
        "customer_id": customer_id,
        "order_ts": placed,
        "status": records.pick(rng, records.STATUS_WEIGHTS),
        "currency": CURRENCY,
        "channel": records.pick(rng, records.CHANNEL_WEIGHTS),
    }


def _new_customer(rng: random.Random, customer_id: int, today: date) -> dict:
    first, last = rng.choice(records.FIRST_NAMES), rng.choice(records.LAST_NAMES)
    country = records.pick(rng, records.COUNTRY_WEIGHTS)
    local = f"{first}.{last}".lower().replace(" ", "")
    return {
        "customer_id": customer_id,
        "first_name": first,
        "last_name": last,
        "email": f"{local}.{customer_id}@{rng.choice(records.EMAIL_DOMAINS)}",
        "phone": None,
        "country": country,
        "signup_date": today,
        "updated_at": _moment(rng, today),
    }


def _orders_of_day(world: World, rng: random.Random, day: int, today: date, per_day: int) -> dict[str, list[int]]:
    present = sorted(c["customer_id"] for c in world.clean["customers"])
    placed = [_moment(rng, today) for _ in range(per_day)]
    placed += [_moment(rng, today - timedelta(days=LATE_DAYS)), _moment(rng, today - timedelta(days=VERY_LATE_DAYS))]
    orders = [_order(day_key(day, i), rng.choice(present), moment, rng) for i, moment in enumerate(placed)]
    _add_orders(world, rng, day, orders)
    if "coupon_code" in world.added_columns.get("orders", []):  # the new column, on the new rows
        for row in world.raw["orders"][-len(orders) :]:
            row["coupon_code"] = "WELCOME10" if rng.random() < 0.2 else None
    twice = dict(world.raw["orders"][-(len(orders) - rng.randrange(per_day))])  # a new order sent twice
    world.raw["orders"].insert(len(world.raw["orders"]) - rng.randrange(len(orders)), twice)
    world.dirt["orders"]["duplicate"] += 1
    ids = [o["order_id"] for o in orders]
    return {"new_orders": ids[:per_day], "late_orders": [ids[-2]], "very_late_orders": [ids[-1]]}


def _pay_late(world: World, rng: random.Random, day: int, today: date) -> list[int]:
    """Pay one earlier, unpaid, still-placed order of a present customer today."""
    paid = {p["order_id"] for p in world.clean["payments"]}
    present = {c["customer_id"] for c in world.clean["customers"]}
    waiting = [
        o
        for o in world.clean["orders"]
        if o["status"] == "placed" and o["order_id"] not in paid and o["customer_id"] in present
    ]
    if not waiting:
        return []
    order = rng.choice(waiting)
    amount = sum((records.line_amount(x) for x in world.clean["order_lines"] if x["order_id"] == order["order_id"]))
    payment = {
        "payment_id": day_key(day, 999_999),
        "order_id": order["order_id"],
        "paid_ts": _moment(rng, today),
        "method": records.pick(rng, records.PAYMENT_METHOD_WEIGHTS),
        "amount": amount,
    }
    world.clean["payments"].append(payment)
    world.raw["payments"].append({k: raw_text(v) for k, v in payment.items()})
    return [order["order_id"]]


def _return_customers(world: World, rng: random.Random, day: int) -> list[int]:
    """Bring back, with their old row, the customers deleted two days before."""
    back = sorted(cid for cid, (_, _, deleted_on) in world.gone.items() if deleted_on == day - 2)
    for cid in back:
        record, row, _ = world.gone.pop(cid)
        world.clean["customers"].append(record)
        world.raw["customers"].insert(rng.randrange(len(world.raw["customers"]) + 1), row)
        world.normalization["customers"] += _normalized(row, record)
    return back


def _change_customers(world: World, rng: random.Random, day: int, today: date) -> dict:
    """New, changed, moved, silently changed, touched, deleted and returned customers."""
    out: dict = {"changed": {}, "moved": {}, "returned": _return_customers(world, rng, day)}
    midnight = datetime.combine(today, datetime.min.time())
    by_id = _customer_by_id(world)
    candidates = [c for c in _plain_customers(world) if by_id[c]["updated_at"] < midnight and c not in out["returned"]]
    changes = max(1, round(0.01 * len(by_id)))
    if len(candidates) < changes + 3:
        raise ValueError(f"day {day}: too few customers to change ({len(candidates)}); use a larger scale")
    rng.shuffle(candidates)
    chosen, (silent, touched, deleted) = candidates[:changes], candidates[changes : changes + 3]
    for index, cid in enumerate(chosen):
        record, row = by_id[cid], _raw_customer(world, cid)
        world.normalization["customers"] -= _normalized(row, record)
        local = f"{record['first_name']}.{record['last_name']}".lower().replace(" ", "")
        record["email"] = row["email"] = f"{local}.{cid}.d{day}@{rng.choice(records.EMAIL_DOMAINS)}"
        if index == 0:  # moves country and keeps the phone number (now written canonically)
            record["country"] = row["country"] = rng.choice(sorted(set(COUNTRY_CALLING_CODES) - {record["country"]}))
            row["phone"] = raw_text(record["phone"])
            out["moved"][cid] = record["country"]
        record["updated_at"] = _moment(rng, today)
        row["updated_at"] = raw_text(record["updated_at"])
        world.normalization["customers"] += _normalized(row, record)
        out["changed"][cid] = record["updated_at"]
    record, row = by_id[silent], _raw_customer(world, silent)
    record["last_name"] = row["last_name"] = rng.choice(sorted(set(records.LAST_NAMES) - {record["last_name"]}))
    record, row = by_id[touched], _raw_customer(world, touched)
    record["updated_at"] = _moment(rng, today)
    row["updated_at"] = raw_text(record["updated_at"])
    out.update(silent=[silent], touched=[touched], deleted=[])
    if day % 2 == 1:
        record, row = by_id[deleted], _raw_customer(world, deleted)
        world.raw["customers"].remove(row)
        world.clean["customers"].remove(record)
        world.normalization["customers"] -= _normalized(row, record)
        world.gone[deleted] = (record, row, day)
        out["deleted"].append(deleted)
    new = _new_customer(rng, day_key(day, 0), today)
    world.clean["customers"].append(new)
    world.raw["customers"].append({k: raw_text(v) for k, v in new.items()})
    out["new_customers"] = [new["customer_id"]]
    return out


def _events_of_day(world: World, rng: random.Random, day: int, today: date, sessions: int) -> None:
    """The day's clickstream, every event received that day (a file of its own)."""
    customers = max(c["customer_id"] for c in world.clean["customers"] if c["customer_id"] < DROP_KEY_BASE)
    events = records.make_events(rng, sessions, customers, len(world.clean["products"]), today, 1)
    for event in events:
        event["event_id"] = f"ev-d{day:03d}-{event['event_id'][3:]}"
        event["session_id"] = f"ss-d{day:03d}-{event['session_id'][3:]}"
    world.clean["events"] += events
    world.raw["events"] += [{k: raw_text(v) if k.endswith("_ts") else v for k, v in e.items()} for e in events]


def advance(world: World, seed: int, day: int, today: date, *, orders: int, sessions: int) -> DayChanges:
    """Apply day ``day``'s drop (its date ``today``) to ``world`` and return what it changed.

    ``orders`` new orders and ``sessions`` browsing sessions are added, besides the late
    orders, the late payment and the customer changes of the module docstring.
    """
    rng = random.Random(f"{seed}/day/{day}")
    if day == SCHEMA_CHANGE_DAY:
        world.added_columns.update(ADDED_COLUMNS)
    placed = _orders_of_day(world, rng, day, today, orders)
    paid = _pay_late(world, rng, day, today)
    customers = _change_customers(world, rng, day, today)
    _events_of_day(world, rng, day, today, sessions)
    changes = DayChanges(
        day=day,
        date=today,
        paid_late=paid,
        added_columns=ADDED_COLUMNS if day == SCHEMA_CHANGE_DAY else {},
        **placed,
        **customers,
    )
    world.history.append(changes)
    return changes
