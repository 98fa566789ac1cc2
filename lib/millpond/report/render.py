"""Self-contained HTML reports built from a list of blocks.

A report is a title and a list of blocks (:class:`Heading`, :class:`Paragraph`,
:class:`Markdown`, :class:`Metrics`, :class:`Table`, :class:`Chart`, :class:`Checks`,
:class:`Callout`, and :class:`Columns` to set blocks side by side),
rendered with Jinja2 (autoescaped) into one HTML file that opens from disk with no
network: the Vega, Vega-Lite and vega-embed JavaScript that ``vl-convert-python``
ships is inlined once per report (only if it has charts), and each chart is a
Vega-Lite spec in a JSON script tag drawn by vega-embed into its own ``div``.

The generated-at time is the only volatile part; it sits in an element carrying
``data-volatile`` so tests can blank it with :func:`mask_volatile` (or pass a fixed
``generated_at``).
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Mapping, Sequence
from functools import lru_cache
from pathlib import Path
from typing import Any

import altair as alt
import jinja2
import pandas as pd
from markupsafe import Markup

from millpond.report.blocks import (
    CHECK_STATUSES,
    TONES,
    Block,
    Callout,
    Chart,
    Checks,
    Columns,
    Heading,
    Markdown,
    Metrics,
    Paragraph,
    Table,
)
from millpond.report.cells import cell, failing_values, float_digits, format_value

__all__ = [
    "Block",
    "Callout",
    "Chart",
    "Checks",
    "Columns",
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

EMBED_OPTIONS: dict[str, Any] = {
    "actions": False,  # the menu links to online editors: useless offline
    "renderer": "svg",
    "config": {
        "font": "Inter, system-ui, -apple-system, 'Segoe UI', Roboto, 'Liberation Sans', sans-serif",
        "view": {"stroke": None},
        "axis": {
            "labelColor": "#52606d",
            "titleColor": "#323f4b",
            "titleFontWeight": 600,
            "gridColor": "#e9edf1",
            "domainColor": "#cbd2d9",
            "tickColor": "#cbd2d9",
            "labelFontSize": 11,
            "titleFontSize": 12,
            "titlePadding": 8,
        },
        "legend": {"labelColor": "#52606d", "titleColor": "#323f4b", "labelFontSize": 11},
        "title": {"fontSize": 14, "fontWeight": 600, "color": "#1f2933", "anchor": "start"},
        "range": {"category": ["#2f6fb0", "#e07b39", "#3a9e6d", "#c0456b", "#7b61c4", "#9a7b4f"]},
        "mark": {"color": "#2f6fb0"},
    },
}
"""vega-embed options for every chart: SVG output, no action menu, the report's theme."""

_FIT_WIDTH = alt.AutoSizeParams(type="fit-x", contains="padding")
_TEMPLATES = jinja2.Environment(
    loader=jinja2.PackageLoader("millpond.report", "templates"),
    autoescape=True,
    undefined=jinja2.StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)
_VOLATILE = re.compile(r'(<(\w+)\b[^>]*\bdata-volatile="([^"]*)"[^>]*>).*?(</\2>)', re.S)
_SCRIPT_UNSAFE = str.maketrans({"<": "\\u003c", ">": "\\u003e", "&": "\\u0026"})


def render_report_html(
    *,
    title: str,
    subtitle: str | None = None,
    blocks: Sequence[Block],
    generated_at: dt.datetime | None = None,
) -> str:
    """Render a report to a self-contained HTML string.

    Parameters
    ----------
    title, subtitle
        Shown at the top and in the browser tab.
    blocks
        The report's content, in order.
    generated_at
        When the report was made; defaults to now (UTC). Marked ``data-volatile``.

    Examples
    --------
    >>> html = render_report_html(title="Orders <daily>", blocks=[Metrics({"orders": 1204})])
    >>> "<h1>Orders &lt;daily&gt;</h1>" in html, "1,204" in html, "<script" in html
    (True, True, False)
    """
    views = [_view(block, position) for position, block in enumerate(blocks, start=1)]
    flat = [inner for view in views for inner in (view["blocks"] if view["kind"] == "columns" else [view])]
    charts = [view for view in flat if view["kind"] == "chart"]
    checks = [row for view in flat if view["kind"] == "checks" and view["summarize"] for row in view["rows"]]
    when = generated_at or dt.datetime.now(dt.timezone.utc)
    return _TEMPLATES.get_template("report.html.jinja").render(
        title=title,
        subtitle=subtitle,
        blocks=views,
        contents=[view for view in views if view["kind"] == "heading" and view["level"] == 2],
        checks_summary=_checks_summary(checks) if checks else None,
        generated_at=when.strftime("%Y-%m-%d %H:%M %Z").strip(),
        vega_javascript=Markup(javascript_bundle()) if charts else None,
        embed_options=Markup(_script_json(EMBED_OPTIONS)),
    )


