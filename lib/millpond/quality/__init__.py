"""Data quality checks: Ibis expressions that select the rows breaking a rule.

Zero rows means the check passed; otherwise the rows are the evidence.
Build checks with the functions of :mod:`millpond.quality.basic`, wrap them in
:class:`Check` and run them with :func:`run_checks`, which returns a frame that
:class:`millpond.report.Checks` shows in a report.
"""

from __future__ import annotations

from millpond.quality.basic import (
    Check,
    CheckResult,
    accepted_values,
    not_null,
    relationships,
    row_count_between,
    run_check,
    run_checks,
    unique,
)

__all__ = [
    "Check",
    "CheckResult",
    "accepted_values",
    "not_null",
    "relationships",
    "row_count_between",
    "run_check",
    "run_checks",
    "unique",
]
