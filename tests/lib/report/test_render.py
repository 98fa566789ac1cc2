"""Tests for millpond.report.render: the HTML itself, then the page in headless Chromium.

The browser tests open the written file with the network off (``support.chromium``)
and ask the page what it drew; a screenshot of the full sample report goes to
``tests/artifacts/report.png`` for a human to look at.
"""

from __future__ import annotations

import datetime as dt
import http.server
import re
import threading
import urllib.request
from pathlib import Path

import altair as alt
import pandas as pd
import pytest
import vl_convert

from millpond.report import (
    Chart,
    Checks,
    Heading,
    Markdown,
    Metrics,
    Paragraph,
    Table,
    bar_chart,
    line_chart,
    mask_volatile,
    render_report_html,
    write_report,
)
from support.chromium import render_page, require_chromium

ARTIFACTS = Path(__file__).resolve().parents[2] / "artifacts"
EXTERNAL_RESOURCE = re.compile(r"<(?:script|link|img|iframe)\b[^>]*\b(?:src|href)\s*=\s*[\"']?\s*(?:https?:)?//", re.I)
CHARTS_DRAWN = "document.querySelectorAll('.mp-chart:not([data-rendered])').length === 0"
CHART_STATE = (
    "[...document.querySelectorAll('.mp-chart')].map(d => [d.id, d.dataset.rendered, !!d.querySelector('svg, canvas')])"
)

ROW_COUNTS = pd.DataFrame({"table": ["orders", "customers", "order_items"], "rows": [1204, 310, 3877]})
DAILY = pd.DataFrame(
    {"day": pd.date_range("2024-03-01", periods=7), "revenue": [1200.0, 1350.0, 980.5, 1600.0, 1720.0, 1500.0, 1430.0]}
)
CHECK_RESULTS = pd.DataFrame(
    {
        "check": ["order_id is unique", "amount is not null", "orders has rows"],
        "table": ["orders", "orders", "orders"],
        "severity": ["error", "warn", "error"],
        "status": ["fail", "warn", "pass"],
        "failing_rows": [2, 1, 0],
        "sample": [
            [{"order_id": 7, "amount": 3.5}, {"order_id": 7, "amount": None}],
            [{"order_id": 9, "amount": None}],
            [],
        ],
    }
)


def sample_blocks() -> list:
    return [
        Metrics({"orders": 1204, "customers": 310, "revenue": 48210.5}),
        Heading("Volumes"),
        Paragraph("Rows per table after the load."),
        Chart(bar_chart(ROW_COUNTS, "table", "rows"), caption="Rows per table"),
        Heading("Revenue"),
        Chart(line_chart(DAILY, "day", "revenue"), caption="Daily revenue"),
        Table(DAILY, caption="Daily revenue"),
        Heading("Quality"),
        Checks(CHECK_RESULTS, caption="Checks"),
    ]


def vega_bundle_for(chart: alt.TopLevelMixin) -> str:
    """The vl-convert bundle for the Vega-Lite version named in ``chart``'s own ``$schema``."""
    version = re.search(r"/v(\d+\.\d+)\.\d+\.json$", chart.to_dict()["$schema"]).group(1)
    return vl_convert.javascript_bundle(vl_version=version)


@pytest.fixture
def chromium():
    return require_chromium()


# -- the HTML -----------------------------------------------------------------------


def test_javascript_is_inlined_once_and_nothing_is_fetched(tmp_path):
    path = write_report(tmp_path / "report.html", title="Shop", blocks=sample_blocks())
    html = path.read_text(encoding="utf-8")
    bundle = vega_bundle_for(bar_chart(ROW_COUNTS, "table", "rows"))

    assert html.count(bundle) == 1
    assert html.count("window.vegaEmbed=") == 1
    # Two charts, a table and checks weigh little next to the ~0.9 MB bundle.
    assert len(bundle) < path.stat().st_size < len(bundle) + 64_000
    assert EXTERNAL_RESOURCE.findall(html) == []
    assert html.count('class="mp-chart"') == 2


def test_report_without_charts_carries_no_javascript():
    html = render_report_html(title="Plain", blocks=[Paragraph("Nothing to draw.")])
    assert "<script" not in html
    assert len(html) < 20_000


