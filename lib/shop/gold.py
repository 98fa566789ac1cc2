"""Gold: the shop's star schema and its daily revenue mart, from silver tables.

==================  ====================================  ===============================
table               grain                                 built from
==================  ====================================  ===============================
dim_customer        one row per customer version (SCD2)   clean customers, itself
dim_product         one row per product                   clean products
dim_date            one row per day, ``start..run_date``  two dates (no table)
fct_orders          one row per valid order               clean orders, order lines,
                                                          payments; dim_customer
fct_order_lines     one row per valid order line          clean order lines, orders;
                                                          dim_product
mart_daily_revenue  one row per day up to ``run_date``    fct_orders, dim_date
==================  ====================================  ===============================

Definitions: a line's ``amount`` is ``quantity * unit_price - discount``; an order's
``net_amount`` is the sum of its lines' amounts; **revenue** is the sum of
``net_amount`` over orders whose status is not ``cancelled`` (returned orders count),
by ``order_date`` (UTC). Money is decimal(18, 2) throughout, summed exactly;
``avg_order_value`` is the exact mean rounded half away from zero to cents
(:func:`millpond.model.numeric.exact_quotient`; a float64 mean rounded to cents could differ
between engines: the mean of 0.57 and 0.58 gave 0.57 on DuckDB and 0.58 on PostgreSQL).

``dim_customer`` is a type 2 snapshot (:func:`millpond.model.scd.scd2_snapshot`, the check
strategy with ``updated_at``): a customer whose attributes change gets a new version, at
the new ``updated_at`` or, when the source changed a row without one, at the run's time;
a new ``updated_at`` alone (a touch) is no change; one that disappears from the source has
its version closed. Its ``customer_key`` is the durable
key of the customer, :func:`millpond.model.keys.surrogate_key` of ``customer_id`` (the
same in every version and on every engine, so facts built incrementally on different
days agree); ``scd_id`` identifies a version. ``product_key`` numbers the product ids
in ascending order from 1. ``date_key`` is ``yyyymmdd`` as an integer.

>>> import ibis
>>> from datetime import date, datetime
>>> dates = dim_date(date(2024, 1, 5), date(2024, 1, 7))
>>> ibis.duckdb.connect().to_pyarrow(dates.select("date_key", "weekday", "is_weekend")).to_pylist()
[{'date_key': 20240105, 'weekday': 5, 'is_weekend': False}, {'date_key': 20240106, 'weekday': 6, 'is_weekend': True}, {'date_key': 20240107, 'weekday': 7, 'is_weekend': True}]
"""

from __future__ import annotations

from datetime import date, datetime

import ibis
import ibis.expr.types as ir

from millpond.model.dates import calendar, date_key
from millpond.model.keys import surrogate_key
from millpond.model.numeric import exact_quotient
from millpond.model.parse import MONEY
from millpond.model.scd import scd2_snapshot
from shop.domain import NON_REVENUE_STATUSES

ATTRIBUTES = ("first_name", "last_name", "email", "phone", "country", "signup_date")
"""The customer columns whose change makes a new version of ``dim_customer``."""


def line_amount(lines: ir.Table) -> ir.DecimalValue:
    """Return ``quantity * unit_price - discount`` of order lines as decimal(18, 2).

    Ibis types ``int64 * decimal(18, 2)`` as decimal(18, 2) and so leaves a cast to
    decimal(18, 2) out of the SQL, but DuckDB computes it as DECIMAL(38, 2), a 128-bit
    integer that joins, sorts and stores about 20 % slower (``benchmarks/gold_vs_sql.py``).
    Casting through decimal(38, 2) keeps the cast to decimal(18, 2) in the SQL.
    """
    return (lines.quantity * lines.unit_price - lines.discount).cast("decimal(38, 2)").cast(MONEY)


