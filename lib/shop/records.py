"""Clean shop records: the generator's world before any dirt is added.

Every function draws from the ``random.Random`` it is given, in a fixed order, so the
same seed gives the same records. Values are typed Python (``int``, ``Decimal``,
``date``, naive UTC ``datetime``); :mod:`shop.dirt` turns them into raw rows.

>>> import random
>>> customers = make_customers(random.Random(1), 3, date(2024, 1, 1))
>>> [c["customer_id"] for c in customers]
[1, 2, 3]
>>> all(c["email"] == c["email"].strip().lower() for c in customers)
True
"""

from __future__ import annotations

import random
from bisect import bisect
from datetime import date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from itertools import accumulate

from shop.domain import COUNTRY_CALLING_CODES, CURRENCY

CENT = Decimal("0.01")

FIRST_NAMES = (
    "Anna",
    "Bram",
    "Chloe",
    "Daan",
    "Emma",
    "Finn",
    "Greta",
    "Hugo",
    "Iris",
    "Jules",
    "Katja",
    "Lars",
    "Mila",
    "Noah",
    "Olga",
    "Pieter",
    "Quinn",
    "Rosa",
    "Sven",
    "Tess",
    "Umar",
    "Vera",
    "Willem",
    "Xenia",
    "Yara",
    "Zeno",
    "Liam",
    "Sophie",
    "Lucas",
    "Julia",
)
LAST_NAMES = (
    "de Vries",
    "Jansen",
    "Bakker",
    "Visser",
    "Smit",
    "Meyer",
    "Schulz",
    "Martin",
    "Bernard",
    "Dubois",
    "Smith",
    "Jones",
    "Taylor",
    "Brown",
    "Peeters",
    "Maes",
    "Garcia",
    "Miller",
    "Wagner",
    "Becker",
    "Laurent",
    "Moreau",
    "Wilson",
    "Evans",
    "Claes",
    "Mertens",
)
EMAIL_DOMAINS = ("example.com", "example.org", "mail.test", "post.test")

COUNTRY_WEIGHTS = {"NL": 30, "DE": 25, "FR": 15, "BE": 10, "GB": 10, "US": 10}

PRODUCT_NOUNS = {
    "kitchen": ("Kettle", "Teapot", "Chef Knife", "Cutting Board", "Mug"),
    "garden": ("Trowel", "Watering Can", "Seed Tray", "Hose", "Planter"),
    "books": ("Cookbook", "Novel", "Field Guide", "Atlas", "Notebook"),
    "toys": ("Kite", "Puzzle", "Yo-yo", "Marble Run", "Puppet"),
    "outdoor": ("Tent", "Lantern", "Flask", "Backpack", "Hammock"),
    "apparel": ("Scarf", "Beanie", "Raincoat", "Sweater", "Socks"),
    "electronics": ("Headphones", "Charger", "Speaker", "Cable", "Power Bank"),
    "home": ("Lamp", "Cushion", "Blanket", "Vase", "Clock"),
}
PRODUCT_ADJECTIVES = ("Classic", "Compact", "Deluxe", "Eco", "Nordic", "Rustic", "Urban", "Vintage")

STATUS_WEIGHTS = {"placed": 8, "shipped": 15, "delivered": 62, "cancelled": 8, "returned": 7}
CHANNEL_WEIGHTS = {"web": 55, "app": 35, "marketplace": 10}
PAYMENT_METHOD_WEIGHTS = {"card": 50, "paypal": 25, "ideal": 15, "gift_card": 10}
LINES_PER_ORDER_WEIGHTS = {1: 25, 2: 30, 3: 25, 4: 12, 5: 8}
QUANTITY_WEIGHTS = {1: 60, 2: 25, 3: 10, 4: 5}
DISCOUNT_PERCENT_WEIGHTS = {0: 75, 5: 10, 10: 8, 15: 4, 20: 3}


