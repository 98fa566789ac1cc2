"""When is a profile value an anomaly: the band learned from the recent runs.

The rule (``quality.monitors`` in ``millpond.yml``: ``window``, ``min_runs``,
``method``, ``k``):

- the **baseline** of a metric is its values in the last ``window`` earlier runs that
  profiled the table (the current run excluded); missing and non-finite values are left
  out;
- with fewer than ``min_runs`` baseline values nothing is flagged (the monitor is
  *learning*);
- ``method: iqr`` (default): the band is ``[Q1 - k*IQR, Q3 + k*IQR]``, quartiles by
  linear interpolation (``statistics.quantiles(method="inclusive")``, numpy's default);
- ``method: zscore``: the band is ``mean ± k*std``, with the sample standard deviation;
- the band is then **widened on both sides by a tolerance** of
  ``max(1e-9, 1% of |median of the baseline|)``, so that a metric that never varied
  (IQR or std of 0) is not flagged for a rounding difference, but is for a real change;
- a value outside the widened band (bounds included in the band) is an anomaly.

Examples
--------
>>> from millpond.settings.quality import MonitorsSpec
>>> b = band([10, 11, 12, 13, 14])             # Q1 = 11, Q3 = 13, IQR = 2, tolerance 0.12
>>> round(b.lower, 2), round(b.upper, 2)
(7.88, 16.12)
>>> judge(30, [10, 11, 12, 13, 14], MonitorsSpec()).status
'anomaly'
>>> judge(30, [10, 11, 12, 13], MonitorsSpec()).status   # 4 earlier runs < min_runs 5
'learning'
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Literal

from millpond.settings.quality import MonitorsSpec

#: The band is widened on each side by ``max(ABSOLUTE_TOLERANCE, RELATIVE_TOLERANCE * |median|)``.
ABSOLUTE_TOLERANCE = 1e-9
RELATIVE_TOLERANCE = 0.01

Method = Literal["iqr", "zscore"]


@dataclass(frozen=True)
class Band:
    """The accepted range of a metric, learned from ``baseline`` earlier values."""

    lower: float
    upper: float
    baseline: int

    def contains(self, value: float) -> bool:
        """Whether ``value`` lies inside the band, bounds included.

        >>> Band(1.0, 2.0, 5).contains(2.0), Band(1.0, 2.0, 5).contains(2.5)
        (True, False)
        """
        return self.lower <= value <= self.upper


@dataclass(frozen=True)
class Verdict:
    """``learning`` (too few earlier runs), ``ok`` or ``anomaly``; ``band`` is None while learning."""

    status: Literal["learning", "ok", "anomaly"]
    band: Band | None
    baseline: int


def usable(values: Iterable[float | None]) -> list[float]:
    """The finite numbers of ``values``, in order (``None`` and NaN left out).

    >>> usable([1, None, float("nan"), 2.5])
    [1.0, 2.5]
    """
    return [float(v) for v in values if v is not None and math.isfinite(float(v))]


def tolerance(values: list[float]) -> float:
    """How much the band is widened on each side: ``max(1e-9, 1% of |median|)``.

    >>> tolerance([100, 100, 100]), tolerance([0, 0, 0])
    (1.0, 1e-09)
    """
    return max(ABSOLUTE_TOLERANCE, RELATIVE_TOLERANCE * abs(statistics.median(values)))


def band(values: list[float], method: Method = "iqr", k: float = 1.5) -> Band:
    """The band of ``values`` (at least one), widened by :func:`tolerance`.

    >>> band([5, 5, 5, 5, 5])                    # never varied: only the tolerance (1% of 5)
    Band(lower=4.95, upper=5.05, baseline=5)
    >>> b = band([2, 4, 4, 4, 5, 5, 7, 9], "zscore", k=2)   # mean 5, sample std sqrt(32/7), tolerance 0.045
    >>> round(b.lower, 3), round(b.upper, 3)
    (0.679, 9.321)
    """
    values = usable(values)
    if not values:
        raise ValueError("a band needs at least one value")
    if method == "iqr":
        if len(values) == 1:
            q1 = q3 = values[0]
        else:
            q1, _, q3 = statistics.quantiles(values, n=4, method="inclusive")
        low, high = q1 - k * (q3 - q1), q3 + k * (q3 - q1)
    elif method == "zscore":
        mean = statistics.fmean(values)
        std = statistics.stdev(values) if len(values) > 1 else 0.0
        low, high = mean - k * std, mean + k * std
    else:
        raise ValueError(f"unknown method {method!r} (iqr or zscore)")
    tol = tolerance(values)
    return Band(low - tol, high + tol, len(values))


def judge(value: float | None, earlier: Iterable[float | None], spec: MonitorsSpec) -> Verdict:
    """Whether ``value`` is an anomaly against ``earlier`` values (oldest first).

    Only the last ``spec.window`` usable earlier values count. A missing value is
    ``ok``: nothing to compare (a drop to zero rows is caught by ``row_count``).

    >>> spec = MonitorsSpec(window=3, min_runs=3)
    >>> judge(100, [1, 1, 1, 100, 100, 100], spec).status   # the old 1s are out of the window
    'ok'
    """
    values = usable(earlier)[-spec.window :]
    if len(values) < spec.min_runs:
        return Verdict("learning", None, len(values))
    b = band(values, spec.method, spec.k)
    if value is None or not math.isfinite(float(value)) or b.contains(float(value)):
        return Verdict("ok", b, b.baseline)
    return Verdict("anomaly", b, b.baseline)


def rule_text(spec: MonitorsSpec, baseline: int) -> str:
    """The rule in words, as stored with each anomaly.

    >>> rule_text(MonitorsSpec(), 6)
    'outside [Q1 - 1.5*IQR, Q3 + 1.5*IQR] of the last 6 runs, widened by max(1e-9, 1% of |median|)'
    """
    inside = f"[Q1 - {spec.k:g}*IQR, Q3 + {spec.k:g}*IQR]" if spec.method == "iqr" else f"mean ± {spec.k:g}*std"
    return f"outside {inside} of the last {baseline} runs, widened by max(1e-9, 1% of |median|)"


def series(history: Iterable[dict[str, Any]]) -> dict[tuple[str, str], list[float | None]]:
    """Store rows (``column_name``, ``metric``, ``value``; oldest first) grouped by ``(column, metric)``.

    >>> series([{"column_name": "", "metric": "row_count", "value": 3.0},
    ...         {"column_name": "", "metric": "row_count", "value": 4.0}])
    {('', 'row_count'): [3.0, 4.0]}
    """
    grouped: dict[tuple[str, str], list[float | None]] = {}
    for row in history:
        grouped.setdefault((row["column_name"], row["metric"]), []).append(row["value"])
    return grouped


def find_anomalies(
    profile: list[dict[str, Any]], history: Iterable[dict[str, Any]], spec: MonitorsSpec
) -> list[dict[str, Any]]:
    """The values of ``profile`` (dicts with ``table``, ``column``, ``metric``, ``value``) that are
    anomalies against ``history`` (store rows of earlier runs, oldest first), as dicts for
    :meth:`~millpond.store.metadata.MetadataStore.record_anomalies`.

    >>> earlier = [{"column_name": "", "metric": "row_count", "value": 100.0}] * 5
    >>> found = find_anomalies([{"table": "t", "column": "", "metric": "row_count", "value": 10}], earlier,
    ...                        MonitorsSpec())
    >>> [(a["metric"], a["value"], a["lower"], a["upper"], a["baseline"]) for a in found]
    [('row_count', 10, 99.0, 101.0, 5)]
    """
    baseline = series(history)
    found = []
    for p in profile:
        verdict = judge(p["value"], baseline.get((p.get("column") or "", p["metric"]), []), spec)
        if verdict.status == "anomaly":
            found.append(
                {
                    "table": p["table"],
                    "column": p.get("column") or "",
                    "metric": p["metric"],
                    "value": p["value"],
                    "lower": verdict.band.lower,
                    "upper": verdict.band.upper,
                    "baseline": verdict.baseline,
                    "rule": rule_text(spec, verdict.baseline),
                }
            )
    return found


def format_value(value: float | None) -> str:
    """A number for people: whole numbers with thousands separators, others to 4 significant digits.

    >>> format_value(12000.0), format_value(0.123456), format_value(None)
    ('12,000', '0.1235', '')
    """
    if value is None:
        return ""
    if float(value).is_integer() and abs(value) < 1e15:
        return f"{int(value):,}"
    return f"{value:.4g}"


def describe(anomaly: dict[str, Any]) -> str:
    """One line for an anomaly (store row or :func:`find_anomalies` dict).

    >>> describe({"table": "silver.t", "column": "", "metric": "row_count", "value": 10, "lower": 99, "upper": 101})
    'silver.t row_count = 10, outside [99, 101]'
    """
    table = anomaly.get("table") or anomaly.get("table_name")
    column = anomaly.get("column", anomaly.get("column_name")) or ""
    what = f"{table}.{column}" if column else table
    return (
        f"{what} {anomaly['metric']} = {format_value(anomaly['value'])}, "
        f"outside [{format_value(anomaly['lower'])}, {format_value(anomaly['upper'])}]"
    )