def dim_customer(customers: ir.Table, previous: ir.Table | None = None, *, now: datetime | None = None) -> ir.Table:
    """Return the type 2 customer dimension: every version of every clean customer.

    Parameters
    ----------
    customers
        Clean silver customers, one row per ``customer_id`` (the latest ``updated_at``).
    previous
        The dimension as the previous run left it (``existing_snapshot``), or ``None``.
    now
        When this snapshot is taken (the stage passes its run's start): a customer missing
        from ``customers`` is closed then, and one that comes back opens again then, so
        the deleted period stays in the history. Never earlier than the data's own time
        (the latest ``updated_at`` of ``customers`` or ``valid_from`` of ``previous``),
        which is also the default, so that a rerun gives the same rows.

    Columns: ``customer_key`` (durable key), the customer's attributes and
    ``updated_at``, then ``scd_id``, ``valid_from``, ``valid_to`` and ``is_current``.
    """
    source = customers.select(
        customer_key=surrogate_key(customers.customer_id),
        customer_id=customers.customer_id,
        first_name=customers.first_name,
        last_name=customers.last_name,
        email=customers.email,
        phone=customers.phone,
        country=customers.country,
        signup_date=customers.signup_date,
        updated_at=customers.updated_at,
    )
    if previous is not None and "scd_id" not in previous.columns:
        previous = None  # built before the dimension kept history: start it now
    # one query: GREATEST skips a NULL (an empty table) on every engine
    latest = customers.updated_at.max()
    if previous is not None:
        latest = ibis.greatest(latest.as_scalar(), previous.valid_from.max().as_scalar())
    found = latest.to_pyarrow().as_py()  # a scalar: a DataFrame in between took 1 ms more
    data_time = datetime(1970, 1, 1) if found is None else found
    now = data_time if now is None else max(now, data_time)  # runs go forward, whatever the clock says
    snapshot = scd2_snapshot(
        previous, source, "customer_id", strategy="check", updated_at="updated_at", check_cols=ATTRIBUTES, now=now
    )
    return snapshot.order_by(["customer_id", "valid_from"])


def dim_product(products: ir.Table) -> ir.Table:
    """Return the product dimension: ``product_key`` plus the clean product attributes."""
    return products.select(
        product_key=ibis.row_number().over(order_by=products.product_id) + 1,
        product_id=products.product_id,
        sku=products.sku,
        name=products.name,
        category=products.category,
        unit_price=products.unit_price.cast(MONEY),
        active=products.active,
    ).order_by("product_key")


def dim_date(start: date, run_date: date) -> ir.Table:
    """Return one row per day from ``start`` to ``run_date`` (both included): the framework's
    compact calendar (:func:`millpond.model.dates.calendar`)."""
    if run_date < start:
        raise ValueError(f"run_date {run_date} is before start {start}: the date spine would be empty")
    return calendar(start, run_date)


def fct_orders(orders: ir.Table, order_lines: ir.Table, payments: ir.Table, customers: ir.Table) -> ir.Table:
    """Return one row per clean order with its totals, payments and keys.

    Parameters
    ----------
    orders, order_lines, payments
        Clean silver tables.
    customers
        :func:`dim_customer` (its durable ``customer_key``: every version has the same).

    Columns: ``order_id``, ``customer_key``, ``date_key``, ``order_ts``, ``order_date``,
    ``status``, ``currency``, ``channel``, ``line_count``, ``items``, ``gross_amount``,
    ``discount_amount``, ``net_amount``, ``payment_count``, ``paid_amount``,
    ``is_revenue`` (status not cancelled) and ``updated_at`` (the order's time or its
    latest payment's, whichever is later: the watermark of the incremental build). An
    order without lines has zero totals.
    """
    line_totals = order_lines.group_by(line_order_id=order_lines.order_id).aggregate(
        line_count=order_lines.count(),
        items=order_lines.quantity.sum(),
        gross_amount=(order_lines.quantity * order_lines.unit_price).sum().cast(MONEY),
        discount_amount=order_lines.discount.sum().cast(MONEY),
        net_amount=line_amount(order_lines).sum().cast(MONEY),
    )
    paid = payments.group_by(paid_order_id=payments.order_id).aggregate(
        payment_count=payments.count(),
        paid_amount=payments.amount.sum().cast(MONEY),
        last_paid_ts=payments.paid_ts.max(),
    )
    keys = customers.select(key_customer_id=customers.customer_id, customer_key=customers.customer_key).distinct()
    joined = (
        orders.left_join(line_totals, orders.order_id == line_totals.line_order_id)
        .left_join(paid, orders.order_id == paid.paid_order_id)
        .left_join(keys, orders.customer_id == keys.key_customer_id)
    )
    zero = ibis.literal(0).cast(MONEY)
    return joined.select(
        order_id=joined.order_id,
        customer_key=joined.customer_key,
        date_key=date_key(joined.order_date),
        order_ts=joined.order_ts,
        order_date=joined.order_date,
        status=joined.status,
        currency=joined.currency,
        channel=joined.channel,
        line_count=joined.line_count.fill_null(0),
        items=joined["items"].fill_null(0),
        gross_amount=joined.gross_amount.fill_null(zero),
        discount_amount=joined.discount_amount.fill_null(zero),
        net_amount=joined.net_amount.fill_null(zero),
        payment_count=joined.payment_count.fill_null(0),
        paid_amount=joined.paid_amount.fill_null(zero),
        is_revenue=~joined.status.isin(NON_REVENUE_STATUSES),
        updated_at=ibis.greatest(joined.order_ts, joined.last_paid_ts.fill_null(joined.order_ts)),
    ).order_by("order_id")


