"""Jinja filters of the docs site: sizes, ages, times and status colours.

>>> human_time(1700000000.0)
'2023-11-14 22:13 UTC'
>>> number(12436), number(None)
('12,436', '–')
"""

from __future__ import annotations

import datetime as dt

from millpond.catalog.text import age_text, lake_text, size_text
from millpond.report.render import status_tone

__all__ = ["human_time", "number", "register_filters"]


def human_time(value: float | dt.datetime | None) -> str:
    """A UTC time to the minute, from epoch seconds or a datetime."""
    if value is None:
        return "–"
    if not isinstance(value, dt.datetime):
        value = dt.datetime.fromtimestamp(float(value), dt.timezone.utc)
    return value.astimezone(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")


def number(value: int | float | None) -> str:
    """A count with thousands separators, ``–`` when unknown."""
    return "–" if value is None else f"{value:,}"


def register_filters(env) -> None:
    env.filters.update(
        age=lambda s: age_text(s) if s is not None else "–",
        size=lambda b: size_text(b) or "–",
        when=human_time,
        number=number,
        tone=status_tone,
        lake=lake_text,
    )
