"""Self-contained, offline HTML reports for stage notebooks and the command line.

Build a list of blocks and write it::

    from millpond.report import Chart, Checks, Heading, Metrics, Table, write_report

    write_report("data/reports/orders.html", title="Orders", blocks=[
        Metrics({"orders": 1204, "revenue": 48210.5}),
        Heading("Daily revenue"),
        Chart(line_chart(daily, "day", "revenue")),
        Table(top_customers, caption="Top customers"),
        Checks(run_checks(checks)),
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