def test_user_text_is_escaped_everywhere():
    evil = "<script>alert(1)</script>"
    checks = CHECK_RESULTS.assign(check=evil, sample=[[{evil: evil}], [], []])
    html = render_report_html(
        title=evil,
        subtitle=evil,
        blocks=[
            Heading(evil),
            Paragraph(evil),
            Markdown(f"**bold** {evil}"),
            Metrics({evil: evil}),
            Table(pd.DataFrame({evil: [evil]}), caption=evil),
            Checks(checks, caption=evil),
        ],
    )
    assert "<script" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "<strong>bold</strong>" in html


def test_chart_data_cannot_close_its_script_element():
    data = pd.DataFrame({"label": ["</script><b>x</b>"], "n": [1]})
    html = render_report_html(title="t", blocks=[Chart(bar_chart(data, "label", "n"))])
    assert "</script><b>" not in html
    assert "\\u003c/script\\u003e\\u003cb\\u003ex" in html
    assert html.count("<script") == html.count("</script>")


def test_table_is_cut_to_max_rows_and_formats_values():
    frame = pd.DataFrame(
        {
            "id": range(1, 11),
            "amount": [1234.5, None] + [2.25] * 8,
            "day": pd.date_range("2024-01-30", periods=10),
            "ok": [True, False] * 5,
        }
    )
    html = render_report_html(title="t", blocks=[Table(frame, max_rows=3)])
    body = html[html.index("<tbody>") : html.index("</tbody>")]
    assert body.count("<tr>") == 3
    assert "First 3 of 10 rows" in html
    assert '<td class="mp-num">1,234.50</td>' in body
    assert '<span class="mp-null">null</span>' in body
    assert "<td>2024-01-31</td>" in body
    assert "<td>false</td>" in body


def test_table_shows_a_meaningful_index():
    frame = pd.DataFrame({"n": [3, 4]}, index=pd.Index(["a", "b"], name="key"))
    html = render_report_html(title="t", blocks=[Table(frame)])
    assert "<th>key</th>" in html and "<td>a</td>" in html


def test_table_needs_a_data_frame():
    with pytest.raises(TypeError, match="Table expects a pandas DataFrame, got list"):
        render_report_html(title="t", blocks=[Table([1, 2])])


def test_checks_show_badges_samples_and_a_summary():
    html = render_report_html(title="t", blocks=[Checks(CHECK_RESULTS)])
    assert '<span class="mp-badge mp-badge-fail">fail</span>' in html
    assert '<span class="mp-badge mp-badge-warn">warn</span>' in html
    assert '<span class="mp-badge mp-badge-pass">pass</span>' in html
    assert html.count("<details") == 2  # only checks with failing rows have samples
    summary = re.sub(r"\s+", " ", re.sub(r"<[^>]+>", "", html[html.index('class="mp-summary"') :]))
    assert "3 checks: 1 passed, 1 warned, 1 failed" in summary


@pytest.mark.parametrize(
    ("frame", "message"),
    [
        (CHECK_RESULTS.drop(columns=["status"]), r"lacks column\(s\) \['status'\]"),
        (CHECK_RESULTS.assign(status=["fail", "ok", "pass"]), "status must be one of .* got 'ok'"),
    ],
)
def test_checks_reject_malformed_results(frame, message):
    with pytest.raises(ValueError, match=message):
        render_report_html(title="t", blocks=[Checks(frame)])


def test_unknown_block_is_rejected_with_its_position():
    with pytest.raises(TypeError, match="report block #2: expected a Heading.*got str"):
        render_report_html(title="t", blocks=[Paragraph("ok"), "just a string"])


def test_only_the_volatile_parts_change_between_runs():
    first = render_report_html(title="t", blocks=[Paragraph("x")], generated_at=dt.datetime(2024, 1, 1, 9, 30))
    second = render_report_html(title="t", blocks=[Paragraph("x")], generated_at=dt.datetime(2025, 6, 2, 17, 5))
    assert "2024-01-01 09:30" in first
    assert first != second
    assert mask_volatile(first) == mask_volatile(second)
    assert '<span class="mp-volatile" data-volatile="generated-at">[generated-at]</span>' in mask_volatile(first)