def pick(rng: random.Random, weights: dict):
    """Return one key of ``weights``, drawn with the given integer weights.

    >>> pick(random.Random(0), {"only": 1})
    'only'
    """
    keys, cumulative = _CUMULATIVE.get(id(weights)) or _cumulate(weights)
    return keys[bisect(cumulative, rng.random() * cumulative[-1])]


def _cumulate(weights: dict) -> tuple[tuple, list[int]]:
    return tuple(weights), list(accumulate(weights.values()))


_CUMULATIVE = {
    id(table): _cumulate(table)
    for table in (
        COUNTRY_WEIGHTS,
        STATUS_WEIGHTS,
        CHANNEL_WEIGHTS,
        PAYMENT_METHOD_WEIGHTS,
        LINES_PER_ORDER_WEIGHTS,
        QUANTITY_WEIGHTS,
        DISCOUNT_PERCENT_WEIGHTS,
    )
}
"""Cumulative weights of the module's tables, computed once (``pick`` is called ~50,000 times)."""


def _national_number(rng: random.Random, country: str) -> str:
    """Return a national significant number (no trunk 0, no calling code)."""
    if country == "US":
        return f"{rng.randint(2, 9)}{rng.randint(0, 99):02d}{rng.randint(2, 9)}{rng.randint(0, 999999):06d}"
    prefix = {"NL": "6", "DE": "15", "FR": "6", "BE": "4", "GB": "7"}[country]
    return prefix + "".join(str(rng.randint(0, 9)) for _ in range(10 - len(prefix) - (country != "GB")))


def make_customers(rng: random.Random, count: int, start: date) -> list[dict]:
    """Return ``count`` clean customers who signed up in the two years before ``start``.

    ``phone`` is E.164 (``+<calling code><number>``) or ``None`` (5%): phone is optional.
    """
    customers = []
    for customer_id in range(1, count + 1):
        first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
        country = pick(rng, COUNTRY_WEIGHTS)
        signup = start - timedelta(days=rng.randint(1, 730))
        national = _national_number(rng, country)
        local = f"{first}.{last}".lower().replace(" ", "")
        customers.append(
            {
                "customer_id": customer_id,
                "first_name": first,
                "last_name": last,
                "email": f"{local}.{customer_id}@{rng.choice(EMAIL_DOMAINS)}",
                "phone": None if rng.random() < 0.05 else f"+{COUNTRY_CALLING_CODES[country]}{national}",
                "country": country,
                "signup_date": signup,
                "updated_at": datetime.combine(signup, datetime.min.time())
                + timedelta(seconds=rng.randint(3600, 90 * 86400)),
            }
        )
    return customers


def make_products(rng: random.Random, count: int) -> list[dict]:
    """Return ``count`` clean products; ``unit_price`` is a whole-cent ``Decimal``."""
    categories = list(PRODUCT_NOUNS)
    products = []
    for product_id in range(1, count + 1):
        category = rng.choice(categories)
        products.append(
            {
                "product_id": product_id,
                "sku": f"SKU-{product_id:05d}",
                "name": f"{rng.choice(PRODUCT_ADJECTIVES)} {rng.choice(PRODUCT_NOUNS[category])}",
                "category": category,
                "unit_price": Decimal(rng.randint(199, 24999)) / 100,
                "active": rng.random() < 0.9,
            }
        )
    return products


def make_orders(rng: random.Random, count: int, customer_count: int, start: date, days: int) -> list[dict]:
    """Return ``count`` clean orders placed in the window, by customers ``1..customer_count``."""
    window_start = datetime.combine(start, datetime.min.time())
    return [
        {
            "order_id": order_id,
            "customer_id": rng.randint(1, customer_count),
            "order_ts": window_start + timedelta(seconds=rng.randrange(days * 86400)),
            "status": pick(rng, STATUS_WEIGHTS),
            "currency": CURRENCY,
            "channel": pick(rng, CHANNEL_WEIGHTS),
        }
        for order_id in range(1, count + 1)
    ]


