"""Mask personal data in the samples of failing rows that the metadata store keeps.

A check's sample shows *which* rows failed, which is what an engineer needs; it must
not copy personal data into the store, a report or an alert. Values of columns whose
name matches a ``quality.pii`` pattern of ``millpond.yml`` are replaced by
:data:`MASK` (``None`` stays ``None``, so a not-null violation stays visible).

Examples
--------
>>> from millpond.settings.quality import QualitySpec
>>> spec = QualitySpec(pii=["email", "*_name"])
>>> mask_sample([{"id": 1, "email": "ann@example.com", "last_name": None}], spec)
[{'id': 1, 'email': '***', 'last_name': None}]
"""

from __future__ import annotations

from typing import Any

from millpond.settings.quality import QualitySpec

MASK = "***"


def mask_sample(rows: list[dict[str, Any]], spec: QualitySpec) -> list[dict[str, Any]]:
    """``rows`` with every PII value replaced by :data:`MASK`; see the module docstring."""
    masked_columns: dict[str, bool] = {}

    def masked(column: str) -> bool:
        if column not in masked_columns:
            masked_columns[column] = spec.is_pii(column)
        return masked_columns[column]

    return [{k: (MASK if v is not None and masked(k) else v) for k, v in row.items()} for row in rows]
