"""User-facing errors.

A :class:`MillpondError` is a mistake the user can fix (a bad spec, a missing file, a
lock held by another run). The command line prints its message as one line and exits
non-zero, without a traceback. Anything else is a bug and keeps its traceback.
"""

from __future__ import annotations


class MillpondError(Exception):
    """A problem the user can fix; ``str(error)`` is one line saying what and where.

    Examples
    --------
    >>> str(MillpondError("pipelines/shop.yml:4: stages[0].needs: unknown stage 'x'"))
    "pipelines/shop.yml:4: stages[0].needs: unknown stage 'x'"
    """


class SpecError(MillpondError):
    """A workspace or pipeline file is invalid; ``lines``: every error found, one line each
    (the message is the first)."""

    def __init__(self, *args: object) -> None:
        super().__init__(*args)
        self.lines: list[str] = [str(args[0])] if args else []


class LockError(MillpondError):
    """Another run holds the workspace or warehouse lock."""


class StageFailed(MillpondError):
    """A stage notebook raised, timed out or lost its kernel."""
