"""Data Vault 2.0 building blocks: hubs, links and satellites as Ibis expressions.

- a **hub** holds each business key once, with its hash key and when and where it
  was first seen;
- a **link** holds each combination of business keys (a relationship) once, with the
  hash key of the combination and the hash key of each hub it connects;
- a **satellite** holds the history of descriptive columns (the *payload*) of a hub
  or link: a row each time the payload changes, told apart by a *hashdiff*.

Every function returns the rows to **insert**: given ``existing`` (the table as loaded
so far) it leaves out what is already there, so a load is insert-only and loading the
same source twice adds nothing. Hash keys and hashdiffs are
:func:`~millpond.model.keys.surrogate_key` of the business key or payload columns, so
a hub's key equals the matching link column and the parent key of its satellites.

``load_date`` names a column of ``source`` (when each row was loaded or observed);
``record_source`` is a literal naming the system the rows came from.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import ibis
import ibis.expr.types as ir

from millpond.errors import MillpondError
from millpond.model._columns import column_list, require_columns
from millpond.model.keys import surrogate_key


def hub(
    source: ir.Table,
    business_key: str | Sequence[str],
    load_date: str,
    record_source: str,
    *,
    hash_key: str = "hash_key",
    existing: ir.Table | None = None,
) -> ir.Table:
    """One row per business key of ``source``: hash key, key columns, first load date.

    Rows with a NULL in a business key column are left out (a hub row needs its whole
    key). With ``existing``, keys whose hash key is already there are left out too.

    Returns
    -------
    Table
        ``hash_key``, the business key columns, ``load_date``, ``record_source``.

    Examples
    --------
    >>> import ibis
    >>> src = ibis.memtable({"customer_id": ["c1", "c1", "c2"], "loaded": [2, 1, 3]})
    >>> h = hub(src, "customer_id", "loaded", "crm", hash_key="customer_hk")
    >>> h.columns
    ('customer_hk', 'customer_id', 'loaded', 'record_source')
    >>> ibis.duckdb.connect().execute(h.order_by("customer_id"))[["customer_id", "loaded"]]
      customer_id  loaded
    0          c1       1
    1          c2       3
    """
    keys = column_list(business_key, "hub business_key")
    require_columns(source, [*keys, load_date], "hub")
    rows = source.filter(*[source[k].notnull() for k in keys])
    first_seen = rows.group_by(keys).agg(**{load_date: rows[load_date].min()})
    result = first_seen.select(
        surrogate_key(*[first_seen[k] for k in keys]).name(hash_key),
        *keys,
        load_date,
        record_source=ibis.literal(record_source, type="string"),
    )
    return _new_keys_only(result, existing, hash_key, "hub")


def link(
    source: ir.Table,
    hubs: Mapping[str, str | Sequence[str]],
    load_date: str,
    record_source: str,
    *,
    hash_key: str = "link_hk",
    existing: ir.Table | None = None,
) -> ir.Table:
    """One row per combination of business keys: link hash key and each hub's hash key.

    Parameters
    ----------
    hubs
        Hub hash key column name -> its business key column(s) in ``source``, in
        link order, e.g. ``{"customer_hk": "customer_id", "product_hk": "sku"}``. Each
        hub hash key equals :func:`hub`'s for the same columns; the link hash key is
        the surrogate key of all business key columns in this order.

    Returns
    -------
    Table
        ``hash_key``, one column per hub, ``load_date`` (first seen), ``record_source``.

    Examples
    --------
    >>> import ibis
    >>> src = ibis.memtable({"cust": ["c1", "c1"], "sku": ["p1", "p1"], "day": [5, 4]})
    >>> l = link(src, {"customer_hk": "cust", "product_hk": "sku"}, "day", "shop")
    >>> l.columns
    ('link_hk', 'customer_hk', 'product_hk', 'day', 'record_source')
    >>> ibis.duckdb.connect().execute(l)["day"].tolist()
    [4]
    """
    if len(hubs) < 2:
        raise MillpondError("link: give at least two hubs (hash key name -> business key)")
    hub_keys = {name: column_list(cols, f"link hub {name!r}") for name, cols in hubs.items()}
    all_keys = [column for cols in hub_keys.values() for column in cols]
    require_columns(source, [*all_keys, load_date], "link")
    rows = source.filter(*[source[k].notnull() for k in all_keys])
    first_seen = rows.group_by(all_keys).agg(**{load_date: rows[load_date].min()})
    result = first_seen.select(
        surrogate_key(*[first_seen[k] for k in all_keys]).name(hash_key),
        *[surrogate_key(*[first_seen[k] for k in cols]).name(n) for n, cols in hub_keys.items()],
        load_date,
        record_source=ibis.literal(record_source, type="string"),
    )
    return _new_keys_only(result, existing, hash_key, "link")


def satellite(
    source: ir.Table,
    parent_key: str | Sequence[str],
    payload: str | Sequence[str],
    load_date: str,
    record_source: str,
    *,
    hash_key: str = "hash_key",
    hashdiff: str = "hashdiff",
    existing: ir.Table | None = None,
) -> ir.Table:
    """The rows to insert into a satellite: each change of ``payload`` per parent key.

    For each parent (the surrogate key of ``parent_key``, the business key columns of
    its hub or link) the source rows are taken in ``load_date`` order and a row is
    kept when its hashdiff (the surrogate key of ``payload``) differs from the one
    before; the first row is compared with the latest row of ``existing``. Source
    rows at or before the latest load date already in ``existing`` for that parent
    are left out: history is insert-only, so reloading the same source adds nothing.
    Give one payload per parent and load date: two different payloads at the same
    load date are both kept, in hashdiff order.

    Returns
    -------
    Table
        ``hash_key``, ``load_date``, ``hashdiff``, the payload columns, ``record_source``.

    Examples
    --------
    >>> import ibis
    >>> src = ibis.memtable({"id": [1, 1, 1], "tier": ["a", "a", "b"], "day": [1, 2, 3]})
    >>> sat = satellite(src, "id", "tier", "day", "crm")
    >>> ibis.duckdb.connect().execute(sat.order_by("day"))[["day", "tier"]]
       day tier
    0    1    a
    1    3    b
    """
    parents = column_list(parent_key, "satellite parent_key")
    columns = column_list(payload, "satellite payload")
    require_columns(source, [*parents, *columns, load_date], "satellite")
    rows = source.filter(*[source[k].notnull() for k in parents])
    rows = rows.select(
        surrogate_key(*[rows[k] for k in parents]).name(hash_key),
        load_date,
        surrogate_key(*[rows[c] for c in columns]).name(hashdiff),
        *columns,
        record_source=ibis.literal(record_source, type="string"),
    ).distinct()

    if existing is None:
        rows = rows.mutate(_last_load=ibis.null(rows[load_date].type()), _last_diff=ibis.null(str))
    else:
        require_columns(existing, [hash_key, load_date, hashdiff], "satellite existing")
        latest = _latest_per_key(existing, hash_key, load_date).select(
            _key=hash_key, _last_load=load_date, _last_diff=hashdiff
        )
        rows = rows.left_join(latest, rows[hash_key] == latest._key).drop("_key")
        rows = rows.filter(rows._last_load.isnull() | (rows[load_date] > rows._last_load))

    in_order = ibis.window(group_by=hash_key, order_by=[load_date, hashdiff])
    rows = rows.mutate(_previous=rows[hashdiff].lag().over(in_order).fill_null(rows._last_diff))
    changed = rows.filter(rows._previous.isnull() | (rows[hashdiff] != rows._previous))
    return changed.select(hash_key, load_date, hashdiff, *columns, "record_source")


def _latest_per_key(table: ir.Table, key: str, load_date: str) -> ir.Table:
    """The row with the greatest ``load_date`` for each ``key`` of ``table``."""
    newest_first = ibis.window(group_by=key, order_by=ibis.desc(load_date))
    ranked = table.mutate(_rank=ibis.row_number().over(newest_first))
    return ranked.filter(ranked._rank == 0).drop("_rank")


def _new_keys_only(result: ir.Table, existing: ir.Table | None, hash_key: str, what: str):
    """``result`` without the rows whose ``hash_key`` is already in ``existing``."""
    if existing is None:
        return result
    require_columns(existing, [hash_key], f"{what} existing")
    return result.anti_join(existing, result[hash_key] == existing[hash_key])
