"""Surrogate keys: a stable hash of some columns, the same on every engine.

:func:`surrogate_key` renders each value as a canonical text, joins the texts with
``|`` and takes the md5 hex digest (32 lowercase hex characters, a string). The same
values give the same key on DuckDB and on PostgreSQL, so a key computed in one
warehouse joins with a key computed in another, or by Python's ``hashlib``.

The canonical text of a value, by type:

=================  ============================================================
type               text
=================  ============================================================
string             trimmed of surrounding whitespace; ``\\`` and ``|`` escaped
                   with a backslash (so no value can imitate a separator)
integer            decimal digits (``-3``)
decimal            digits with trailing fractional zeros removed (``1.50`` ->
                   ``1.5``, ``100.00`` -> ``100``)
boolean            ``true`` / ``false``
date               ``YYYY-MM-DD``
timestamp          ``YYYY-MM-DD HH:MM:SS.ffffff`` (time-zone-aware timestamps in the
                   session time zone, which Ibis sets to UTC on both engines)
NULL               ``\\N`` (a string ``\\N`` renders as ``\\\\N``: no collision)
=================  ============================================================

Floating-point columns are refused: their text differs between engines (``1.0`` on
DuckDB, ``1`` on PostgreSQL) and a float is a poor key anyway; cast to a decimal.
"""

from __future__ import annotations

import ibis
import ibis.expr.types as ir

from millpond.errors import MillpondError

SEPARATOR = "|"
NULL_MARKER = "\\N"


@ibis.udf.scalar.builtin(name="md5")
def _md5(text: str) -> str:
    """md5 hex digest of a text: ``md5(text)`` on DuckDB and PostgreSQL alike."""
    raise NotImplementedError  # never called: the engine's own md5 runs


def canonical_text(value: ir.Value) -> ir.StringValue:
    """The canonical text of one column or expression, as :func:`surrogate_key` hashes it.

    Examples
    --------
    >>> import ibis
    >>> t = ibis.memtable({"price": ["1.50"], "name": ["  a|b "]})
    >>> t = t.mutate(price=t.price.cast("decimal(10, 2)"))
    >>> ibis.duckdb.connect().execute(canonical_text(t.price))[0]
    '1.5'
    >>> print(ibis.duckdb.connect().execute(canonical_text(t.name))[0])
    a\\|b
    """
    dtype = value.type()
    if dtype.is_string():
        text = value.strip().replace("\\", "\\\\").replace(SEPARATOR, "\\" + SEPARATOR)
    elif dtype.is_integer():
        text = value.cast("string")
    elif dtype.is_decimal():
        digits = value.cast("string")
        trimmed = digits.re_replace(r"0+$", "").re_replace(r"\.$", "")
        text = digits.contains(".").ifelse(trimmed, digits)
    elif dtype.is_boolean():
        text = value.ifelse("true", "false")
    elif dtype.is_date():
        text = value.strftime("%Y-%m-%d")
    elif dtype.is_timestamp():
        text = value.strftime("%Y-%m-%d %H:%M:%S.%f")
    elif dtype.is_floating():
        raise MillpondError(
            f"surrogate_key: column {_label(value)!r} is floating-point ({dtype}); "
            "its text differs between engines: cast it to a decimal or an integer first"
        )
    else:
        raise MillpondError(
            f"surrogate_key: column {_label(value)!r} has type {dtype}, which has no "
            "canonical text; cast it to a string, number, date or timestamp first"
        )
    return text.fill_null(NULL_MARKER)


def _label(value: ir.Value) -> str:
    try:
        return value.get_name()
    except Exception:  # noqa: BLE001 - unnamed expressions
        return str(value.op().__class__.__name__)


def surrogate_key(*columns: ir.Value) -> ir.StringValue:
    """A stable hash key of ``columns``: md5 hex of their canonical texts joined by ``|``.

    Parameters
    ----------
    *columns
        Column expressions (or any value expressions) of one table, in key order:
        ``surrogate_key(t.a, t.b)`` differs from ``surrogate_key(t.b, t.a)``.

    Returns
    -------
    StringValue
        32 lowercase hex characters, never NULL (a NULL value hashes as ``\\N``).

    Examples
    --------
    >>> import hashlib
    >>> import ibis
    >>> t = ibis.memtable({"shop": ["north "], "order_id": [7]})
    >>> key = ibis.duckdb.connect().execute(surrogate_key(t.shop, t.order_id))[0]
    >>> key == hashlib.md5(b"north|7").hexdigest()
    True
    """
    if not columns:
        raise MillpondError("surrogate_key: give at least one column")
    texts = [canonical_text(column) for column in columns]
    joined = texts[0]
    for text in texts[1:]:
        joined = joined + SEPARATOR + text
    return _md5(joined)
