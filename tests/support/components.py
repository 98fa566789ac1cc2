"""What a test does when an outside component (a server, a browser) is missing.

One rule for the whole suite: in CI (``CI=true``) every component must be there,
so a missing one fails the test, loudly; on a developer's machine it skips the
test with a message saying what is missing and why.
"""

from __future__ import annotations

import os
from typing import NoReturn

import pytest

__all__ = ["in_ci", "require_component"]


def in_ci() -> bool:
    """Whether the suite runs in CI, i.e. ``CI`` is set to ``true`` (or ``1``/``yes``).

    Examples
    --------
    >>> import os
    >>> in_ci() == (os.environ.get("CI", "").lower() in {"true", "1", "yes"})
    True
    """
    return os.environ.get("CI", "").strip().lower() in {"true", "1", "yes"}


def require_component(name: str, reason: str) -> NoReturn:
    """Stop the current test because component ``name`` is unavailable.

    Fails the test in CI, skips it elsewhere. Call it from a fixture or a test
    where the component turned out to be missing.

    Parameters
    ----------
    name
        What is missing, e.g. ``"PostgreSQL"``.
    reason
        Why, and what to do about it (install command, log excerpt).

    Raises
    ------
    pytest.fail.Exception
        In CI.
    pytest.skip.Exception
        Elsewhere.

    Examples
    --------
    >>> import pytest
    >>> try:
    ...     require_component("PostgreSQL", "initdb not found")
    ... except (pytest.fail.Exception, pytest.skip.Exception) as stop:
    ...     print(stop.msg.splitlines()[0])
    PostgreSQL is not available: initdb not found
    """
    message = f"{name} is not available: {reason}"
    if in_ci():
        pytest.fail(f"{message}\n(CI=true: every component is required in CI)", pytrace=False)
    pytest.skip(message)
