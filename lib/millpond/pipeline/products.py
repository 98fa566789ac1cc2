"""Data products: tables a domain publishes for other domains to read (see docs/products.md).

A stage belongs to a ``domain`` (its own ``domain:``, else the pipeline's); a table
belongs to the domain of the stage that produces it. A table is published as a data
product under its stage's ``tables:``::

    domain: sales
    stages:
      - name: build_fct_orders
        produces: [gold.fct_orders]
        tables:
          gold.fct_orders:
            description: One row per order.
            owner: sales-analytics
            contract: {not_null: [order_id], primary_key: [order_id]}
            product: {sla: 24h, checks_must_pass: true}

The rule of reading, from what the spec declares (never from notebook source): a stage
reads every table produced by the stages it ``needs``. When a needed stage is of another
domain, each of those tables must be a product, else :func:`check_products` rejects the
pipeline with one ``file:line: field: message`` line. Stages without a domain are not
checked. :func:`product_status` judges a product's freshness and readiness for the catalog.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from pydantic import BaseModel, ConfigDict, Field, field_validator

from millpond.errors import SpecError

if TYPE_CHECKING:
    from millpond.catalog.entry import QualityStatus
    from millpond.pipeline.spec import PipelineSpec, StageSpec
    from millpond.yaml_source import LineMap

DOMAIN = r"^[a-z][a-z0-9_-]*$"
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhd])\s*$")
REQUIRED = ("description", "owner", "contract")


def parse_duration(value: str | float | int) -> float:
    """Seconds in ``value``: a number of seconds, or a number with ``s``, ``m``, ``h`` or ``d``.

    >>> parse_duration("24h"), parse_duration("30m"), parse_duration("1.5d"), parse_duration(90)
    (86400.0, 1800.0, 129600.0, 90.0)
    """
    if isinstance(value, bool):
        raise ValueError(f"{value!r} is not a duration")
    if isinstance(value, (int, float)):
        seconds = float(value)
    else:
        match = _DURATION.match(str(value))
        if not match:
            raise ValueError(f"{value!r} is not a duration such as 90s, 30m, 24h or 7d")
        seconds = float(match.group(1)) * _UNITS[match.group(2)]
    if seconds <= 0:
        raise ValueError(f"{value!r}: a duration must be positive")
    return seconds


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


class ProductSpec(BaseModel):
    """A table published as a data product: its freshness SLA and whether checks must pass.

    >>> ProductSpec.model_validate({"sla": "24h"}).sla_seconds
    86400.0
    """

    model_config = ConfigDict(extra="forbid")

    sla: str | float | None = Field(
        default=None, description="the longest age of the latest build consumers accept (90s, 30m, 24h, 7d)"
    )
    checks_must_pass: bool = Field(default=True, description="not ready while a check of the latest run failed")

    @field_validator("sla")
    @classmethod
    def _sla_is_a_duration(cls, value: str | float | None) -> str | float | None:
        if value is not None:
            parse_duration(value)
        return value

    @property
    def sla_seconds(self) -> float | None:
        return None if self.sla is None else parse_duration(self.sla)


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
    return ProductStatus(domain=domain, sla=declared,
                         within_sla=within, ready=not reasons, reasons=reasons)


def stage_domain(pipeline: PipelineSpec, stage: StageSpec) -> str | None:
    """The stage's own ``domain``, else the pipeline's, else ``None`` (no domain: not checked)."""
    return stage.domain or pipeline.domain


def check_products(pipeline: PipelineSpec, display: str, lines: LineMap) -> None:
    """Reject a product missing description, owner or contract, and a stage that needs a
    stage of another domain producing a table that is not a product.

    Raises
    ------
    SpecError
        One line ``file:line: field: message``, naming the table and what to do.
    """
    for i, stage in enumerate(pipeline.stages):
        for table, spec in stage.tables.items():
            if spec.product is None:
                continue
            missing = [f for f in REQUIRED if not getattr(spec, f)]
            if missing:
                raise _fail(
                    display, lines, ("stages", i, "tables", table, "product"),
                    f"data product {table} has no {', '.join(missing)}; a product must declare "
                    f"{', '.join(REQUIRED)} (add {', '.join(f'{f}:' for f in missing)} under `tables: {table}:`)",
                )
    by_name = {s.name: s for s in pipeline.stages}
    for i, stage in enumerate(pipeline.stages):
        reader = stage_domain(pipeline, stage)
        for up_name in stage.needs:
            up = by_name.get(up_name)
            owner = stage_domain(pipeline, up) if up else None
            if up is None or reader is None or owner is None or owner == reader:
                continue
            for table in up.produces:
                spec = up.tables.get(table)
                if spec is None or spec.product is None:
                    raise _fail(
                        display, lines, ("stages", i, "needs"),
                        f"stage {stage.name!r} (domain {reader}) reads {owner} table {table} (through stage "
                        f"{up_name!r}), which is not a published data product; publish it "
                        f"(tables: {table}: product: ...) or drop {up_name!r} from needs",
                    )


def _fail(display: str, lines: LineMap, loc: tuple, message: str) -> SpecError:
    from millpond.yaml_source import format_path

    return SpecError(f"{display}:{lines.line_of(loc)}: {format_path(loc)}: {message}")
