"""The shop's HTML report: headline numbers, daily revenue, table sizes and checks."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd

from millpond.report import Chart, Checks, Heading, Metrics, Paragraph, Table, bar_chart, line_chart, write_report
from millpond.report.quality_store import read_checks

if TYPE_CHECKING:
    from millpond.stage_api.context import StageContext

LAYERS = ("bronze", "silver", "gold", "quality")
SOURCES = ("customers", "products", "orders", "order_lines", "payments", "events")


@dataclass
class ShopReport:
    """What the report shows, gathered from the warehouse; :meth:`write` renders it."""

    run_date: str
    run_id: str | None
    daily: pd.DataFrame
    tables: pd.DataFrame
    conformance: pd.DataFrame
    categories: pd.DataFrame
    checks: pd.DataFrame
    headline: pd.DataFrame = field(init=False)

    def __post_init__(self) -> None:
        statuses = self.checks.status.value_counts()
        self.headline = pd.DataFrame(
            {
                "measure": ["revenue", "orders", "days", "checks passed", "checks warned", "checks failed"],
                "value": [
                    f"{self.daily.revenue.sum():,.2f}",
                    f"{int(self.daily.orders.sum()):,}",
                    f"{len(self.daily)}",
                    f"{int(statuses.get('pass', 0))}",
                    f"{int(statuses.get('warn', 0))}",
                    f"{int(statuses.get('fail', 0))}",
                ],
            }
        )

    def write(self, path: Path) -> Path:
        """Write the self-contained HTML report to ``path``."""
        metrics = dict(zip(self.headline.measure, self.headline.value))
        metrics["revenue"] = f"{self.daily.revenue.sum():,.0f}"  # cents are in the table below
        subtitle = f"up to {self.run_date}" + (f" · run {self.run_id}" if self.run_id else "")
        blocks = [
            Metrics(metrics),
            Heading("Daily revenue"),
            Paragraph(
                f"Total revenue {self.daily.revenue.sum():,.2f} from {int(self.daily.orders.sum()):,} orders "
                f"over {len(self.daily)} days."
            ),
            Chart(
                line_chart(self.daily, "date", "revenue", title="Revenue per day"),
                caption="Net revenue of orders not cancelled, by order date (UTC).",
            ),
            Table(self.categories, caption="Revenue by product category"),
            Heading("Tables"),
            Chart(
                bar_chart(self.tables, "table", "rows", title="Rows per table"), caption="Rows in each warehouse table."
            ),
            Paragraph(
                "Raw rows that silver could not keep (duplicates, unparseable values, orphans) are the "
                "difference between bronze and silver:"
            ),
            Table(self.conformance, caption="Bronze to silver, per source"),
            Heading("Checks"),
            Checks(self.checks),
        ]
        return write_report(path, title="Shop warehouse", subtitle=subtitle, blocks=blocks)


def _frame(expr) -> pd.DataFrame:
    return expr.to_pyarrow().to_pandas()


def shop_report(ctx: StageContext, *, run_date: str) -> ShopReport:
    """Gather the report's data from the warehouse of ``ctx``."""
    daily = ctx.table("gold.mart_daily_revenue")
    daily_df = _frame(daily.select("date", "orders", daily.revenue.cast("float64").name("revenue")).order_by("date"))
    sizes = []
    for layer in LAYERS:
        for name in sorted(ctx.con.list_tables(database=layer)):
            if not name.startswith("_mp_"):  # staging and version copies are internal
                sizes.append({"table": f"{layer}.{name}", "rows": int(ctx.table(f"{layer}.{name}").count().execute())})
    tables = pd.DataFrame(sizes)
    by_name = dict(zip(tables.table, tables.rows))
    conformance = pd.DataFrame(
        [
            {
                "source": s,
                "bronze rows": by_name.get(f"bronze.{s}", 0),
                "silver rows": by_name.get(f"silver.{s}", 0),
                "not kept": by_name.get(f"bronze.{s}", 0) - by_name.get(f"silver.{s}", 0),
            }
            for s in SOURCES
        ]
    )
    lines, products = ctx.table("gold.fct_order_lines"), ctx.table("gold.dim_product")
    sold = lines.filter(lines.is_revenue).join(products, "product_key")
    categories = _frame(
        sold.group_by("category")
        .agg(lines=sold.count(), revenue=sold.amount.sum().cast("float64"))
        .order_by([ibis_desc("revenue"), "category"])
    )
    return ShopReport(run_date, ctx.run_id, daily_df, tables, conformance, categories, _checks(ctx))


def _checks(ctx: StageContext) -> pd.DataFrame:
    """Every check of the run, as the metadata store recorded them (the declared checks of every
    stage and check_gold's): the same checks the quality report and `millpond checks` count.
    Outside a run, those of the latest shop run; none yet, check_gold's table."""
    latest = ctx.store.runs(1, pipeline="shop")
    run_id = ctx.run_id or (latest[0]["run_id"] if latest else None)
    recorded = read_checks(ctx.store, run_id) if run_id else None
    if recorded is None or recorded.empty:
        return _frame(ctx.table("quality.check_results").order_by(["table", "check"]))
    return recorded.sort_values(["table", "check"]).reset_index(drop=True)


def ibis_desc(column: str):
    import ibis

    return ibis.desc(column)
