"""Render an executed notebook to HTML that opens offline.

Input cells are hidden (a stage notebook reads like a report). Vega-Lite chart
outputs, which would otherwise need Vega from a CDN, are replaced by SVG rendered
with vl-convert, and no script or stylesheet is loaded from the network.
"""

from __future__ import annotations

import copy
import re
import threading
from functools import lru_cache
from pathlib import Path

_VEGALITE = re.compile(r"application/vnd\.vegalite\.v\d+\+json")
_REMOTE_TAG = re.compile(r"<(script|link)[^>]+(src|href)=\"https?://[^\"]*\"[^>]*>(\s*</script>)?", re.I)


def _charts_to_svg(nb) -> None:
    import vl_convert as vlc

    for cell in nb.cells:
        for output in cell.get("outputs", []):
            data = output.get("data")
            if not data:
                continue
            keys = [k for k in data if _VEGALITE.fullmatch(k)]
            if not keys:
                continue
            try:
                svg = vlc.vegalite_to_svg(data[keys[0]])
            except Exception:  # keep the text fallback if a spec does not convert
                continue
            for k in keys:
                del data[k]
            data.pop("text/html", None)
            data["image/svg+xml"] = svg


_EXPORTER_LOCK = threading.Lock()


@lru_cache(maxsize=1)
def _exporter():
    from nbconvert import HTMLExporter

    exporter = HTMLExporter(
        template_name="lab", exclude_input=True, exclude_input_prompt=True, exclude_output_prompt=True
    )
    exporter.mathjax_url = ""
    return exporter


def notebook_to_html(notebook: Path, target: Path | None = None) -> Path:
    """Write ``notebook`` (an executed ``.ipynb``) as HTML next to it; returns the path."""
    import nbformat

    nb = copy.deepcopy(nbformat.read(notebook, as_version=4))
    _charts_to_svg(nb)
    with _EXPORTER_LOCK:  # one exporter (its templates compiled once); not thread-safe
        body, _ = _exporter().from_notebook_node(nb)
    body = _REMOTE_TAG.sub("", body)
    target = target or notebook.with_suffix(".html")
    target.write_text(body)
    return target


def warm_up() -> None:
    """Import nbconvert and compile the exporter's templates once, by rendering an empty
    notebook (the fork server calls this once it has served its first fork)."""
    import nbformat

    _exporter().from_notebook_node(nbformat.v4.new_notebook())
