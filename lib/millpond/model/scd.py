"""Slowly changing dimensions: type 1 (overwrite) and type 2 (keep history).

**Type 1** (:func:`scd1`) keeps one row per key: a key in the source takes the
source's values, a key only in the current table stays as it was.

**Type 2** (:func:`scd2_snapshot`) keeps every version of a row. Each run compares
the source, one row per key, with the current versions of the existing snapshot and
returns the **complete new snapshot**:

- a new key opens a version;
- a changed row closes its current version at the change time and opens a new one;
- a key missing from the source (a **hard delete**) closes its current version at
  ``now``; if it comes back later it opens a new version at that run's ``now``;
- an unchanged row is left alone, so running again with the same source adds nothing.

A row has *changed* when its ``updated_at`` is later than the current version's
(``strategy="timestamp"``; the change time is that ``updated_at``) or when any of the
``check_cols`` differs, nulls compared as values (``strategy="check"``; the change
time is ``now``). A new key opens at its ``updated_at`` (timestamp) or ``now`` (check).

The check strategy may name an ``updated_at`` too (as dbt's snapshots do): a change is
still a difference in ``check_cols`` (so a *touch*, a new ``updated_at`` and nothing
else, adds no version, and a change the source made without a new ``updated_at`` is
not missed), but it happens at the new ``updated_at`` when there is one, else at
``now``; a new key opens at its ``updated_at``. Whatever the strategy, a version never
ends before it began: a change time not after the current version's ``valid_from``
(an old ``updated_at`` arriving after a return opened the key at ``now``) is ``now``.

The snapshot has the source's columns plus ``scd_id`` (an md5 of the key and
``valid_from``, stable across runs), ``valid_from``, ``valid_to`` (null while
current) and ``is_current``. Versions of one key never overlap:
``valid_to`` of one is ``valid_from`` of the next, or the time of its deletion.

Materialize the result whole over the old table with ``ctx.materialize`` (or
:func:`millpond.warehouse.materialize.materialize`): the build reads the old snapshot
and the swap is one transaction, so readers always see a consistent snapshot.

>>> import ibis
>>> from datetime import datetime
>>> from millpond.warehouse.materialize import materialize
>>> con = ibis.duckdb.connect()
>>> day1 = ibis.memtable({"id": [1, 2], "tier": ["gold", "silver"]})
>>> materialize(con, scd2_snapshot(None, day1, "id", strategy="check", now=datetime(2024, 1, 1)), "gold.dim_tier")
Materialized gold.dim_tier (table): 2 rows, 6 columns
>>> day2 = ibis.memtable({"id": [1], "tier": ["platinum"]})  # 1 changed, 2 deleted
>>> existing = existing_snapshot(con, "gold.dim_tier")
>>> materialize(con, scd2_snapshot(existing, day2, "id", strategy="check", now=datetime(2024, 1, 2)), "gold.dim_tier")
Materialized gold.dim_tier (table): 3 rows, 6 columns
>>> rows = con.table("dim_tier", database="gold").order_by(["id", "valid_from"])
>>> [(r["id"], r["tier"], r["valid_to"], r["is_current"]) for r in con.to_pyarrow(rows).to_pylist()]  # doctest: +NORMALIZE_WHITESPACE
[(1, 'gold', datetime.datetime(2024, 1, 2, 0, 0), False), (1, 'platinum', None, True),
 (2, 'silver', datetime.datetime(2024, 1, 2, 0, 0), False)]
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime
from typing import TYPE_CHECKING

import ibis
import ibis.expr.datatypes as dt
import ibis.expr.types as ir

from millpond.engines import engine_for
from millpond.errors import MillpondError
from millpond.model._columns import column_list, require_columns, table_label
from millpond.warehouse.sql import split_name

if TYPE_CHECKING:
    from ibis.backends import BaseBackend

SCD_COLUMNS = ("scd_id", "valid_from", "valid_to", "is_current")
STRATEGIES = ("timestamp", "check")


@ibis.udf.scalar.builtin
def md5(value: str) -> str:  # pragma: no cover - the engine's own md5 (DuckDB and PostgreSQL)
    """The hex md5 of a string, computed by the engine."""
    raise NotImplementedError  # never called: the engine's own md5 runs


def scd1(current: ir.Table | None, source: ir.Table, key: str | Sequence[str]) -> ir.Table:
    """Return ``current`` overwritten by ``source`` by ``key`` (slowly changing type 1).

    Keys in ``source`` take its row; keys only in ``current`` keep theirs. The result
    has the columns of ``source``; ``current`` must have them too.

    Examples
    --------
    >>> import ibis
    >>> current = ibis.memtable({"id": [1, 2], "city": ["Oslo", "Rome"]})
    >>> source = ibis.memtable({"id": [2, 3], "city": ["Milan", "Lima"]})
    >>> rows = ibis.duckdb.connect().to_pyarrow(scd1(current, source, "id").order_by("id")).to_pylist()
    >>> [(r["id"], r["city"]) for r in rows]
    [(1, 'Oslo'), (2, 'Milan'), (3, 'Lima')]
    """
    keys = column_list(key, "scd1 key")
    require_columns(source, keys, "scd1 source")
    if current is None:
        return source
    require_columns(current, source.columns, "scd1 current")
    kept = current.anti_join(source, keys).select(*source.columns).cast(source.schema())
    return ibis.union(source, kept, distinct=False)


def existing_snapshot(con: BaseBackend, name: str) -> ir.Table | None:
    """Return the table ``layer.table`` of ``con``, or ``None`` before its first build.

    >>> import ibis
    >>> existing_snapshot(ibis.duckdb.connect(), "gold.dim_nothing") is None
    True
    """
    schema, table = split_name(name)
    return engine_for(con).maybe_table(table, schema)


def _time_literal(value: datetime | date, dtype: dt.DataType) -> ir.TimestampScalar:
    if not isinstance(value, datetime):
        value = datetime(value.year, value.month, value.day)
    return ibis.literal(value, type=dtype)


def _snapshot_time_type(source: ir.Table, strategy: str, updated_at: str | None) -> dt.DataType:
    if updated_at is not None:
        dtype = source.schema()[updated_at]
        if not dtype.is_timestamp():
            raise MillpondError(
                f"scd2_snapshot: updated_at column {updated_at!r} of {table_label(source)} is {dtype}, "
                "not a timestamp; cast it or use strategy='check'"
            )
        return dtype
    return dt.timestamp


def _check_arguments(
    existing: ir.Table | None,
    source: ir.Table,
    keys: list[str],
    strategy: str,
    updated_at: str | None,
    check_cols: Sequence[str] | str | None,
) -> list[str]:
    """Validate the call; return the columns compared by the check strategy."""
    if strategy not in STRATEGIES:
        raise MillpondError(f"scd2_snapshot: unknown strategy {strategy!r} (choose from {', '.join(STRATEGIES)})")
    require_columns(source, keys, "scd2_snapshot key")
    reserved = [c for c in SCD_COLUMNS if c in source.columns]
    if reserved:
        raise MillpondError(f"scd2_snapshot: source {table_label(source)} has reserved column {reserved[0]!r}")
    if strategy == "timestamp" and updated_at is None:
        raise MillpondError("scd2_snapshot: strategy='timestamp' needs updated_at= (a timestamp column)")
    if updated_at is not None:
        require_columns(source, [updated_at], "scd2_snapshot updated_at")
    if strategy == "timestamp":
        compared: list[str] = []
    elif check_cols is None or check_cols == "all":
        compared = [c for c in source.columns if c not in keys and c != updated_at]
    else:
        compared = column_list(check_cols, "scd2_snapshot check_cols")
        require_columns(source, compared, "scd2_snapshot check_cols")
    if existing is not None:
        require_columns(existing, list(source.columns) + list(SCD_COLUMNS), "scd2_snapshot existing snapshot")
    return compared


def scd2_snapshot(
    existing: ir.Table | None,
    source: ir.Table,
    key: str | Sequence[str],
    *,
    strategy: str = "timestamp",
    updated_at: str | None = None,
    check_cols: Sequence[str] | str | None = None,
    now: datetime | date,
    hard_deletes: bool = True,
) -> ir.Table:
    """Return the complete new type 2 snapshot of ``source`` (see the module docstring).

    Parameters
    ----------
    existing
        The snapshot built by the previous run (:func:`existing_snapshot`), or
        ``None`` for the first run.
    source
        The source rows now, **one per key** (:func:`millpond.model.dedup.latest_per_key`).
    key
        The natural key column (or columns).
    strategy
        ``"timestamp"`` (changed when ``updated_at`` is later) or ``"check"``
        (changed when a ``check_cols`` value differs).
    updated_at
        The source's last-modified timestamp column: required by ``strategy="timestamp"``;
        with ``strategy="check"``, the time of a change that comes with a new one.
    check_cols
        The columns compared by ``strategy="check"``; every column but the key and
        ``updated_at`` by default (or ``"all"``).
    now
        The time of this snapshot (naive, UTC by convention): when deleted rows are
        closed and, for the check strategy, when changes happen. Pass the run's
        logical date so that reruns give the same times. Runs go forward: ``now``
        must not be earlier than the times already in ``existing``.
    hard_deletes
        Close the current version of a key missing from ``source`` (default). With
        ``False`` such versions stay current, for sources that send only changes.

    Returns
    -------
    ir.Table
        The source's columns, then ``scd_id``, ``valid_from``, ``valid_to``,
        ``is_current``; one current row per key present in ``source``.
    """
    keys = column_list(key, "scd2_snapshot key")
    compared = _check_arguments(existing, source, keys, strategy, updated_at, check_cols)
    time_type = _snapshot_time_type(source, strategy, updated_at)
    now_value = _time_literal(now, time_type)
    arrival = source[updated_at] if updated_at is not None else now_value
    if existing is None:
        return _finish_new_versions(source.mutate(valid_from=arrival), keys, time_type)

    kept = existing.schema()
    output_schema = ibis.schema({name: kept[name] for name in [*source.columns, *SCD_COLUMNS]})
    updated = [updated_at] if updated_at is not None else []

    # Every existing version joined to the source's key (and what the comparison needs):
    # a current one is closed when changed or deleted, the rest kept as they are. The
    # joins carry only those few columns; the wide rows stream past them, as hand-written
    # SQL does (a join per case, wide on both sides, ran 1.3x slower on 250,000 customers).
    incoming = source.select(
        *[source[k].name(f"_mp_src_{k}") for k in keys],
        _mp_in_source=ibis.literal(True),
        **{f"_mp_src_{c}": source[c] for c in [*updated, *compared] if c not in keys},
    )
    # (on the key alone, old versions included: a condition on one side would keep DuckDB
    # from hashing the join, and the source holds one row per key)
    versions = existing.left_join(incoming, [existing[k] == incoming[f"_mp_src_{k}"] for k in keys])
    in_source = versions._mp_in_source.fill_null(False)
    changed = in_source & _changed(versions, strategy, updated_at, compared)
    change_time = _change_time(versions, updated_at, now_value, versions.valid_from)
    closed_at = ibis.cases(
        (~versions.is_current, versions.valid_to),
        (changed, change_time),
        (~in_source & ibis.literal(hard_deletes), now_value),
        else_=versions.valid_to,
    )
    old_versions = versions.select(
        *source.columns, "scd_id", "valid_from", valid_to=closed_at, is_current=closed_at.isnull()
    )
    old_versions = _as_schema(old_versions, output_schema)

    # New versions: a changed key opens at its change time, a key without a current
    # version at its arrival (never seen before) or at `now` (back after a delete).
    current = existing.filter(existing.is_current).select(
        *[existing[k].name(f"_mp_cur_{k}") for k in keys],
        _mp_in_current=ibis.literal(True),
        _mp_cur_valid_from=existing.valid_from,
        **{f"_mp_cur_{c}": existing[c] for c in [*updated, *compared] if c not in keys},
    )
    seen = existing.filter(~existing.is_current).select(*[existing[k].name(f"_mp_seen_{k}") for k in keys]).distinct()
    opening = source.left_join(current, [source[k] == current[f"_mp_cur_{k}"] for k in keys]).left_join(
        seen, [source[k] == seen[f"_mp_seen_{k}"] for k in keys]
    )
    in_current = opening._mp_in_current.fill_null(False)
    reopened = in_current & _changed(opening, strategy, updated_at, compared, ours="_mp_cur_", theirs="")
    back = ~reopened & opening[f"_mp_seen_{keys[0]}"].notnull()  # not current, but seen before
    changed_at = _change_time(opening, updated_at, now_value, opening._mp_cur_valid_from, ours="_mp_cur_", theirs="")
    first_valid = ibis.cases((back, now_value), (reopened, changed_at), else_=arrival)
    opened = opening.filter(reopened | ~in_current).select(*source.columns, valid_from=first_valid.cast(time_type))
    return ibis.union(
        old_versions, _as_schema(_finish_new_versions(opened, keys, time_type), output_schema), distinct=False
    )


def _as_schema(table: ir.Table, schema: ibis.Schema) -> ir.Table:
    """``table.cast(schema)``, or ``table`` itself when it has that schema already (a cast
    of every column to its own type is one more select for Ibis to build, about 0.8 ms)."""
    return table if table.schema() == schema else table.cast(schema)


def _change_time(
    pairs: ir.Table,
    updated_at: str | None,
    now_value: ir.TimestampScalar,
    valid_from: ir.TimestampValue,
    *,
    ours: str = "",
    theirs: str = "_mp_src_",
) -> ir.TimestampValue:
    """When a changed pair changed: the source's ``updated_at`` when it moved past the version's
    (and past its ``valid_from``, so that no version ends before it began), else ``now``."""
    if updated_at is None:
        return now_value
    new, old = pairs[f"{theirs}{updated_at}"], pairs[f"{ours}{updated_at}"]
    return ibis.ifelse(((new > old) & (new > valid_from)).fill_null(False), new, now_value)


def _changed(
    pairs: ir.Table,
    strategy: str,
    updated_at: str | None,
    compared: list[str],
    *,
    ours: str = "",
    theirs: str = "_mp_src_",
) -> ir.BooleanValue:
    """Whether a matched pair differs: the source (``theirs``) is newer (timestamp) or one of
    ``compared`` differs from the version (``ours``), nulls compared as values (check)."""
    if strategy == "timestamp":
        return (pairs[f"{theirs}{updated_at}"] > pairs[f"{ours}{updated_at}"]).fill_null(False)
    differs = [~pairs[f"{ours}{c}"].identical_to(pairs[f"{theirs}{c}"]) for c in compared]
    return ibis.or_(*differs) if differs else ibis.literal(False)


def _finish_new_versions(opened: ir.Table, keys: list[str], time_type: dt.DataType) -> ir.Table:
    """Add ``scd_id``, ``valid_to`` (null) and ``is_current`` (true) to new versions."""
    key_text = [opened[k].cast("string").fill_null("") for k in keys]
    stamp = opened.valid_from.strftime("%Y-%m-%d %H:%M:%S.%f").fill_null("")
    scd_id = md5(ibis.literal("|").join([*key_text, stamp]))
    return opened.select(
        *[c for c in opened.columns if c != "valid_from"],
        scd_id=scd_id,
        valid_from=opened.valid_from.cast(time_type),
        valid_to=ibis.null(time_type),
        is_current=ibis.literal(True),
    )