def write_report(
    path: str | Path,
    *,
    title: str,
    subtitle: str | None = None,
    blocks: Sequence[Block],
    generated_at: dt.datetime | None = None,
) -> Path:
    """Write :func:`render_report_html` to ``path`` (parents created); return the path.

    Examples
    --------
    >>> import tempfile
    >>> out = write_report(f"{tempfile.mkdtemp()}/r/report.html", title="Hi", blocks=[Paragraph("ok")])
    >>> out.name, out.read_text(encoding="utf-8").count("<p>ok</p>")
    ('report.html', 1)
    """
    html = render_report_html(title=title, subtitle=subtitle, blocks=blocks, generated_at=generated_at)
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(html, encoding="utf-8")
    return target


def mask_volatile(html: str) -> str:
    """Replace the content of every ``data-volatile="name"`` element with ``[name]``.

    Examples
    --------
    >>> mask_volatile('<p>at <span data-volatile="generated-at">12:04</span></p>')
    '<p>at <span data-volatile="generated-at">[generated-at]</span></p>'
    """
    return _VOLATILE.sub(lambda m: f"{m.group(1)}[{m.group(3)}]{m.group(4)}", html)


@lru_cache(maxsize=1)
def javascript_bundle() -> str:
    """The Vega + Vega-Lite + vega-embed JavaScript inlined in reports with charts.

    Built by ``vl_convert.javascript_bundle`` for the Vega-Lite version Altair
    writes (when vl-convert has it); it defines ``vegaEmbed``, ``vega`` and
    ``vegaLite`` on ``window``. Takes a few seconds the first time, then cached.
    """
    import vl_convert

    wanted = ".".join(alt.SCHEMA_VERSION.lstrip("v").split(".")[:2])
    version = wanted if wanted in vl_convert.get_vegalite_versions() else None
    bundle = vl_convert.javascript_bundle(vl_version=version)
    # Inline in a <script> element: a literal "</script" would end it early.
    return re.sub(r"</(script)", r"<\\/\1", bundle, flags=re.I)


def status_tone(word: str | None) -> str:
    """The badge colour of a status word: ``pass``, ``warn``, ``fail`` or ``muted``.

    >>> status_tone("success"), status_tone("upstream_failed"), status_tone("skipped")
    ('pass', 'fail', 'muted')
    """
    text = str(word or "").strip().lower()
    return next((tone for tone, words in TONES.items() if text in words), "muted")


def bar_chart(df: pd.DataFrame, category: str, value: str, *, title: str | None = None) -> alt.Chart:
    """Horizontal bars of ``value`` per ``category``, largest first (e.g. rows per table).

    Examples
    --------
    >>> counts = pd.DataFrame({"table": ["orders", "customers"], "rows": [1204, 310]})
    >>> bar_chart(counts, "table", "rows").to_dict()["mark"]["type"]
    'bar'
    """
    return (
        alt.Chart(df, title=title or alt.Undefined)
        .mark_bar(cornerRadiusEnd=3)
        .encode(
            y=alt.Y(f"{category}:N", sort="-x", title=None),
            x=alt.X(f"{value}:Q", title=value),
            tooltip=[alt.Tooltip(f"{category}:N"), alt.Tooltip(f"{value}:Q", format=",")],
        )
        .properties(width="container", height=max(60, 26 * df[category].nunique()), autosize=_FIT_WIDTH)
    )


