"""Data quality checks: Ibis expressions that select the rows breaking a rule.

Zero rows means the check passed; otherwise the rows are the evidence.
Build checks with the functions of :mod:`millpond.quality.basic` and
:mod:`millpond.quality.builtin`, wrap them in :class:`Check` (with a severity and
optional thresholds, :mod:`millpond.quality.thresholds`) and run them with
:func:`run_checks`, which returns a frame that :class:`millpond.report.Checks` shows
in a report. Checks declared in YAML (:mod:`millpond.quality.declared`) become
:class:`Check` objects through :func:`parse_checks` and :func:`build_checks`.
"""

from __future__ import annotations

import importlib

# Imported on first use (PEP 562): the command line reads the quality settings
# for every workspace and must not pay for Ibis and pandas to decide that nothing runs.
_HOMES = {
    "millpond.quality.basic": (
        "Check",
        "CheckResult",
        "accepted_values",
        "not_null",
        "relationships",
        "row_count_between",
        "run_check",
        "run_checks",
        "unique",
    ),
    "millpond.quality.builtin": (
        "EMAIL",
        "between",
        "expression_check",
        "freshness",
        "matches_regex",
        "schema_contract",
        "sql_check",
    ),
    "millpond.quality.declared": ("CheckBuildError", "CheckDeclarations", "build_checks", "parse_checks"),
    "millpond.quality.thresholds": ("Threshold", "check_status"),
}
_WHERE = {name: module for module, names in _HOMES.items() for name in names}


def __getattr__(name: str):
    if name in _WHERE:
        return getattr(importlib.import_module(_WHERE[name]), name)
    raise AttributeError(f"module 'millpond.quality' has no attribute {name!r}")


__all__ = [
    "EMAIL",
    "Check",
    "CheckBuildError",
    "CheckDeclarations",
    "CheckResult",
    "Threshold",
    "accepted_values",
    "between",
    "build_checks",
    "check_status",
    "expression_check",
    "freshness",
    "matches_regex",
    "not_null",
    "parse_checks",
    "relationships",
    "row_count_between",
    "run_check",
    "run_checks",
    "schema_contract",
    "sql_check",
    "unique",
]
