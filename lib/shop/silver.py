"""Silver: typed, cleaned, deduplicated and conformed shop tables, plus what was rejected.

Every source has three functions: ``classify_<source>`` (a
:class:`~millpond.model.rejection.Classified`), ``clean_<source>`` (the clean rows) and
``rejected_<source>`` (the raw rows that were dropped, with a ``reason``). For every
source ``count(bronze) == count(clean) + count(rejected)``. Orphans are rejected, not
kept flagged, and children are checked against their *clean* parents, so a rejected
order takes its lines and payments with it (``orphan_order``).

Reason codes, in the order they are checked (first match wins; see
:mod:`millpond.model.rejection` for ``duplicate``/``superseded``/``duplicate_key``, and
for ``malformed_row``, checked first in the CSV sources: a raw row that did not parse):

===========  ==================================================================
customers    missing/invalid_customer_id, missing_email, invalid_email,
             missing/invalid_signup_date, missing/invalid_updated_at,
             duplicate, superseded (latest ``updated_at`` wins)
products     missing/invalid_product_id, missing_sku, missing_name,
             missing/invalid_unit_price (also negative), duplicate, duplicate_key
orders       missing/invalid_order_id, missing/invalid_customer_id,
             missing/invalid_order_ts, missing/invalid_status,
             missing/invalid_currency, duplicate, duplicate_key, orphan_customer
order_lines  missing/invalid_order_line_id, missing/invalid_order_id,
             missing/invalid_product_id, missing/invalid_quantity (also <= 0),
             missing/invalid_unit_price (also negative), invalid_discount
             (negative or above quantity * unit_price), duplicate, duplicate_key,
             orphan_order, orphan_product
payments     missing/invalid_payment_id, missing/invalid_order_id,
             missing/invalid_paid_ts, missing/invalid_amount (also negative),
             duplicate, duplicate_key, orphan_order
events       missing_event_id, missing_session_id, invalid_customer_id,
             invalid_product_id, missing/invalid_event_type,
             missing/invalid_event_ts, missing/invalid_received_ts, duplicate,
             duplicate_key
===========  ==================================================================

Cleaning: text is trimmed (blank = NULL); e-mails lower-cased; phones E.164 (see
:func:`~millpond.model.parse.normalize_phone`); countries and currencies upper-case;
statuses, channels, methods and event types lower-case; money decimal(18, 2); a missing
``discount`` is 0. Events are not checked against customers or products (clickstream
is kept even for unknown ids); ``is_late`` marks events received on a later UTC day.

>>> import ibis
>>> import pyarrow as pa
>>> bronze = ibis.memtable(pa.table({"order_id": ["1", "1", "2"], "customer_id": ["7", "7", "8"],
...     "order_ts": ["2024-01-02 10:00:00"] * 3, "status": [" Shipped", " Shipped", "lost"],
...     "currency": ["eur"] * 3, "channel": ["web"] * 3}))
>>> customers = ibis.memtable(pa.table({"customer_id": [7, 8]}))
>>> con = ibis.duckdb.connect()
>>> con.to_pyarrow(clean_orders(bronze, customers).select("order_id", "status", "currency")).to_pylist()
[{'order_id': 1, 'status': 'shipped', 'currency': 'EUR'}]
>>> sorted(con.to_pyarrow(rejected_orders(bronze, customers))["reason"].to_pylist())
['duplicate', 'invalid_status']
"""

from __future__ import annotations

from collections.abc import Sequence

import ibis.expr.types as ir

from millpond.model.parse import (
    blank_to_null,
    normalize_email,
    normalize_phone,
    parse_date,
    parse_int,
    parse_money,
    parse_timestamp,
)
from millpond.model.rejection import Classified, classify
from shop.domain import COUNTRY_CALLING_CODES, CURRENCIES, EVENT_TYPES, ORDER_STATUSES

EMAIL_PATTERN = r"^[^@\s]+@[^@\s]+\.[^@\s]+$"


def _present(raw: ir.Value) -> ir.BooleanValue:
    return blank_to_null(raw).notnull() if raw.type().is_string() else raw.notnull()


def _required(raw: ir.Value, parsed: ir.Value, name: str) -> list[tuple[ir.BooleanValue, str]]:
    """Checks for a required value: ``missing_<name>`` when absent, ``invalid_<name>`` when unparseable."""
    return [(~_present(raw), f"missing_{name}"), (parsed.isnull(), f"invalid_{name}")]


def _optional(raw: ir.Value, parsed: ir.Value, name: str) -> list[tuple[ir.BooleanValue, str]]:
    """Check for an optional value: ``invalid_<name>`` when present but unparseable."""
    return [(_present(raw) & parsed.isnull(), f"invalid_{name}")]


def _text(raw: ir.Value) -> ir.StringValue:
    return blank_to_null(raw.cast("string"))


