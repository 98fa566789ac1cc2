"""Typed pipeline parameters: ``str``, ``int``, ``float``, ``bool``, ``date``, ``list``.

Values come from YAML (already typed) or from the command line (strings); both are
coerced to the declared type. Dates travel to notebooks as ISO strings, since
Papermill injects plain Python literals.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any, Literal

ParamType = Literal["str", "int", "float", "bool", "date", "list"]
PARAM_TYPES: tuple[str, ...] = ("str", "int", "float", "bool", "date", "list")

_TRUE = {"true", "yes", "1", "on"}
_FALSE = {"false", "no", "0", "off"}


def coerce(value: Any, kind: str) -> Any:
    """Convert ``value`` to parameter type ``kind`` or raise ``ValueError``.

    Examples
    --------
    >>> coerce("3", "int"), coerce("yes", "bool"), coerce("2024-01-31", "date")
    (3, True, '2024-01-31')
    >>> coerce("a,b", "list"), coerce('["a", 1]', "list")
    (['a', 'b'], ['a', 1])
    >>> coerce("3.5", "int")
    Traceback (most recent call last):
    ...
    ValueError: expected int, got '3.5'
    """
    try:
        return _COERCERS[kind](value)
    except (ValueError, TypeError, json.JSONDecodeError):
        raise ValueError(f"expected {kind}, got {value!r}") from None


def _to_int(value: Any) -> int:
    if isinstance(value, bool):
        raise ValueError
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str):
        return int(value.strip())
    raise ValueError


def _to_float(value: Any) -> float:
    if isinstance(value, bool):
        raise ValueError
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, str):
        return float(value.strip())
    raise ValueError


def _to_bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in _TRUE | _FALSE:
        return value.strip().lower() in _TRUE
    raise ValueError


def _to_date(value: Any) -> str:
    if isinstance(value, dt.datetime):
        raise ValueError
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, str):
        return dt.date.fromisoformat(value.strip()).isoformat()
    raise ValueError


def _to_list(value: Any) -> list:
    if isinstance(value, list):
        return value
    if isinstance(value, str):
        text = value.strip()
        if text.startswith("["):
            parsed = json.loads(text)
            if not isinstance(parsed, list):
                raise ValueError
            return parsed
        return [part.strip() for part in text.split(",") if part.strip()] if text else []
    raise ValueError


def _to_str(value: Any) -> str:
    if isinstance(value, (dict, list)):
        raise ValueError
    if isinstance(value, dt.date):
        return value.isoformat()
    return str(value)


_COERCERS = {
    "str": _to_str,
    "int": _to_int,
    "float": _to_float,
    "bool": _to_bool,
    "date": _to_date,
    "list": _to_list,
}


def python_type_name(value: Any) -> str:
    """The name Papermill's inspector uses for a literal's type.

    >>> python_type_name(3), python_type_name("x"), python_type_name(None)
    ('int', 'str', 'None')
    """
    return "None" if value is None else type(value).__name__


def compatible(value: Any, declared: str | None) -> bool:
    """Whether ``value`` fits a notebook parameter whose default has type ``declared``.

    ``declared`` is Papermill's ``inferred_type_name`` (``"int"``, ``"str"``,
    ``"None"``, an annotation such as ``"Optional[int]"``, ...). Unknown or
    ``None`` declarations accept anything; ints are accepted for floats.

    >>> compatible(3, "int"), compatible("3", "int"), compatible(3, "float")
    (True, False, True)
    """
    if not declared or declared in {"None", "Any", "object"}:
        return True
    if declared not in {"int", "float", "str", "bool", "list", "dict"}:
        return True
    actual = python_type_name(value)
    if actual == declared:
        return True
    return declared == "float" and actual == "int"
