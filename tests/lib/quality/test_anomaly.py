"""The band rule: bands computed by hand, the learning period, constant series, iqr vs zscore."""

from __future__ import annotations

import math

import pytest

from millpond.quality.anomaly import band, describe, find_anomalies, judge
from millpond.settings.quality import MonitorsSpec


def bounds(b) -> tuple[float, float]:
    return pytest.approx(b.lower, abs=1e-12), pytest.approx(b.upper, abs=1e-12)


def test_iqr_band_of_five_values():
    # sorted 10..14: Q1 = 11, Q3 = 13, IQR = 2 -> [8, 16]; tolerance 1% of median 12 = 0.12
    b = band([14, 10, 12, 11, 13], "iqr", k=1.5)
    assert (b.lower, b.upper, b.baseline) == (pytest.approx(7.88), pytest.approx(16.12), 5)
    spec = MonitorsSpec()
    assert [judge(v, [10, 11, 12, 13, 14], spec).status for v in (7.8, 7.9, 16.1, 16.2)] == [
        "anomaly",
        "ok",
        "ok",
        "anomaly",
    ]


def test_iqr_quartiles_interpolate_between_values():
    # 1, 2, 3, 4: Q1 at position 0.75 = 1.75, Q3 at 2.25 = 3.25, IQR 1.5; k = 1 -> [0.25, 4.75];
    # tolerance 1% of median 2.5 = 0.025
    b = band([1, 2, 3, 4], "iqr", k=1)
    assert (b.lower, b.upper) == (pytest.approx(0.225), pytest.approx(4.775))


def test_zscore_band_uses_the_sample_standard_deviation():
    # mean 5, squared deviations sum to 32, sample std sqrt(32/7); k = 2; tolerance 1% of median 4.5
    b = band([2, 4, 4, 4, 5, 5, 7, 9], "zscore", k=2)
    half = 2 * math.sqrt(32 / 7) + 0.045
    assert (b.lower, b.upper) == (pytest.approx(5 - half), pytest.approx(5 + half))


def test_iqr_ignores_a_past_outlier_that_widens_the_zscore_band():
    earlier = [10, 10, 10, 10, 50]
    # iqr: Q1 = Q3 = 10, so only the tolerance (0.1) is left: [9.9, 10.1]
    iqr = judge(12, earlier, MonitorsSpec(method="iqr", k=1.5))
    assert iqr.status == "anomaly" and (iqr.band.lower, iqr.band.upper) == (pytest.approx(9.9), pytest.approx(10.1))
    # zscore: mean 18, sample std sqrt(1280/4) = 17.89 -> 18 ± 26.83 (+ 0.1): 12 is inside
    zscore = judge(12, earlier, MonitorsSpec(method="zscore", k=1.5))
    half = 1.5 * math.sqrt(320) + 0.1
    assert zscore.status == "ok" and (zscore.band.lower, zscore.band.upper) == (
        pytest.approx(18 - half),
        pytest.approx(18 + half),
    )


def test_a_constant_series_flags_real_changes_only():
    spec = MonitorsSpec()
    assert bounds(band([100] * 5)) == (99.0, 101.0)
    assert [judge(v, [100] * 5, spec).status for v in (100, 100.5, 98.9, 102)] == ["ok", "ok", "anomaly", "anomaly"]
    # a rate that was always 0 (e.g. null_rate): the absolute tolerance 1e-9 only
    assert judge(0.0, [0.0] * 5, spec).status == "ok"
    assert judge(1e-6, [0.0] * 5, spec).status == "anomaly"


def test_nothing_is_flagged_before_min_runs_earlier_values():
    spec = MonitorsSpec(min_runs=5)
    learning = judge(1_000, [10, 10, 10, 10], spec)
    assert (learning.status, learning.band, learning.baseline) == ("learning", None, 4)
    assert judge(1_000, [10, 10, 10, 10, 10], spec).status == "anomaly"
    # missing and non-finite values do not count as runs
    assert judge(1_000, [None, 10, float("nan"), 10, 10, 10], spec).status == "learning"


def test_only_the_last_window_values_make_the_baseline():
    spec = MonitorsSpec(window=5, min_runs=5)
    verdict = judge(30, [1_000, 10, 11, 12, 13, 14], spec)
    assert verdict.status == "anomaly" and verdict.baseline == 5
    assert verdict.band.upper == pytest.approx(16.12)


def test_a_missing_value_is_not_an_anomaly():
    assert judge(None, [1, 1, 1, 1, 1], MonitorsSpec()).status == "ok"


def test_find_anomalies_reports_each_value_outside_its_band():
    history = [
        row
        for _ in range(6)
        for row in (
            {"column_name": "", "metric": "row_count", "value": 200.0},
            {"column_name": "id", "metric": "null_rate", "value": 0.0},
        )
    ]
    profile = [
        {"table": "silver.t", "column": "", "metric": "row_count", "value": 20},
        {"table": "silver.t", "column": "id", "metric": "null_rate", "value": 0.0},
        {"table": "silver.t", "column": "id", "metric": "distinct_count", "value": 20},  # never seen: learning
    ]

    (found,) = find_anomalies(profile, history, MonitorsSpec(window=14))

    assert found == {
        "table": "silver.t",
        "column": "",
        "metric": "row_count",
        "value": 20,
        "lower": 198.0,
        "upper": 202.0,
        "baseline": 6,
        "rule": "outside [Q1 - 1.5*IQR, Q3 + 1.5*IQR] of the last 6 runs, widened by max(1e-9, 1% of |median|)",
    }
    assert describe(found) == "silver.t row_count = 20, outside [198, 202]"
