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
checked. :func:`millpond.catalog.products.product_status` judges a product's freshness
and readiness for the catalog.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from millpond.errors import SpecError

if TYPE_CHECKING:
    from millpond.settings.pipeline import PipelineSpec, StageSpec
    from millpond.yaml_source import LineMap

REQUIRED = ("description", "owner", "contract")


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
                    display,
                    lines,
                    ("stages", i, "tables", table, "product"),
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
                        display,
                        lines,
                        ("stages", i, "needs"),
                        f"stage {stage.name!r} (domain {reader}) reads {owner} table {table} (through stage "
                        f"{up_name!r}), which is not a published data product; publish it "
                        f"(tables: {table}: product: ...) or drop {up_name!r} from needs",
                    )


def _fail(display: str, lines: LineMap, loc: tuple, message: str) -> SpecError:
    from millpond.yaml_source import format_path

    return SpecError(f"{display}:{lines.line_of(loc)}: {format_path(loc)}: {message}")
