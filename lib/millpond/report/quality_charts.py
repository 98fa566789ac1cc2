"""The quality report's Altair charts: row counts, null rates and quarantine over the recent runs.

Each function takes a small plain frame (one table's history, as
:mod:`millpond.report.quality_data` gathers it) and returns a chart that fills its
container's width; :mod:`millpond.report.quality` places them.
"""

from __future__ import annotations

import altair as alt
import pandas as pd

__all__ = ["null_rate_chart", "quarantine_bars", "quarantine_chart", "row_count_chart"]

ACCENT, CURRENT = "#2f6fb0", "#e07b39"
"""The report's blue, and the orange that marks the run being reported on."""
_FIT = alt.AutoSizeParams(type="fit-x", contains="padding")


def row_count_chart(
    counts: pd.DataFrame, runs: list[str], current: str, band: tuple[float, float] | None = None
) -> alt.LayerChart:
    """Rows of one table per run (``run``, ``rows``), the current run in orange; ``band``
    shades the expected range an anomaly was judged against.

    >>> counts = pd.DataFrame({"run": ["Jan 30 06:00", "Jan 31 06:00"], "rows": [90, 120]})
    >>> spec = row_count_chart(counts, list(counts.run), "Jan 31 06:00", band=(80, 100)).to_dict()
    >>> [layer["mark"]["type"] for layer in spec["layer"]]
    ['rect', 'line', 'point', 'text']
    """
    frame = counts.assign(current=counts.run == current)
    values = [float(v) for v in frame.rows] + (list(band) if band else [])
    low, high = min(values), max(values)
    pad = max((high - low) * 0.15, abs(high) * 0.05, 1.0)  # small wobbles stay small
    x = alt.X(
        "run:O",
        sort=runs,
        scale=alt.Scale(domain=runs),
        title=None,
        axis=alt.Axis(labelAngle=0, labelOverlap="greedy", labelLimit=90),
    )
    scale = alt.Scale(domain=[max(0.0, low - pad), high + pad], nice=False)
    y = alt.Y("rows:Q", title=None, scale=scale, axis=alt.Axis(format=",.0f", tickCount=4))
    tooltip = [alt.Tooltip("run:O", title="run"), alt.Tooltip("rows:Q", format=",")]
    base = alt.Chart(frame).encode(x=x)
    layers = []
    if band is not None:
        lower, upper = band
        shade = pd.DataFrame({"lower": [lower], "upper": [upper]})
        layers.append(
            alt.Chart(shade)
            .mark_rect(color="#fde3c9", opacity=0.7)
            .encode(
                y=alt.Y("lower:Q", scale=scale, title=None),
                y2="upper:Q",
                tooltip=[
                    alt.Tooltip("lower:Q", format=",.0f", title="expected from"),
                    alt.Tooltip("upper:Q", format=",.0f", title="expected to"),
                ],
            )
        )
    layers.append(base.mark_line(color=ACCENT, strokeWidth=2).encode(y=y, tooltip=tooltip))
    layers.append(
        base.mark_point(filled=True, size=60, opacity=1).encode(
            y=y, tooltip=tooltip, color=alt.condition("datum.current", alt.value(CURRENT), alt.value(ACCENT))
        )
    )
    layers.append(
        base.mark_text(align="left", baseline="middle", dx=7, fontSize=11, fontWeight=600, color=CURRENT)
        .encode(y=y, text=alt.Text("rows:Q", format=","))
        .transform_filter("datum.current")
    )
    return alt.layer(*layers).properties(width="container", height=150, autosize=_FIT)


def null_rate_chart(nulls: pd.DataFrame, runs: list[str]) -> alt.LayerChart:
    """A heat map of null rate per column (rows) and run (columns) of one table; cells
    with nulls are labelled.

    >>> nulls = pd.DataFrame({"run": ["r"] * 2, "column": ["email", "id"], "null_rate": [0.04, 0.0]})
    >>> [layer["mark"]["type"] for layer in null_rate_chart(nulls, ["r"]).to_dict()["layer"]]
    ['rect', 'text']
    """
    columns = list(dict.fromkeys(nulls.column))
    top = max(0.25, float(nulls.null_rate.max() or 0))  # a few percent of nulls is no alarm
    base = alt.Chart(nulls).encode(
        x=alt.X(
            "run:O",
            sort=runs,
            scale=alt.Scale(domain=runs),
            title=None,
            axis=alt.Axis(labelAngle=0, labelOverlap="greedy", labelLimit=90, orient="top"),
        ),
        y=alt.Y("column:N", sort=columns, title=None, axis=alt.Axis(labelLimit=140)),
    )
    cells = base.mark_rect(stroke="#ffffff", strokeWidth=2, cornerRadius=2).encode(
        color=alt.Color(
            "null_rate:Q",
            legend=None,  # the cells with nulls carry their value
            scale=alt.Scale(domain=[0, top], range=["#eef2f6", "#f4b183", "#c0392b"], interpolate="rgb"),
        ),
        tooltip=[
            alt.Tooltip("run:O"),
            alt.Tooltip("column:N"),
            alt.Tooltip("null_rate:Q", format=".2%", title="null rate"),
        ],
    )
    labels = (
        base.mark_text(fontSize=10)
        .encode(
            text=alt.Text("null_rate:Q", format=".1~%"),
            color=alt.condition(f"datum.null_rate > {top / 2}", alt.value("#ffffff"), alt.value("#323f4b")),
        )
        .transform_filter("datum.null_rate > 0")
    )
    return alt.layer(cells, labels).properties(width="container", height=max(40, 20 * len(columns)), autosize=_FIT)


def quarantine_chart(history: pd.DataFrame, runs: list[str]) -> alt.Chart:
    """Rows held per source (``source``, ``run``, ``rows``) over the runs, one line each."""
    return (
        alt.Chart(history)
        .mark_line(point=True, strokeWidth=2)
        .encode(
            x=alt.X(
                "run:O",
                sort=runs,
                scale=alt.Scale(domain=runs),
                title=None,
                axis=alt.Axis(labelAngle=0, labelOverlap="greedy", labelLimit=90),
            ),
            y=alt.Y("rows:Q", title=None, axis=alt.Axis(format=",.0f", tickCount=4)),
            color=alt.Color("source:N", title=None, legend=alt.Legend(orient="bottom", columns=3)),
            tooltip=["run:O", "source:N", alt.Tooltip("rows:Q", format=",")],
        )
        .properties(width="container", height=200, autosize=_FIT)
    )


def quarantine_bars(quarantine: pd.DataFrame) -> alt.Chart:
    """Rows held per source in this run, largest first, labelled with their share of bronze."""
    frame = quarantine.assign(share=quarantine.share.fillna(0.0))
    base = alt.Chart(frame).encode(
        y=alt.Y("source:N", sort="-x", title=None),
        x=alt.X("held:Q", title=None, axis=alt.Axis(format=",.0f", tickCount=4)),
    )
    bars = base.mark_bar(color=CURRENT, cornerRadiusEnd=3).encode(
        tooltip=["source:N", alt.Tooltip("held:Q", format=","), alt.Tooltip("share:Q", format=".1%", title="of bronze")]
    )
    text = base.mark_text(align="left", dx=4, fontSize=11, color="#52606d").encode(text=alt.Text("held:Q", format=","))
    return alt.layer(bars, text).properties(width="container", height=max(60, 26 * len(frame)), autosize=_FIT)