def classify_customers(bronze: ir.Table) -> Classified:
    """Type and check raw customers; the latest valid ``updated_at`` per customer wins."""
    country = _text(bronze.country).upper()
    typed = {
        "customer_id": parse_int(bronze.customer_id),
        "first_name": _text(bronze.first_name),
        "last_name": _text(bronze.last_name),
        "email": normalize_email(bronze.email),
        "phone": normalize_phone(bronze.phone, country.substitute(COUNTRY_CALLING_CODES)),
        "country": country,
        "signup_date": parse_date(bronze.signup_date),
        "updated_at": parse_timestamp(bronze.updated_at),
    }
    checks = [
        *_required(bronze.customer_id, typed["customer_id"], "customer_id"),
        (typed["email"].isnull(), "missing_email"),
        (~typed["email"].re_search(EMAIL_PATTERN), "invalid_email"),
        *_required(bronze.signup_date, typed["signup_date"], "signup_date"),
        *_required(bronze.updated_at, typed["updated_at"], "updated_at"),
    ]
    return classify(bronze, typed=typed, row_checks=checks, key=["customer_id"], version="updated_at")


def classify_products(bronze: ir.Table) -> Classified:
    """Type and check raw products; ``unit_price`` becomes decimal(18, 2)."""
    typed = {
        "product_id": parse_int(bronze.product_id),
        "sku": _text(bronze.sku),
        "name": _text(bronze.name),
        "category": _text(bronze.category).lower(),
        "unit_price": parse_money(bronze.unit_price),
        "active": bronze.active.cast("boolean").fill_null(False),
    }
    checks = [
        *_required(bronze.product_id, typed["product_id"], "product_id"),
        (typed["sku"].isnull(), "missing_sku"),
        (typed["name"].isnull(), "missing_name"),
        *_required(bronze.unit_price, typed["unit_price"], "unit_price"),
        (typed["unit_price"] < 0, "invalid_unit_price"),
    ]
    return classify(bronze, typed=typed, row_checks=checks, key=["product_id"])


def classify_orders(bronze: ir.Table, customers: ir.Table, *, currencies: Sequence[str] = CURRENCIES) -> Classified:
    """Type, conform and check raw orders against the clean ``customers``.

    ``order_date`` is the UTC date of ``order_ts``.
    """
    order_ts = parse_timestamp(bronze.order_ts)
    typed = {
        "order_id": parse_int(bronze.order_id),
        "customer_id": parse_int(bronze.customer_id),
        "order_ts": order_ts,
        "order_date": order_ts.date(),
        "status": _text(bronze.status).lower(),
        "currency": _text(bronze.currency).upper(),
        "channel": _text(bronze.channel).lower(),
    }
    checks = [
        *_required(bronze.order_id, typed["order_id"], "order_id"),
        *_required(bronze.customer_id, typed["customer_id"], "customer_id"),
        *_required(bronze.order_ts, order_ts, "order_ts"),
        *_required(bronze.status, typed["status"], "status"),
        (~typed["status"].isin(ORDER_STATUSES), "invalid_status"),
        *_required(bronze.currency, typed["currency"], "currency"),
        (~typed["currency"].isin(list(currencies)), "invalid_currency"),
    ]
    orphans = [("customer_id", customers.customer_id, "orphan_customer")]
    return classify(bronze, typed=typed, row_checks=checks, key=["order_id"], orphan_checks=orphans)


def classify_order_lines(bronze: ir.Table, orders: ir.Table, products: ir.Table) -> Classified:
    """Type and check raw order lines against the clean ``orders`` and ``products``."""
    typed = {
        "order_line_id": parse_int(bronze.order_line_id),
        "order_id": parse_int(bronze.order_id),
        "product_id": parse_int(bronze.product_id),
        "quantity": parse_int(bronze.quantity),
        "unit_price": parse_money(bronze.unit_price),
        "discount": parse_money(bronze.discount).fill_null(0),
    }
    checks = [
        *_required(bronze.order_line_id, typed["order_line_id"], "order_line_id"),
        *_required(bronze.order_id, typed["order_id"], "order_id"),
        *_required(bronze.product_id, typed["product_id"], "product_id"),
        *_required(bronze.quantity, typed["quantity"], "quantity"),
        (typed["quantity"] <= 0, "invalid_quantity"),
        *_required(bronze.unit_price, typed["unit_price"], "unit_price"),
        (typed["unit_price"] < 0, "invalid_unit_price"),
        *_optional(bronze.discount, parse_money(bronze.discount), "discount"),
        ((typed["discount"] < 0) | (typed["discount"] > typed["quantity"] * typed["unit_price"]), "invalid_discount"),
    ]
    orphans = [
        ("order_id", orders.order_id, "orphan_order"),
        ("product_id", products.product_id, "orphan_product"),
    ]
    return classify(bronze, typed=typed, row_checks=checks, key=["order_line_id"], orphan_checks=orphans)


