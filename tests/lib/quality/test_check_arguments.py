"""Regex checks are validated against what the warehouse's engine accepts, not only Python's `re`."""

from __future__ import annotations

import duckdb
import pytest

from millpond.quality.check_arguments import unsupported_by_re2

# patterns Python compiles; DuckDB (RE2) is the independent judge of which it runs
PATTERNS = [
    r"^[a-z0-9._%+-]+@[a-z0-9.-]+\.[a-z]{2,}$",
    r"(?i)^(yes|no)$",
    r"\d{4}-\d{2}",
    r"(?<!x)y",
    r"a(?=b)",
    r"(?:x|(?!y)z)+",
    r"(a)\1",
    r"(?P<n>a)(?P=n)",
    r"(?>ab)",
    r"a*+",
    r"((a)|b)(?(2)c)",
    r"x(y(?<=z))",
]


@pytest.mark.parametrize("pattern", PATTERNS)
def test_a_pattern_is_refused_exactly_when_duckdb_cannot_run_it(pattern):
    try:
        duckdb.connect().execute("SELECT regexp_matches('abc', ?)", [pattern]).fetchall()
        runs = True
    except duckdb.Error:
        runs = False
    assert (unsupported_by_re2(pattern) is None) == runs
