"""The ``quality:`` block of ``millpond.yml``: PII columns and statistical monitors.

.. code-block:: yaml

    quality:
      pii: [email, phone, "*_name", address]   # column-name patterns masked in stored samples
      monitors: {window: 14, min_runs: 5, method: iqr, k: 1.5}

Examples
--------
>>> spec = QualitySpec.model_validate({"pii": ["email", "*_name"]})
>>> spec.is_pii("EMAIL"), spec.is_pii("first_name"), spec.is_pii("amount")
(True, True, False)
>>> spec.monitors.window, spec.monitors.method
(14, 'iqr')
"""

from __future__ import annotations

import fnmatch
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

#: Column names treated as personal data when ``quality.pii`` is not set.
DEFAULT_PII = [
    "email",
    "*_email",
    "phone",
    "*_phone",
    "first_name",
    "last_name",
    "full_name",
    "address",
    "*_address",
    "street",
    "ip",
    "ip_address",
    "birth_date",
    "date_of_birth",
    "ssn",
    "iban",
    "card_number",
]


class MonitorsSpec(BaseModel):
    """How table profiles are recorded and when a value is an anomaly."""

    model_config = ConfigDict(extra="forbid")

    enabled: bool = True
    window: int = Field(14, ge=2, description="how many recent runs the band is learned from")
    min_runs: int = Field(5, ge=2, description="no anomaly is flagged before this many earlier runs")
    method: Literal["iqr", "zscore"] = "iqr"
    k: float = Field(
        1.5, gt=0, allow_inf_nan=False, description="IQR multiplier (iqr) or number of standard deviations (zscore)"
    )


class QualitySpec(BaseModel):
    """PII column patterns and monitor settings."""

    model_config = ConfigDict(extra="forbid")

    pii: list[str] = Field(default_factory=lambda: list(DEFAULT_PII))
    monitors: MonitorsSpec = MonitorsSpec()

    def is_pii(self, column: str) -> bool:
        """Whether ``column`` matches one of the ``pii`` patterns (case-insensitive globs)."""
        name = column.lower()
        return any(fnmatch.fnmatchcase(name, pattern.lower()) for pattern in self.pii)
