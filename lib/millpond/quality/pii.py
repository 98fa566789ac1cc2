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


def mask_detail(detail: dict[str, Any], spec: QualitySpec) -> dict[str, Any]:
    """A failing check's ``detail`` (:attr:`millpond.quality.basic.CheckResult.detail`) with the
    values of PII columns masked, as in :func:`mask_sample`.

    >>> spec = QualitySpec(pii=["email"])
    >>> mask_detail({"columns": ["email"], "values": [{"value": "a@b.c", "rows": 2}], "distinct": 1}, spec)
    {'columns': ['email'], 'values': [{'value': '***', 'rows': 2}], 'distinct': 1}
    """
    columns = detail.get("columns") or []
    if not detail or not any(spec.is_pii(c) for c in columns):
        return detail
    values = []
    for entry in detail.get("values", []):
        value = entry["value"] if isinstance(entry["value"], dict) else {columns[0]: entry["value"]}
        (masked,) = mask_sample([value], spec)
        values.append({**entry, "value": masked if isinstance(entry["value"], dict) else masked[columns[0]]})
    return {**detail, "values": values}