def line_chart(df: pd.DataFrame, x: str, y: str, *, color: str | None = None, title: str | None = None) -> alt.Chart:
    """A line of ``y`` over ``x`` (e.g. daily revenue), one line per ``color`` value if given.

    Examples
    --------
    >>> daily = pd.DataFrame({"day": pd.date_range("2024-01-01", periods=3), "revenue": [5.0, 7.5, 6.0]})
    >>> line_chart(daily, "day", "revenue").to_dict()["encoding"]["x"]["type"]
    'temporal'
    """
    dates = pd.api.types.is_datetime64_any_dtype(df[x])
    x_axis = alt.X(f"{x}:T", axis=alt.Axis(format="%Y-%m-%d", labelAngle=0)) if dates else alt.X(x)
    encoding: dict[str, Any] = {"x": x_axis, "y": alt.Y(y), "tooltip": [x, y]}
    if color is not None:
        encoding["color"] = alt.Color(f"{color}:N")
        encoding["tooltip"] = [x, color, y]
    return (
        alt.Chart(df, title=title or alt.Undefined)
        .mark_line(point=True, strokeWidth=2)
        .encode(**encoding)
        .properties(width="container", height=260, autosize=_FIT_WIDTH)
    )


# -- block views: what the templates get --------------------------------------------


def _view(block: Block, position: int | str) -> dict[str, Any]:
    if isinstance(block, Heading):
        slug = re.sub(r"[^a-z0-9]+", "-", block.text.lower()).strip("-")
        anchor = block.anchor or (f"s{position}-{slug}" if slug else f"s{position}")
        badge = {"tone": status_tone(block.status), "text": block.badge or block.status} if block.status else None
        return {"kind": "heading", "text": block.text, "level": block.level, "anchor": anchor, "badge": badge}
    if isinstance(block, Paragraph):
        paragraphs = [p.strip() for p in re.split(r"\n\s*\n", block.text) if p.strip()]
        return {"kind": "paragraph", "paragraphs": paragraphs}
    if isinstance(block, Markdown):
        return {"kind": "markdown", "html": Markup(_markdown().render(block.text))}
    if isinstance(block, Metrics):
        cards = [
            {
                "label": str(k),
                "value": format_value(v),
                "note": block.notes.get(k),
                "tone": status_tone(block.tones[k]) if k in block.tones else None,
            }
            for k, v in block.items.items()
        ]
        per_row = min(6, max(2, block.per_row)) if block.per_row else None
        return {"kind": "metrics", "cards": cards, "caption": block.caption, "per_row": per_row}
    if isinstance(block, Table):
        return {"kind": "table", "caption": block.caption, **_decorated_table_view(block)}
    if isinstance(block, Chart):
        spec = block.chart if isinstance(block.chart, Mapping) else block.chart.to_dict()
        return {
            "kind": "chart",
            "id": f"mp-chart-{position}",
            "caption": block.caption,
            "spec": Markup(_script_json(spec)),
        }
    if isinstance(block, Checks):
        return {
            "kind": "checks",
            "caption": block.caption,
            "rows": _check_rows(block.df),
            "summarize": block.summarize,
            "open_samples": block.open_samples,
            "show_table": block.show_table,
        }
    if isinstance(block, Callout):
        return {"kind": "callout", "text": block.text, "tone": status_tone(block.status)}
    if isinstance(block, Columns):
        inner = [_view(b, f"{position}-{i}") for i, b in enumerate(block.blocks, start=1)]
        if any(view["kind"] in {"columns", "heading"} for view in inner):
            raise TypeError(f"report block #{position}: Columns cannot hold headings or other Columns")
        return {"kind": "columns", "blocks": inner}
    kinds = "Heading, Paragraph, Markdown, Metrics, Table, Chart, Checks, Callout or Columns"
    raise TypeError(f"report block #{position}: expected a {kinds}, got {type(block).__name__}")


