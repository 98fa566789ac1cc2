"""Self-contained, offline HTML reports for stage notebooks and the command line.

A report is a title and a list of blocks; :func:`write_report` renders it to one
HTML file that opens from disk with no network (the chart JavaScript is inlined
once). In a stage notebook::

    from millpond.quality import Check, not_null, run_checks, unique
    from millpond.report import Chart, Checks, Heading, Metrics, Table, line_chart, write_report

    write_report("data/reports/orders.html", title="Orders", subtitle="stage 03_marts", blocks=[
        Metrics({"orders": orders.count().execute(), "revenue": revenue_total}),
        Heading("Daily revenue"),
        Chart(line_chart(daily, "day", "revenue"), caption="Revenue per day"),
        Table(top_customers, caption="Top customers", max_rows=20),
        Heading("Quality"),
        Checks(run_checks([Check("id is unique", "orders", unique(orders, "id"))])),
    ])
"""

from __future__ import annotations

from millpond.report.render import (
    Block,
    Chart,
    Checks,
    Heading,
    Markdown,
    Metrics,
    Paragraph,
    Table,
    bar_chart,
    javascript_bundle,
    line_chart,
    mask_volatile,
    render_report_html,
    write_report,
)

__all__ = [
    "Block",
    "Chart",
    "Checks",
    "Heading",
    "Markdown",
    "Metrics",
    "Paragraph",
    "Table",
    "bar_chart",
    "javascript_bundle",
    "line_chart",
    "mask_volatile",
    "render_report_html",
    "write_report",
]
