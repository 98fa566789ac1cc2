"""How many violating rows a check tolerates before it warns or fails.

A :class:`Threshold` is a number of rows (``{"rows": 10}``) or a share of the
checked table's rows (``{"percent": 1.5}``); a check's violations *exceed* it when
they are strictly more than that. :func:`check_status` turns the violations of a
check into ``pass``, ``warn`` or ``fail``, the way dbt's ``warn_if``/``error_if`` do:

- ``error_if`` exceeded: ``fail``. Left out, it means "any violating row" for a check
  of severity ``error`` and "never" for a check of severity ``warn``;
- otherwise ``warn_if`` exceeded: ``warn``. Left out, it means "any violating row";
- otherwise ``pass``.

So without thresholds any violation fails an ``error`` check and warns on a ``warn``
check. Unlike dbt, an ``error_if`` given to a ``warn`` check is honoured: it warns
on a few violations and fails above the threshold. To tolerate a few rows silently,
give both (``warn_if: {rows: 10}, error_if: {rows: 100}``).
"""

from __future__ import annotations

from decimal import Decimal
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

__all__ = ["Severity", "Status", "Threshold", "check_status", "needs_total"]

Severity = Literal["error", "warn"]
"""How bad a failing check is: ``error`` makes it ``fail``, ``warn`` makes it ``warn``."""

Status = Literal["pass", "warn", "fail"]
"""The outcome of a check."""


class Threshold(BaseModel):
    """A number of violating rows, or a percentage of the checked rows, to tolerate.

    Give exactly one of ``rows`` and ``percent``.

    Examples
    --------
    >>> Threshold(rows=10).exceeded_by(failing=11)
    True
    >>> Threshold(rows=10).exceeded_by(failing=10)
    False
    >>> Threshold(percent=1.5).exceeded_by(failing=2, total=100)
    True
    >>> from pydantic import ValidationError
    >>> try:
    ...     Threshold.model_validate({"rows": 1, "percent": 2})
    ... except ValidationError as error:
    ...     print(error.errors()[0]["msg"])
    Value error, give either rows or percent, not both
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    rows: int | None = Field(default=None, ge=0, description="violating rows tolerated")
    percent: float | None = Field(
        default=None, ge=0, le=100, description="violating rows tolerated, in % of the checked rows"
    )

    @model_validator(mode="after")
    def _exactly_one(self) -> Threshold:
        if self.rows is not None and self.percent is not None:
            raise ValueError("give either rows or percent, not both")
        if self.rows is None and self.percent is None:
            raise ValueError("give rows (a number of rows) or percent (a share of the table's rows)")
        return self

    def exceeded_by(self, failing: int, total: int | None = None) -> bool:
        """Whether ``failing`` violating rows out of ``total`` checked rows are too many.

        ``total`` is needed for a percentage only. With ``total`` zero, no violations
        are 0 % and any violation (possible for a SQL check) exceeds every percentage.
        """
        if self.rows is not None:
            return failing > self.rows
        if total is None:
            raise ValueError("a percent threshold needs the total number of rows checked")
        if total == 0:
            return failing > 0
        return failing * 100 > Decimal(repr(self.percent)) * total

    def __str__(self) -> str:
        """``"10 rows"`` or ``"1.5%"``, for messages.

        >>> str(Threshold(rows=1)), str(Threshold(rows=10)), str(Threshold(percent=1.5))
        ('1 row', '10 rows', '1.5%')
        """
        if self.rows is not None:
            return f"{self.rows} row" if self.rows == 1 else f"{self.rows} rows"
        return f"{self.percent:g}%"


def needs_total(warn_if: Threshold | None, error_if: Threshold | None) -> bool:
    """Whether deciding the status needs the total row count (a percent threshold).

    >>> needs_total(Threshold(rows=3), None), needs_total(None, Threshold(percent=1))
    (False, True)
    """
    return any(t is not None and t.percent is not None for t in (warn_if, error_if))


def check_status(
    severity: Severity,
    failing: int,
    total: int | None = None,
    *,
    warn_if: Threshold | None = None,
    error_if: Threshold | None = None,
) -> Status:
    """The status of a check with ``failing`` violating rows out of ``total`` rows.

    Parameters
    ----------
    severity
        ``error`` or ``warn``: what violations mean when no threshold says otherwise.
    failing
        The number of violating rows.
    total
        The number of rows checked; needed only for a percent threshold.
    warn_if, error_if
        The thresholds (see the module's docstring for the defaults).

    Examples
    --------
    >>> check_status("error", 0), check_status("error", 1), check_status("warn", 1)
    ('pass', 'fail', 'warn')
    >>> ten = Threshold(rows=10)
    >>> check_status("error", 10, error_if=ten), check_status("error", 11, error_if=ten)
    ('warn', 'fail')
    >>> check_status("error", 10, warn_if=ten, error_if=ten)
    'pass'
    >>> check_status("warn", 3, 100, error_if=Threshold(percent=2))
    'fail'
    """
    if failing == 0:
        return "pass"
    if error_if is not None:
        if error_if.exceeded_by(failing, total):
            return "fail"
    elif severity == "error":
        return "fail"
    if warn_if is None or warn_if.exceeded_by(failing, total):
        return "warn"
    return "pass"
