"""The blocks a report is made of: plain data, rendered by :mod:`millpond.report.render`.

>>> Callout("2 checks failed", status="fail")
Callout(text='2 checks failed', status='fail')
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Union

import altair as alt
import pandas as pd

CHECK_STATUSES = ("fail", "warn", "pass")
"""Statuses a :class:`Checks` frame may hold, worst first."""

TONES = {
    "pass": ("pass", "ok", "success", "passed"),
    "warn": ("warn", "warning", "warned", "running", "pending", "anomaly"),
    "fail": ("fail", "failed", "error", "timeout", "upstream_failed", "interrupted"),
}
"""Words shown as a green, amber or red badge; any other word gets a grey one."""


@dataclass(frozen=True)
class Heading:
    """A section title (``level`` 2) or sub-title (3); level-2 headings make the contents.

    ``status`` (e.g. ``"fail"``) adds a badge after the text, reading ``badge`` if given;
    ``anchor`` fixes the heading's id (for links from a :class:`Table`).
    """

    text: str
    level: int = 2
    status: str | None = None
    badge: str | None = None
    anchor: str | None = None


@dataclass(frozen=True)
class Paragraph:
    """Plain text; blank lines separate paragraphs. Nothing in it is interpreted."""

    text: str


@dataclass(frozen=True)
class Markdown:
    """CommonMark text (with tables); raw HTML in it is shown as text, not rendered."""

    text: str


@dataclass(frozen=True)
class Metrics:
    """Headline numbers shown as cards, e.g. ``{"orders": 1204, "revenue": "€48.2k"}``.

    ``tones`` colours a card by label (``pass``, ``warn``, ``fail`` or ``muted``);
    ``notes`` adds a line of small print under a card's label.
    """

    items: Mapping[str, str | int | float]
    caption: str | None = None
    tones: Mapping[str, str] = field(default_factory=dict)
    notes: Mapping[str, str] = field(default_factory=dict)
    per_row: int | None = None
    """Cards per row on a wide page (2 to 6); by default as many as fit."""


@dataclass(frozen=True)
class Table:
    """A data frame shown as a table, cut to its first ``max_rows`` rows.

    Values of the ``badges`` columns are shown as status badges (see :data:`TONES`);
    ``align_right`` right-aligns text columns such as ``"+3.1%"`` (numbers always are);
    ``links`` maps a column to ``{value: "#anchor"}``: those cells link within the page.
    """

    df: pd.DataFrame = field(repr=False)
    caption: str | None = None
    max_rows: int = 50
    badges: Sequence[str] = ()
    align_right: Sequence[str] = ()
    links: Mapping[str, Mapping[str, str]] = field(default_factory=dict)


@dataclass(frozen=True)
class Chart:
    """An Altair chart (or a Vega-Lite spec as a dict), drawn by vega-embed."""

    chart: alt.TopLevelMixin | Mapping[str, Any] = field(repr=False)
    caption: str | None = None


@dataclass(frozen=True)
class Checks:
    """Quality check results: a frame with columns ``check``, ``table``, ``status``
    (``pass``/``warn``/``fail``), ``failing_rows`` and optionally ``sample`` (a list of
    row dicts), as :func:`millpond.quality.run_checks` returns; other columns are ignored."""

    df: pd.DataFrame = field(repr=False)
    caption: str | None = None
    summarize: bool = True
    """Count these results in the summary under the title (off for a repeated subset)."""
    open_samples: bool = False
    """Show the samples of failing rows unfolded."""
    show_table: bool = True
    """Show the table column (off in a section about one table)."""


@dataclass(frozen=True)
class Callout:
    """A short message in a coloured box: ``status`` is ``pass``, ``warn``, ``fail`` or ``muted``."""

    text: str
    status: str = "muted"


@dataclass(frozen=True)
class Columns:
    """Blocks side by side (e.g. two small charts), stacked again on narrow screens."""

    blocks: Sequence[Any]


Block = Union[Heading, Paragraph, Markdown, Metrics, Table, Chart, Checks, Callout, Columns]
