"""What starts a run under ``millpond watch PIPELINE``: a pipeline's ``watch:`` block.

Example::

    watch:
      files: [data/raw/events/*.jsonl]   # globs from the workspace root; default: what the stages read
      debounce: 2                        # seconds of quiet after the last file landed, then one run
      cron: "*/15 * * * *"               # optional: a schedule (a sixth field is seconds)

A stage may also run when a stream's output advances (``on_stream:`` on the stage,
:mod:`millpond.settings.pipeline`). Every value is checked here, when the spec is
validated: the globs must be usable (:mod:`millpond.settings.values`), the debounce finite
and at most an hour, the schedule one that croniter reads and that comes at least once.

>>> WatchSpec.model_validate({"cron": "*/15 * * * *"}).debounce
2.0
>>> usable_cron("*/15 * * * * 30")  # six fields: the last is seconds
'*/15 * * * * 30'
>>> usable_cron("0 0 30 2 *")
Traceback (most recent call last):
...
ValueError: '0 0 30 2 *': never comes (no such day)
"""

from __future__ import annotations

from datetime import datetime, timezone

from pydantic import BaseModel, ConfigDict, Field, field_validator

from millpond.settings.values import MAX_DEBOUNCE, GlobPattern
from millpond.yaml_source import shorten

CRON_FIELDS = "minute hour day-of-month month day-of-week, and optionally second"
MAX_CRON_CHARACTERS = 200
"""The longest schedule read: croniter expands each list and range, so a long one is slow to check."""


def usable_cron(expression: str) -> str:
    """``expression`` if croniter reads it as a schedule that comes at least once, else
    ``ValueError`` saying why (one line, the expression shortened)."""
    from croniter import CroniterBadDateError, croniter  # dateutil's time zones: only for a schedule

    text = " ".join(expression.split())
    if not text:
        raise ValueError(f"an empty schedule; write five fields ({CRON_FIELDS})")
    if len(text) > MAX_CRON_CHARACTERS:
        raise ValueError(f"{shorten(text)}: too long for a schedule (at most {MAX_CRON_CHARACTERS} characters)")
    if len(text.split()) not in (5, 6) and not (text.startswith("@") and " " not in text):  # @hourly, @daily...
        raise ValueError(f"{shorten(text)}: a schedule has five fields ({CRON_FIELDS}), or six")
    try:
        croniter(text, datetime(2000, 1, 1, tzinfo=timezone.utc)).get_next(datetime)
    except CroniterBadDateError:
        raise ValueError(f"{shorten(text)}: never comes (no such day)") from None
    except (ValueError, KeyError, TypeError, IndexError, OverflowError) as exc:  # croniter's errors are ValueErrors
        said = " ".join(str(exc).replace(f"[{text}]", "").split()) or type(exc).__name__
        raise ValueError(f"{shorten(text)}: not a schedule ({CRON_FIELDS}): {said[:120]}") from None
    return text


class WatchSpec(BaseModel):
    """A pipeline's ``watch:``: the files whose landing starts a run, and a schedule."""

    model_config = ConfigDict(extra="forbid")

    files: list[GlobPattern] | None = Field(
        default=None,
        description="globs from the workspace root whose new or changed files start a run "
        "(default: the files the stages read, their reads: and their sources' path)",
    )
    debounce: float = Field(
        default=2.0,
        gt=0,
        le=MAX_DEBOUNCE,
        allow_inf_nan=False,
        description="seconds of quiet after the last file landed before the one run of a burst (at most an hour)",
    )
    cron: str | None = Field(
        default=None,
        description="a schedule of runs: five cron fields, or six (the last is seconds); in local time",
    )

    @field_validator("cron")
    @classmethod
    def _cron_is_usable(cls, value: str | None) -> str | None:
        return None if value is None else usable_cron(value)