def classify_payments(bronze: ir.Table, orders: ir.Table) -> Classified:
    """Type and check raw payments against the clean ``orders``."""
    typed = {
        "payment_id": parse_int(bronze.payment_id),
        "order_id": parse_int(bronze.order_id),
        "paid_ts": parse_timestamp(bronze.paid_ts),
        "method": _text(bronze.method).lower(),
        "amount": parse_money(bronze.amount),
    }
    checks = [
        *_required(bronze.payment_id, typed["payment_id"], "payment_id"),
        *_required(bronze.order_id, typed["order_id"], "order_id"),
        *_required(bronze.paid_ts, typed["paid_ts"], "paid_ts"),
        *_required(bronze.amount, typed["amount"], "amount"),
        (typed["amount"] < 0, "invalid_amount"),
    ]
    orphans = [("order_id", orders.order_id, "orphan_order")]
    return classify(bronze, typed=typed, row_checks=checks, key=["payment_id"], orphan_checks=orphans)


def classify_events(bronze: ir.Table) -> Classified:
    """Type and check raw clickstream events; ``customer_id`` NULL means anonymous."""
    event_ts, received_ts = parse_timestamp(bronze.event_ts), parse_timestamp(bronze.received_ts)
    typed = {
        "event_id": _text(bronze.event_id),
        "session_id": _text(bronze.session_id),
        "customer_id": parse_int(bronze.customer_id),
        "event_type": _text(bronze.event_type).lower(),
        "product_id": parse_int(bronze.product_id),
        "event_ts": event_ts,
        "received_ts": received_ts,
        "is_late": received_ts.date() > event_ts.date(),
    }
    checks = [
        (typed["event_id"].isnull(), "missing_event_id"),
        (typed["session_id"].isnull(), "missing_session_id"),
        *_optional(bronze.customer_id, typed["customer_id"], "customer_id"),
        *_optional(bronze.product_id, typed["product_id"], "product_id"),
        *_required(bronze.event_type, typed["event_type"], "event_type"),
        (~typed["event_type"].isin(EVENT_TYPES), "invalid_event_type"),
        *_required(bronze.event_ts, event_ts, "event_ts"),
        *_required(bronze.received_ts, received_ts, "received_ts"),
    ]
    return classify(bronze, typed=typed, row_checks=checks, key=["event_id"])


def clean_customers(bronze: ir.Table) -> ir.Table:
    """Return the clean customers (one row per ``customer_id``)."""
    return classify_customers(bronze).clean()


def rejected_customers(bronze: ir.Table) -> ir.Table:
    """Return the raw customer rows silver drops, with a ``reason``."""
    return classify_customers(bronze).rejected()


def clean_products(bronze: ir.Table) -> ir.Table:
    """Return the clean products (one row per ``product_id``)."""
    return classify_products(bronze).clean()


def rejected_products(bronze: ir.Table) -> ir.Table:
    """Return the raw product rows silver drops, with a ``reason``."""
    return classify_products(bronze).rejected()


def clean_orders(bronze: ir.Table, customers: ir.Table, *, currencies: Sequence[str] = CURRENCIES) -> ir.Table:
    """Return the clean orders of clean ``customers`` (one row per ``order_id``)."""
    return classify_orders(bronze, customers, currencies=currencies).clean()


def rejected_orders(bronze: ir.Table, customers: ir.Table, *, currencies: Sequence[str] = CURRENCIES) -> ir.Table:
    """Return the raw order rows silver drops, with a ``reason``."""
    return classify_orders(bronze, customers, currencies=currencies).rejected()


def clean_order_lines(bronze: ir.Table, orders: ir.Table, products: ir.Table) -> ir.Table:
    """Return the clean lines of clean ``orders`` for clean ``products``."""
    return classify_order_lines(bronze, orders, products).clean()


def rejected_order_lines(bronze: ir.Table, orders: ir.Table, products: ir.Table) -> ir.Table:
    """Return the raw order line rows silver drops, with a ``reason``."""
    return classify_order_lines(bronze, orders, products).rejected()


def clean_payments(bronze: ir.Table, orders: ir.Table) -> ir.Table:
    """Return the clean payments of clean ``orders``."""
    return classify_payments(bronze, orders).clean()


def rejected_payments(bronze: ir.Table, orders: ir.Table) -> ir.Table:
    """Return the raw payment rows silver drops, with a ``reason``."""
    return classify_payments(bronze, orders).rejected()


def clean_events(bronze: ir.Table) -> ir.Table:
    """Return the clean events (one row per ``event_id``)."""
    return classify_events(bronze).clean()


def rejected_events(bronze: ir.Table) -> ir.Table:
    """Return the raw event rows silver drops, with a ``reason``."""
    return classify_events(bronze).rejected()