def make_order_lines(rng: random.Random, orders: list[dict], products: list[dict]) -> list[dict]:
    """Return the clean lines of ``orders``: 1-5 distinct products each, priced from the catalogue.

    ``discount`` is 0 or a percentage of ``quantity * unit_price`` rounded half-up to cents.
    """
    lines = []
    for order in orders:
        for product in rng.sample(products, min(len(products), pick(rng, LINES_PER_ORDER_WEIGHTS))):
            quantity = pick(rng, QUANTITY_WEIGHTS)
            percent = pick(rng, DISCOUNT_PERCENT_WEIGHTS)
            gross = quantity * product["unit_price"]
            lines.append(
                {
                    "order_line_id": len(lines) + 1,
                    "order_id": order["order_id"],
                    "product_id": product["product_id"],
                    "quantity": quantity,
                    "unit_price": product["unit_price"],
                    "discount": (gross * percent / 100).quantize(CENT, rounding=ROUND_HALF_UP),
                }
            )
    return lines


def line_amount(line: dict) -> Decimal:
    """Return what a line earns: ``quantity * unit_price - discount``.

    >>> line_amount({"quantity": 3, "unit_price": Decimal("9.99"), "discount": Decimal("1.50")})
    Decimal('28.47')
    """
    return line["quantity"] * line["unit_price"] - line["discount"]


def make_payments(rng: random.Random, orders: list[dict], lines: list[dict]) -> list[dict]:
    """Return one payment of the order's full amount per paid order.

    Cancelled orders are never paid, ``placed`` orders half of the time, all others always.
    """
    totals: dict[int, Decimal] = {}
    for line in lines:
        totals[line["order_id"]] = totals.get(line["order_id"], Decimal("0")) + line_amount(line)
    payments = []
    for order in orders:
        paid = order["status"] != "cancelled" and (order["status"] != "placed" or rng.random() < 0.5)
        if paid:
            payments.append(
                {
                    "payment_id": len(payments) + 1,
                    "order_id": order["order_id"],
                    "paid_ts": order["order_ts"] + timedelta(seconds=rng.randint(30, 7200)),
                    "method": pick(rng, PAYMENT_METHOD_WEIGHTS),
                    "amount": totals[order["order_id"]],
                }
            )
    return payments


def make_events(
    rng: random.Random, sessions: int, customer_count: int, product_count: int, start: date, days: int
) -> list[dict]:
    """Return clean clickstream events of ``sessions`` browsing sessions in the window.

    A session is 1-6 page views, then maybe add to cart, checkout and purchase. 60% of
    sessions belong to a customer, the rest are anonymous. Events arrive 0-5 s after they
    happen; 2% arrive 1-3 days late, but never after the last day of the window.
    """
    window_start = datetime.combine(start, datetime.min.time())
    last_day = start + timedelta(days=days - 1)
    events: list[dict] = []
    for session in range(1, sessions + 1):
        customer_id = rng.randint(1, customer_count) if rng.random() < 0.6 else None
        moment = window_start + timedelta(seconds=rng.randrange(days * 86400 - 7200))
        steps = [
            ("page_view", rng.randint(1, product_count) if rng.random() < 0.75 else None)
            for _ in range(rng.randint(1, 6))
        ]
        if rng.random() < 0.4:
            steps.append(("add_to_cart", rng.randint(1, product_count)))
            if rng.random() < 0.6:
                steps.append(("checkout", None))
                if rng.random() < 0.75:
                    steps.append(("purchase", None))
        for event_type, product_id in steps:
            moment += timedelta(seconds=rng.randint(5, 240))
            received = moment + timedelta(seconds=rng.randint(0, 5))
            if rng.random() < 0.02:
                delay = timedelta(days=rng.randint(1, 3), seconds=rng.randint(0, 3600))
                if (moment + delay).date() <= last_day:
                    received = moment + delay
            events.append(
                {
                    "event_id": f"ev-{len(events) + 1:07d}",
                    "session_id": f"ss-{session:06d}",
                    "customer_id": customer_id,
                    "event_type": event_type,
                    "product_id": product_id,
                    "event_ts": moment,
                    "received_ts": received,
                }
            )
    return events
