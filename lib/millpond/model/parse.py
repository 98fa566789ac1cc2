"""Backend-agnostic parsing and normalizing of raw text columns with Ibis.

PostgreSQL has no ``TRY_CAST`` (Ibis compiles ``try_cast`` to a plain ``CAST`` there,
which fails the whole query on one bad value), so every parser first checks the text
against a strict pattern and only casts what matches; anything else becomes NULL.
The patterns are the accepted formats:

==========  ==============================================  =====================
type        accepted text (surrounding blanks are ignored)  example
==========  ==============================================  =====================
integer     optional ``-`` and 1-18 digits                  ``-42``
money       integer part and up to 2 decimals, ``.``-sep.   ``12.5``, ``12.50``
date        ``YYYY-MM-DD``                                  ``2024-01-31``
timestamp   ``YYYY-MM-DD HH:MM:SS`` (UTC, no offset)        ``2024-01-31 23:59:59``
==========  ==============================================  =====================

Month, day, hour, minute and second ranges are checked by the pattern; an impossible
day such as ``2024-02-30`` passes it and is then NULL on DuckDB (``TRY_CAST``) but an
error on PostgreSQL. The generator never writes one.

Columns that already have the target type pass through unchanged, so the same silver
code works on typed inputs (parquet) and on text (CSV).

>>> import ibis
>>> import pyarrow as pa
>>> t = ibis.memtable(pa.table({"raw": [" 12.5 ", "12,50", None]}))
>>> ibis.duckdb.connect().to_pyarrow(t.select(amount=parse_money(t.raw)))["amount"].to_pylist()
[Decimal('12.50'), None, None]
"""

from __future__ import annotations

import ibis
import ibis.expr.datatypes as dt
import ibis.expr.types as ir

MONEY = dt.Decimal(18, 2)
"""Every amount of money in silver and gold is decimal(18, 2)."""

INTEGER_PATTERN = r"^-?[0-9]{1,18}$"
MONEY_PATTERN = r"^-?[0-9]{1,16}(\.[0-9]{1,2})?$"
DATE_PATTERN = r"^[0-9]{4}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])$"
TIMESTAMP_PATTERN = DATE_PATTERN[:-1] + r" ([01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9]$"


def _parse(value: ir.Value, pattern: str, target: dt.DataType) -> ir.Value:
    if value.type() == target:
        return value
    if not value.type().is_string():
        return value.cast(target)
    text = value.strip()
    return ibis.cases((text.re_search(pattern), text.try_cast(target)), else_=ibis.null(target))


def parse_int(value: ir.Value) -> ir.IntegerValue:
    """Parse text as int64; NULL when it is not an integer.

    >>> import pyarrow as pa
    >>> t = ibis.memtable(pa.table({"raw": ["7", " -3 ", "three", "1.0"]}))
    >>> ibis.duckdb.connect().to_pyarrow(t.select(n=parse_int(t.raw)))["n"].to_pylist()
    [7, -3, None, None]
    """
    return _parse(value, INTEGER_PATTERN, dt.int64)


def parse_money(value: ir.Value) -> ir.DecimalValue:
    """Parse text or a number as decimal(18, 2); NULL when text is not ``digits[.dd]``.

    Floats are cast (rounded to cents), so ``19.99`` stays ``19.99``.

    >>> import pyarrow as pa
    >>> t = ibis.memtable(pa.table({"raw": [19.99, 0.1 + 0.2]}))
    >>> ibis.duckdb.connect().to_pyarrow(t.select(p=parse_money(t.raw)))["p"].to_pylist()
    [Decimal('19.99'), Decimal('0.30')]
    """
    return _parse(value, MONEY_PATTERN, MONEY)


def parse_date(value: ir.Value) -> ir.DateValue:
    """Parse ``YYYY-MM-DD`` text as a date; NULL otherwise.

    >>> import pyarrow as pa
    >>> t = ibis.memtable(pa.table({"raw": ["2024-01-31", "31/01/2024", "2024-13-01"]}))
    >>> ibis.duckdb.connect().to_pyarrow(t.select(d=parse_date(t.raw)))["d"].to_pylist()
    [datetime.date(2024, 1, 31), None, None]
    """
    return _parse(value, DATE_PATTERN, dt.date)


def parse_timestamp(value: ir.Value) -> ir.TimestampValue:
    """Parse ``YYYY-MM-DD HH:MM:SS`` text as a naive (UTC) timestamp; NULL otherwise.

    >>> import pyarrow as pa
    >>> t = ibis.memtable(pa.table({"raw": ["2024-01-31 23:59:59", "not-a-date", "2024-01-31"]}))
    >>> ibis.duckdb.connect().to_pyarrow(t.select(ts=parse_timestamp(t.raw)))["ts"].to_pylist()
    [datetime.datetime(2024, 1, 31, 23, 59, 59), None, None]
    """
    return _parse(value, TIMESTAMP_PATTERN, dt.timestamp)


def blank_to_null(value: ir.StringValue) -> ir.StringValue:
    """Strip surrounding blanks; an empty result becomes NULL.

    >>> import pyarrow as pa
    >>> t = ibis.memtable(pa.table({"raw": ["  a ", "   ", None]}))
    >>> ibis.duckdb.connect().to_pyarrow(t.select(v=blank_to_null(t.raw)))["v"].to_pylist()
    ['a', None, None]
    """
    text = value.strip()
    return ibis.cases((text == "", ibis.null("string")), else_=text)


def normalize_email(value: ir.StringValue) -> ir.StringValue:
    """Return the e-mail trimmed and lower-cased (NULL when blank).

    >>> import pyarrow as pa
    >>> t = ibis.memtable(pa.table({"raw": ["  Ann@Example.COM "]}))
    >>> ibis.duckdb.connect().to_pyarrow(t.select(e=normalize_email(t.raw)))["e"].to_pylist()
    ['ann@example.com']
    """
    return blank_to_null(value).lower()


def normalize_phone(value: ir.StringValue, calling_code: ir.StringValue) -> ir.StringValue:
    """Return a phone number as E.164: ``+`` then digits only.

    Rules, on the digits of the text: a leading ``+`` keeps them as they are; a leading
    ``00`` is the international prefix and is dropped; otherwise the number is national,
    its trunk ``0`` (if any) is dropped and ``calling_code`` (the customer's country's)
    is put in front. No digits at all gives NULL.

    >>> import pyarrow as pa
    >>> t = ibis.memtable(pa.table({"raw": ["+31 6 1234 5678", "0031 612345678", "06-12345678",
    ...                            "(555) 123-4567", "n/a"], "code": ["31", "31", "31", "1", "1"]}))
    >>> ibis.duckdb.connect().to_pyarrow(t.select(p=normalize_phone(t.raw, t.code)))["p"].to_pylist()
    ['+31612345678', '+31612345678', '+31612345678', '+15551234567', None]
    """
    text = value.strip()
    digits = text.re_replace(r"[^0-9]", "")
    return ibis.cases(
        (digits == "", ibis.null("string")),
        (text.startswith("+"), "+" + digits),
        (digits.startswith("00"), "+" + digits.substr(2)),
        (digits.startswith("0"), "+" + calling_code + digits.substr(1)),
        else_="+" + calling_code + digits,
    )
