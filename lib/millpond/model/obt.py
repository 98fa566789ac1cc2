"""One big table: a fact left-joined to its dimensions into one wide table.

Dashboards and ad-hoc analysis often want every attribute next to every measure, with
no joins to write. :func:`one_big_table` keeps every fact row (left joins, so a fact
whose dimension row is missing keeps NULL attributes) and names each dimension column
after its dimension, so two dimensions' ``name`` columns do not collide.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

import ibis.expr.types as ir

from millpond.errors import MillpondError
from millpond.model._columns import table_label

_KEY_SUFFIX = re.compile(r"_(id|key|sk|hk)$")


def dimension_prefix(join_key: str) -> str:
    """The default prefix of a dimension's columns: its join key less ``_id``, ``_key``, ...

    The suffixes removed are ``_id``, ``_key``, ``_sk`` and ``_hk``.

    Examples
    --------
    >>> dimension_prefix("customer_id"), dimension_prefix("sku")
    ('customer_', 'sku_')
    """
    return _KEY_SUFFIX.sub("", join_key) + "_"


def one_big_table(
    fact: ir.Table,
    dimensions: Mapping[str, ir.Table],
    prefix: bool | Mapping[str, str] = True,
) -> ir.Table:
    """Left-join ``fact`` to each dimension on its join key: one row per fact row.

    Parameters
    ----------
    fact
        The fact table; it must have every join key as a column.
    dimensions
        Join key -> dimension table; the key is a column of both (same name). Each
        dimension should have one row per key: duplicate keys repeat fact rows.
    prefix
        ``True``: each dimension column is renamed ``<prefix><column>`` with the
        prefix from :func:`dimension_prefix` (``customer_id`` -> ``customer_``);
        a mapping gives the prefix per join key; ``False`` keeps the names. A name
        that still collides raises :class:`MillpondError`.

    Returns
    -------
    Table
        The fact's columns, then each dimension's columns except its join key.

    Examples
    --------
    >>> import ibis
    >>> sales = ibis.memtable({"customer_id": [1, 2], "amount": [10, 20]})
    >>> customers = ibis.memtable({"customer_id": [1], "name": ["Ann"]})
    >>> wide = one_big_table(sales, {"customer_id": customers})
    >>> ibis.duckdb.connect().execute(wide.order_by("customer_id"))
       customer_id  amount customer_name
    0            1      10           Ann
    1            2      20           NaN
    """
    result = fact
    taken = dict.fromkeys(fact.columns, "the fact")
    for number, (key, dimension) in enumerate(dimensions.items()):
        if key not in fact.columns:
            raise MillpondError(
                f"one_big_table: the fact {table_label(fact)} has no join column {key!r} "
                f"(columns: {', '.join(fact.columns)})"
            )
        if key not in dimension.columns:
            raise MillpondError(
                f"one_big_table: dimension {table_label(dimension)} has no join column "
                f"{key!r} (columns: {', '.join(dimension.columns)})"
            )
        renamed = {}
        for column in dimension.columns:
            if column == key:
                continue
            name = _prefixed(column, key, prefix)
            if name in taken:
                raise MillpondError(
                    f"one_big_table: column {name!r} of dimension {key!r} collides with "
                    f"{taken[name]}; give a prefix for {key!r}"
                )
            taken[name] = f"dimension {key!r}"
            renamed[name] = dimension[column]
        join_column = f"_obt_key_{number}"
        side = dimension.select(**{join_column: dimension[key]}, **renamed)
        result = result.left_join(side, result[key] == side[join_column]).drop(join_column)
    return result


def _prefixed(column: str, key: str, prefix: bool | Mapping[str, str]) -> str:
    if prefix is True:
        return dimension_prefix(key) + column
    if prefix is False:
        return column
    return prefix.get(key, dimension_prefix(key)) + column
