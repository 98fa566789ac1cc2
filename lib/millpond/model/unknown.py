"""Unknown members: a reserved dimension row so that no fact row is ever dropped.

A fact can arrive before its dimension row (a late-arriving customer), point at a key
the dimension never had (an orphan), or carry no key at all. An inner join would drop
such a fact and every total would be silently short. Instead the dimension gets one
**unknown member** with a reserved key (:func:`with_unknown_member`), and the fact's
key is mapped to it wherever it has no match (:func:`resolve_keys`): totals stay whole,
and "how much revenue has no known customer" is one filter on the reserved key.

The reserved key is ``-1`` for an integer key and ``'unknown'`` for a string key
(:func:`unknown_key_for`), unless you choose another.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import ibis
import ibis.expr.datatypes as dt
import ibis.expr.types as ir

from millpond.errors import MillpondError
from millpond.model._columns import require_columns, table_label

UNKNOWN_INTEGER_KEY = -1
UNKNOWN_STRING_KEY = "unknown"


def unknown_key_for(dtype: dt.DataType, column: str = "key") -> int | str:
    """Return the reserved key for a key column of type ``dtype``.

    >>> import ibis.expr.datatypes as dt
    >>> unknown_key_for(dt.int64), unknown_key_for(dt.string)
    (-1, 'unknown')
    """
    if dtype.is_integer():
        return UNKNOWN_INTEGER_KEY
    if dtype.is_string():
        return UNKNOWN_STRING_KEY
    raise MillpondError(f"unknown member: key column {column!r} is {dtype}; pass unknown_key= explicitly")


def with_unknown_member(
    dimension: ir.Table,
    key: str,
    defaults: Mapping[str, Any] | None = None,
    *,
    unknown_key: int | str | None = None,
) -> ir.Table:
    """Return ``dimension`` plus one unknown-member row keyed ``unknown_key``.

    Parameters
    ----------
    dimension
        The dimension table.
    key
        Its key column (the one facts join on).
    defaults
        Values of the unknown row's other columns, by column name. A string column
        not named here gets ``'unknown'``; any other column gets null.
    unknown_key
        The reserved key; ``-1`` for integer keys and ``'unknown'`` for strings by
        default. A row of ``dimension`` that already has it is replaced, so applying
        this twice gives one unknown member.

    Examples
    --------
    >>> import ibis
    >>> customers = ibis.memtable({"customer_key": [1, 2], "name": ["Ann", "Bo"], "vip": [True, False]})
    >>> dim = with_unknown_member(customers, "customer_key", {"vip": False})
    >>> ibis.duckdb.connect().to_pyarrow(dim.order_by("customer_key")).to_pylist()[0]
    {'customer_key': -1, 'name': 'unknown', 'vip': False}
    """
    require_columns(dimension, [key], "with_unknown_member")
    defaults = dict(defaults or {})
    require_columns(dimension, list(defaults), "with_unknown_member defaults")
    schema = dimension.schema()
    reserved = unknown_key_for(schema[key], key) if unknown_key is None else unknown_key
    if key in defaults:
        raise MillpondError(f"with_unknown_member: set the key {key!r} with unknown_key=, not in defaults")
    values: dict[str, Any] = {}
    for name, dtype in schema.items():
        if name == key:
            values[name] = reserved
        elif name in defaults:
            values[name] = defaults[name]
        else:
            values[name] = UNKNOWN_STRING_KEY if dtype.is_string() else None
    seed = ibis.memtable({"_mp_one": [1]})
    unknown_row = seed.select(**{name: ibis.literal(values[name], type=dtype) for name, dtype in schema.items()})
    known = dimension.filter(dimension[key].isnull() | (dimension[key] != reserved))
    return ibis.union(known, unknown_row, distinct=False)


def resolve_keys(
    fact: ir.Table,
    dimension: ir.Table,
    fact_key: str,
    dimension_key: str | None = None,
    *,
    surrogate: str | None = None,
    unknown_key: int | str | None = None,
) -> ir.Table:
    """Return ``fact`` with keys that have no dimension row mapped to the unknown member.

    Every fact row comes out exactly once, whatever the dimension holds.

    Parameters
    ----------
    fact
        The fact rows.
    dimension
        The dimension (unique on ``dimension_key``; for a type 2 snapshot, its
        current rows).
    fact_key
        The fact's column that references the dimension.
    dimension_key
        The dimension's column it matches; the same name as ``fact_key`` by default.
    surrogate
        ``None``: replace ``fact_key`` itself by the unknown key where it is null or
        has no match. A dimension column name: look that column up instead and add
        it to the fact (e.g. ``customer_key`` from ``customer_id``), with the unknown
        key where there is no match; ``fact_key`` is kept as it was.
    unknown_key
        The reserved key (by default from the type of the column that receives it).

    Examples
    --------
    >>> import ibis
    >>> dim = ibis.memtable({"customer_key": [1, 2], "customer_id": ["a", "b"]})
    >>> orders = ibis.memtable({"order_id": [10, 11, 12], "customer_id": ["a", "zz", None]})
    >>> keyed = resolve_keys(orders, dim, "customer_id", surrogate="customer_key")
    >>> sorted(ibis.duckdb.connect().to_pyarrow(keyed).to_pylist(), key=lambda r: r["order_id"])
    [{'order_id': 10, 'customer_id': 'a', 'customer_key': 1}, {'order_id': 11, 'customer_id': 'zz', 'customer_key': -1}, {'order_id': 12, 'customer_id': None, 'customer_key': -1}]
    """
    dimension_key = dimension_key or fact_key
    require_columns(fact, [fact_key], "resolve_keys fact_key")
    require_columns(dimension, [dimension_key] + ([surrogate] if surrogate else []), "resolve_keys")
    if surrogate is None:
        reserved = unknown_key_for(fact.schema()[fact_key], fact_key) if unknown_key is None else unknown_key
        known = dimension.select(_mp_dim_key=dimension[dimension_key]).filter(ibis._._mp_dim_key.notnull())
        matched = fact[fact_key].isin(known._mp_dim_key)
        return fact.mutate(**{fact_key: ibis.ifelse(matched.fill_null(False), fact[fact_key], reserved)})
    if surrogate in fact.columns:
        raise MillpondError(f"resolve_keys: {table_label(fact)} already has a column {surrogate!r}")
    reserved = unknown_key_for(dimension.schema()[surrogate], surrogate) if unknown_key is None else unknown_key
    lookup = dimension.select(_mp_dim_key=dimension[dimension_key], _mp_surrogate=dimension[surrogate])
    joined = fact.left_join(lookup, fact[fact_key] == lookup._mp_dim_key)
    keyed = joined.select(
        *fact.columns,
        **{surrogate: joined._mp_surrogate.fill_null(ibis.literal(reserved, type=lookup._mp_surrogate.type()))},
    )
    # A view, so that joining the result to the dimension on the new key works (Ibis
    # would otherwise try to extend this join and refuse the computed key).
    return keyed.view()