def test_contents_list_the_sections():
    html = render_report_html(title="t", blocks=sample_blocks())
    nav = html[html.index('<nav class="mp-contents"') : html.index("</nav>")]
    assert re.findall(r'<a href="#[^"]+">([^<]+)</a>', nav) == ["Volumes", "Revenue", "Quality"]


# -- in the browser, offline ----------------------------------------------------------


@pytest.mark.chromium
def test_report_draws_every_chart_offline(chromium, tmp_path):
    path = write_report(
        tmp_path / "report.html",
        title="Shop: daily load",
        subtitle="Sample data",
        blocks=sample_blocks(),
        generated_at=dt.datetime(2024, 3, 8, 6, 0, tzinfo=dt.timezone.utc),
    )
    page = render_page(
        path,
        screenshot=ARTIFACTS / "report.png",
        wait_for=CHARTS_DRAWN,
        wait_ms=15_000,
        evaluate={
            "charts": CHART_STATE,
            "open_samples": "document.querySelectorAll('details').forEach(d => d.open = true)",
        },
    )
    assert page.ready, f"charts not drawn in time; console errors: {page.console_errors}"
    assert page.values["charts"] == [["mp-chart-4", "ok", True], ["mp-chart-6", "ok", True]]
    assert page.console_errors == []
    assert page.failed_requests == []
    assert (ARTIFACTS / "report.png").stat().st_size > 10_000


@pytest.mark.chromium
def test_a_broken_chart_says_so_on_the_page_and_in_the_console(chromium, tmp_path):
    path = write_report(tmp_path / "report.html", title="t", blocks=[Chart({"mark": "no-such-mark"})])
    page = render_page(path, wait_for=CHARTS_DRAWN, wait_ms=15_000, evaluate={"charts": CHART_STATE})
    assert page.values["charts"] == [["mp-chart-1", "error", False]]
    assert "This chart could not be drawn" in page.dom
    assert len(page.console_errors) == 1
    assert "chart mp-chart-1 could not be drawn" in page.console_errors[0]


@pytest.mark.chromium
def test_the_browser_has_no_network_not_even_loopback(chromium, tmp_path):
    # Control: a local web server that Python itself can reach...
    hits: list[str] = []

    class Recorder(http.server.BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 (http.server's naming)
            hits.append(self.path)
            self.send_response(200)
            self.send_header("Content-Type", "text/javascript")
            self.end_headers()
            self.wfile.write(b"window.fromLocalServer = true;")

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Recorder)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    port = server.server_address[1]
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/control.js", timeout=5) as response:
            assert response.read() == b"window.fromLocalServer = true;"
        hits.clear()
        # ...and Altair's default HTML, which loads Vega from a CDN.
        page_path = tmp_path / "cdn.html"
        alt.Chart(ROW_COUNTS).mark_bar().encode(x="rows", y="table").save(page_path)
        html = page_path.read_text()
        cdn_scripts = re.findall(r'<script[^>]+src="(https://[^"]+)"', html)
        assert cdn_scripts, "Altair's default HTML no longer loads scripts from a CDN"
        local = (
            f'<script src="http://127.0.0.1:{port}/a.js"></script><script src="http://localhost:{port}/b.js"></script>'
        )
        page_path.write_text(html.replace("<head>", "<head>" + local, 1))

        page = render_page(
            page_path,
            wait_ms=2000,
            evaluate={
                "vega": "typeof vega",
                "vegaEmbed": "typeof vegaEmbed",
                "local": "typeof window.fromLocalServer",
                "drawn": "document.querySelectorAll('svg, canvas').length",
            },
        )
    finally:
        server.shutdown()
        server.server_close()

    assert hits == []
    assert page.values == {"vega": "undefined", "vegaEmbed": "undefined", "local": "undefined", "drawn": 0}
    failed = dict(page.failed_requests)
    for url in [*cdn_scripts, f"http://127.0.0.1:{port}/a.js", f"http://localhost:{port}/b.js"]:
        assert failed.get(url, "").startswith("net::ERR_"), f"{url} was not blocked: {page.failed_requests}"
    assert any("Failed to load resource" in error for error in page.console_errors)
