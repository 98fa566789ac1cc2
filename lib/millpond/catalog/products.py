"""The status of a data product for the catalog: within its SLA, and ready for consumers.

A product is declared under a stage's ``tables:`` (:class:`millpond.settings.tables.ProductSpec`);
the rule of reading between domains is :mod:`millpond.pipeline.products`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from pydantic import BaseModel

from millpond.settings.tables import ProductSpec

if TYPE_CHECKING:
    from millpond.catalog.entry import QualityStatus


def format_duration(seconds: float) -> str:
    """``seconds`` in whole days, else hours, else minutes (one decimal when not whole), else seconds.

    >>> format_duration(172800), format_duration(99000), format_duration(1800), format_duration(45)
    ('2d', '27.5h', '30m', '45s')
    """
    if seconds >= 86400 and seconds % 86400 == 0:
        return f"{int(seconds // 86400)}d"
    for unit, size in (("h", 3600), ("m", 60)):
        if seconds >= size:
            whole = seconds % size == 0
            return f"{int(seconds // size)}{unit}" if whole else f"{seconds / size:.1f}{unit}"
    return f"{seconds:.0f}s"


class ProductStatus(BaseModel):
    """What the catalog says about a product: within its SLA, and ready for consumers.

    ``within_sla`` is ``None`` when there is no SLA; ``reasons`` say why a product is not ready.
    """

    domain: str | None = None
    sla: str | None = None
    within_sla: bool | None = None
    ready: bool
    reasons: list[str] = []

    @property
    def summary(self) -> str:
        """One line for the catalog view.

        >>> ProductStatus(domain="sales", sla="24h", within_sla=True, ready=True).summary
        'sales data product: ready (within its 24h SLA)'
        >>> ProductStatus(domain="sales", sla="24h", within_sla=False, ready=False, reasons=["never built"]).summary
        'sales data product: not ready (never built)'
        """
        head = f"{self.domain} data product" if self.domain else "data product"
        if not self.ready:
            return f"{head}: not ready ({'; '.join(self.reasons)})"
        return f"{head}: ready ({f'within its {self.sla} SLA' if self.sla else 'no SLA'})"


def product_status(
    product: ProductSpec, domain: str | None, age_seconds: float | None, quality: QualityStatus | None
) -> ProductStatus:
    """Judge a product: never built, older than its SLA, or (with ``checks_must_pass``) a
    failed check in the latest run that checked it make it ``not ready``. Warnings do not.

    >>> from millpond.catalog.entry import QualityStatus
    >>> p = ProductSpec(sla="24h")
    >>> product_status(p, "sales", 30 * 3600, QualityStatus(passed=2)).reasons
    ['built 30h ago, over its 24h SLA']
    >>> product_status(p, "sales", 3600, QualityStatus(run_id="r1", failed=1)).reasons
    ['1 check failed in run r1']
    >>> product_status(p, "sales", 3600, QualityStatus(warned=1)).ready
    True
    """
    reasons = []
    sla = product.sla_seconds
    within = None
    if age_seconds is None:
        reasons.append("never built")
        within = False if sla is not None else None
    elif sla is not None:
        within = age_seconds <= sla
        if not within:
            reasons.append(f"built {format_duration(age_seconds)} ago, over its {product.sla} SLA")
    if product.checks_must_pass and quality is not None and quality.failed:
        s = "s" if quality.failed > 1 else ""
        reasons.append(f"{quality.failed} check{s} failed in run {quality.run_id}")
    declared = product.sla if isinstance(product.sla, str) or product.sla is None else format_duration(sla)
    return ProductStatus(domain=domain, sla=declared, within_sla=within, ready=not reasons, reasons=reasons)
