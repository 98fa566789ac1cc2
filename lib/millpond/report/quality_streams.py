"""The quality report's section on streams: throughput, lag and late events.

From each stream's mark (:mod:`millpond.store.stream_marks`, rewritten by ``millpond stream
run`` after every commit): what it processed, how many events came late and why, how many
windows it closed, where its watermark stands, and the rate and event-time lag of its recent
micro-batches. A stream whose late events pass :data:`LATE_WARN` of its events, or whose lag
passes :data:`LAG_WARN` seconds, is named in a callout.

>>> blocks = stream_blocks({"clicks": {"sink": "gold.c", "batches": 4, "events": 1000, "late": 80,
...     "emitted": 12, "late_by_reason": {"late": 70, "malformed": 10}, "recent_rate": 5e4,
...     "recent_lag_p50": 0.2, "recent_lag_max": 0.5, "watermark": "2024-01-01 10:00:00"}})
>>> [type(b).__name__ for b in blocks]
['Heading', 'Markdown', 'Table', 'Callout', 'Chart']
>>> blocks[3].text
'clicks: 8.0% of its events came late (70 late, 10 malformed)'
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from millpond.report.blocks import Block, Callout, Chart, Heading, Markdown, Table
from millpond.report.render import bar_chart

LATE_WARN = 0.05
LAG_WARN = 60.0


def stream_blocks(marks: dict[str, dict[str, Any]]) -> list[Block]:
    """The section's blocks (none when the workspace has no stream that ran)."""
    if not marks:
        return []
    rows, warnings, reasons = [], [], []
    for name, mark in sorted(marks.items()):
        events, late = int(mark.get("events") or 0), int(mark.get("late") or 0)
        by_reason = mark.get("late_by_reason") or {}
        rows.append(
            {
                "stream": name,
                "sink": mark.get("sink", ""),
                "events": f"{events:,}",
                "late": f"{late:,} ({late / events:.1%})" if events else f"{late:,}",
                "left out by its transform": f"{int(mark.get('filtered') or 0):,}",
                "windows closed": f"{int(mark.get('emitted') or 0):,}",
                "batches": f"{int(mark.get('batches') or 0):,}",
                "events/s (recent)": _number(mark.get("recent_rate")),
                "lag p50 / max (s)": f"{_number(mark.get('recent_lag_p50'), 2)} / {_number(mark.get('recent_lag_max'), 2)}",
                "watermark": str(mark.get("watermark") or ""),
                "last commit": str(mark.get("committed_at") or "")[:19],
            }
        )
        if events and late / events > LATE_WARN:
            why = ", ".join(f"{n:,} {reason}" for reason, n in sorted(by_reason.items()))
            warnings.append(f"{name}: {late / events:.1%} of its events came late ({why})")
        lag = mark.get("recent_lag_max")
        if lag is not None and lag > LAG_WARN:
            warnings.append(f"{name}: its recent micro-batches were up to {lag:,.1f} s behind event time")
        reasons += [{"stream · reason": f"{name} · {reason}", "events": n} for reason, n in by_reason.items()]
    blocks: list[Block] = [
        Heading("Streams"),
        Markdown(
            "Each stream as its last commit left it (`millpond stream status` reads the warehouse): events read, "
            "late events (kept in `<sink>_late` with their reason, or correcting their window), events its "
            "transform left out (its own filter), windows closed, "
            "and the rate and event-time lag (commit time minus the latest event time) of its last micro-batches."
        ),
        Table(pd.DataFrame(rows), caption="Streams", align_right=["events", "late", "windows closed", "batches"]),
    ]
    blocks += [Callout(text, "warn") for text in warnings]
    if reasons:
        blocks.append(
            Chart(bar_chart(pd.DataFrame(reasons), "stream · reason", "events"), caption="Late events by reason")
        )
    return blocks


def _number(value: Any, digits: int = 0) -> str:
    return "" if value is None else f"{float(value):,.{digits}f}"