def fct_order_lines(order_lines: ir.Table, orders: ir.Table, products: ir.Table) -> ir.Table:
    """Return one row per clean order line with its product key, order date key and amount.

    Parameters
    ----------
    order_lines, orders
        Clean silver tables.
    products
        :func:`dim_product`.
    """
    heads = orders.select(head_order_id=orders.order_id, order_date=orders.order_date, status=orders.status)
    keys = products.select(key_product_id=products.product_id, product_key=products.product_key)
    joined = order_lines.inner_join(heads, order_lines.order_id == heads.head_order_id).inner_join(
        keys, order_lines.product_id == keys.key_product_id
    )
    return joined.select(
        order_line_id=joined.order_line_id,
        order_id=joined.order_id,
        product_key=joined.product_key,
        date_key=date_key(joined.order_date),
        quantity=joined.quantity,
        unit_price=joined.unit_price.cast(MONEY),
        discount=joined.discount.cast(MONEY),
        amount=line_amount(joined),
        is_revenue=~joined.status.isin(NON_REVENUE_STATUSES),
    ).order_by("order_line_id")


def mart_daily_revenue(orders: ir.Table, dates: ir.Table, run_date: date) -> ir.Table:
    """Return revenue per day of ``dates`` up to ``run_date``, zero on days without sales.

    Parameters
    ----------
    orders
        :func:`fct_orders`.
    dates
        :func:`dim_date`.
    run_date
        Last day reported (included).

    Columns: ``date``, ``date_key``, ``orders`` (revenue orders), ``revenue``
    (decimal(18, 2)), ``items``, ``customers`` (distinct), ``avg_order_value`` (decimal(18, 2),
    NULL without orders) and ``cancelled_orders``.
    """
    reported = orders.filter(orders.order_date <= run_date)
    sold = reported.is_revenue
    # one scan of the facts: every aggregate filtered (a group-by of the sold orders and
    # another of the cancelled ones read them twice, 25 % slower than hand-written SQL)
    daily = reported.group_by("date_key").aggregate(
        orders=reported.count(where=sold),
        total=reported.net_amount.sum(where=sold),
        items=reported["items"].sum(where=sold),
        customers=reported.customer_key.nunique(where=sold),
        cancelled_orders=reported.count(where=~sold),
    )
    revenue = daily.total.cast(MONEY)
    # the exact mean from the day's sum and count (fct_orders.net_amount is never null), in
    # integer cents since the revenue fits a decimal(18, 2) (exact_mean over the rows would
    # repeat both aggregates in every rounding step); before the join, whose select would
    # have to rewrite its whole expression
    daily = daily.select(
        "date_key",
        "orders",
        "items",
        "customers",
        "cancelled_orders",
        revenue=revenue,
        avg_order_value=exact_quotient(revenue, daily.orders, 2).cast(MONEY),
    )
    spine = dates.filter(dates.date <= run_date).select("date", "date_key")  # narrow: Ibis joins faster
    joined = spine.left_join(daily, "date_key").select(
        "date", "date_key", "orders", "revenue", "items", "customers", "avg_order_value", "cancelled_orders"
    )
    # a day without sales: zeros (COALESCE keeps each column's type), no average; one
    # fill after the join costs Ibis less than a COALESCE per column in the join's select
    return joined.fill_null(
        {name: 0 for name in ("orders", "revenue", "items", "customers", "cancelled_orders")}
    ).order_by("date")
