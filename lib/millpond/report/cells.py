"""Table cells of a report: values as readable text (thousands separators, dates).

>>> format_value(1234567), format_value(0.5), format_value(3.0)
('1,234,567', '0.50', '3')
"""

from __future__ import annotations

import decimal
import math
import numbers
from typing import Any

import numpy as np
import pandas as pd


def cell(value: Any, digits: int | None = None, *, raw: bool = False) -> dict[str, Any]:
    """A table cell: its text and whether it is null (shown muted). ``raw`` shows the value
    as stored (a sample row: a year is 2013, a clock time 1958, not 2,013 and 1,958)."""
    if is_null(value):
        return {"text": "null", "null": True, "tone": None, "href": None}
    if raw and isinstance(value, (float, np.floating)) and math.isfinite(value):
        text = f"{float(value):.12g}"  # as stored, without float noise: 6.90468, not 6.904679999999999; 602, not 602.0
    elif raw and not isinstance(value, (bool, np.bool_)):
        text = str(value)
    else:
        text = format_value(value, digits)
    return {"text": text if len(text) <= 200 else text[:199] + "…", "null": False, "tone": None, "href": None}


def float_digits(column: pd.Series) -> int:
    """Decimals for a float column: none if every value is whole, else two."""
    values = column.dropna()
    return 0 if len(values) and bool((values == values.round()).all()) else 2


def format_value(value: Any, digits: int | None = None) -> str:
    """Readable text: thousands separators, floats with ``digits`` decimals (default:
    none when whole, else two), whole-day timestamps as dates."""
    if isinstance(value, (bool, np.bool_)):
        return "true" if value else "false"
    if isinstance(value, numbers.Integral):
        return f"{int(value):,}"
    if isinstance(value, (numbers.Real, decimal.Decimal)):
        if not math.isfinite(value):
            return str(value)
        if 0 < abs(value) < 0.01:
            return f"{value:.3g}"
        if digits is None:
            digits = 0 if value == round(value) else 2
        return f"{value:,.{digits}f}"
    if isinstance(value, pd.Timestamp) and value.tz is None and value == value.normalize():
        return value.date().isoformat()
    return str(value)


def is_null(value: Any) -> bool:
    return value is None or value is pd.NA or value is pd.NaT or (isinstance(value, float) and math.isnan(value))


def failing_values(detail: dict[str, Any], failing_rows: int) -> dict[str, Any]:
    """What a failing check's ``detail`` says (:attr:`millpond.quality.basic.CheckResult.detail`):
    a line (``3 duplicated keys over 6 rows``) and its values with their counts, most
    frequent first, as GX shows unexpected values.

    >>> failing_values({"columns": ["k"], "values": [{"value": 7, "rows": 2}], "distinct": 1, "duplicates": True}, 2)
    {'failing_line': '1 duplicated key over 2 rows', 'failing_values': [{'text': '7', 'rows': '2'}]}
    >>> failing_values({}, 3)
    {'failing_line': '', 'failing_values': []}
    """
    if not detail or not detail.get("values"):
        return {"failing_line": "", "failing_values": []}
    distinct, columns = int(detail.get("distinct", 0)), detail.get("columns", [])
    if detail.get("duplicates"):
        line = f"{distinct:,} duplicated key{'s' if distinct != 1 else ''} over {int(failing_rows):,} rows"
    else:
        line = f"{distinct:,} distinct failing value{'s' if distinct != 1 else ''} of {', '.join(columns)}"
    values = []
    for entry in detail["values"]:
        value = entry["value"]
        shown = (
            ", ".join(f"{k}={cell(v, raw=True)['text']}" for k, v in value.items())
            if isinstance(value, dict)
            else cell(value, raw=True)["text"]
        )
        values.append({"text": shown, "rows": f"{int(entry['rows']):,}"})
    return {"failing_line": line, "failing_values": values}
