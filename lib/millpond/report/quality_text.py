"""How the quality report words its numbers: changes, durations, counts, shares, profile values."""

from __future__ import annotations

import pandas as pd


def change(now, before) -> str:
    """The change from ``before`` to ``now`` in words: ``"+2.5%"``, ``"no change"``, ``""`` when unknown.

    >>> change(1025, 1000), change(990, 1000), change(5, 5), change(5, None), change(3, 0)
    ('+2.5%', '−1.0%', 'no change', '', '+3')
    """
    if before is None or now is None or pd.isna(before) or pd.isna(now):
        return ""
    if now == before:
        return "no change"
    if before == 0:
        return f"+{now - before:,}"
    change = (now - before) / before
    return f"{'+' if change > 0 else '−'}{abs(change):.1%}"


def duration(seconds: float) -> str:
    """``0.4 s``, ``42 s``, ``3 min 05 s``, ``1 h 02 min``.

    >>> duration(0.42), duration(42.3), duration(185), duration(3725)
    ('0.4 s', '42 s', '3 min 05 s', '1 h 02 min')
    """
    if seconds < 10:
        return f"{seconds:.1f} s"
    if seconds < 60:
        return f"{seconds:.0f} s"
    minutes, secs = divmod(int(round(seconds)), 60)
    if minutes < 60:
        return f"{minutes} min {secs:02d} s"
    return f"{minutes // 60} h {minutes % 60:02d} min"


def count(value) -> str:
    return "—" if value is None or pd.isna(value) else f"{int(value):,}"


def percent(share) -> str:
    return "—" if share is None or pd.isna(share) else f"{share:.1%}"


def metric_value(metric: str, value) -> str:
    """A profile value as its metric reads.

    >>> metric_value("null_rate", 0.2412), metric_value("row_count", 3900.0), metric_value("mean", 12.3456)
    ('24.1%', '3,900', '12.3')
    """
    if value is None or pd.isna(value):
        return "?"
    if metric == "null_rate":
        return f"{value:.1%}"
    if metric in {"row_count", "distinct_count"} or abs(value) >= 1000:
        return f"{value:,.0f}"
    return f"{value:.3g}"