def _table_view(df: pd.DataFrame, max_rows: int) -> dict[str, Any]:
    if not isinstance(df, pd.DataFrame):
        raise TypeError(f"Table expects a pandas DataFrame, got {type(df).__name__} (call .to_pandas())")
    if not isinstance(df.index, pd.RangeIndex):
        df = df.reset_index()
    shown = df.head(max_rows)
    numeric = [pd.api.types.is_numeric_dtype(t) and not pd.api.types.is_bool_dtype(t) for t in df.dtypes]
    digits = [float_digits(df[c]) if pd.api.types.is_float_dtype(t) else None for c, t in zip(df.columns, df.dtypes)]
    rows = [[cell(value, d) for value, d in zip(row, digits)] for row in shown.itertuples(index=False, name=None)]
    return {
        "columns": [str(c) for c in df.columns],
        "numeric": numeric,
        "rows": rows,
        "total": f"{len(df):,}",
        "shown": len(shown),
        "truncated": len(df) > len(shown),
    }


def _decorated_table_view(block: Table) -> dict[str, Any]:
    """:func:`_table_view` plus the badges, right-aligned columns and links ``block`` asks for."""
    view = _table_view(block.df, block.max_rows)
    columns = view["columns"]
    view["badges"] = [c in {str(b) for b in block.badges} for c in columns]
    view["numeric"] = [n or c in {str(r) for r in block.align_right} for n, c in zip(view["numeric"], columns)]
    links = [block.links.get(c, {}) for c in columns]
    for target in (href for column in links for href in column.values()):
        if not str(target).startswith("#"):
            raise ValueError(f"Table links stay within the report: expected '#anchor', got {target!r}")
    frame = block.df if isinstance(block.df.index, pd.RangeIndex) else block.df.reset_index()
    for row, values in zip(view["rows"], frame.head(block.max_rows).itertuples(index=False, name=None)):
        for shown, badge, link, value in zip(row, view["badges"], links, values):
            if shown["null"]:
                continue
            if badge:
                shown["tone"] = status_tone(shown["text"])
            if link and isinstance(value, str) and value in link:
                shown["href"] = link[value]
    return view


def _check_rows(df: pd.DataFrame) -> list[dict[str, Any]]:
    missing = [c for c in ("check", "table", "status", "failing_rows") if c not in df.columns]
    if missing:
        raise ValueError(f"Checks frame lacks column(s) {missing}; it has {list(df.columns)}")
    rows = []
    for record in df.to_dict("records"):
        if record["status"] not in CHECK_STATUSES:
            raise ValueError(
                f"check {record['check']!r}: status must be one of {CHECK_STATUSES}, got {record['status']!r}"
            )
        sample = record.get("sample")
        sample = sample if isinstance(sample, list) and sample else []
        detail = record.get("detail") if isinstance(record.get("detail"), dict) else {}
        focus = [c for c in detail.get("columns", []) if any(c in row for row in sample)]
        columns = list(dict.fromkeys([*focus, *(k for row in sample for k in row)]))  # the failing ones first
        rows.append(
            {
                "check": record["check"],
                "table": record["table"],
                "status": record["status"],
                "failing_rows": format_value(record["failing_rows"]),
                "sample_columns": [{"name": c, "failing": c in focus} for c in columns],
                "sample_rows": [[cell(row.get(c), raw=True) for c in columns] for row in sample],
                **failing_values(detail, record["failing_rows"]),
            }
        )
    return rows


def _checks_summary(rows: list[dict[str, Any]]) -> dict[str, Any]:
    counts = {status: sum(row["status"] == status for row in rows) for status in CHECK_STATUSES}
    worst = next((status for status in CHECK_STATUSES if counts[status]), "pass")
    return {"total": len(rows), "counts": counts, "worst": worst}


def _script_json(data: Any) -> str:
    """JSON safe inside a ``<script>`` element (no ``<``, ``>`` or ``&`` left)."""
    return json.dumps(data, allow_nan=False, default=str).translate(_SCRIPT_UNSAFE)


@lru_cache(maxsize=1)
def _markdown():
    from markdown_it import MarkdownIt

    return MarkdownIt("commonmark", {"html": False}).enable("table")
