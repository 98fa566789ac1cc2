"""Write the docs site: static HTML that opens from disk, with no network.

Layout of the output folder::

    index.html              every table by layer, the search box, the whole lineage graph
    <layer>/<table>.html    one page per table (see :func:`millpond.docs.site_data.page_file`)
    assets/                 site.css, site.js, lineage.js, data.js (the search index and the
                            lineage graph), vega.js (charts) and the vendored graph library

``data.js`` sets ``window.MILLPOND_DOCS`` instead of being fetched, because browsers
refuse ``fetch`` on ``file://`` pages. The site is written to a temporary folder next
to the output and swapped in whole, so a reader never sees half of it.

Examples
--------
>>> from millpond.workspace import example_workspace
>>> ws = example_workspace("stages:\\n- {name: s, notebook: n.ipynb, reads: [data/raw/a.csv], produces: [gold.a]}\\n")
>>> site = write_site(ws, ws.root / "site")
>>> sorted(p.relative_to(site).as_posix() for p in site.rglob("*.html"))
['gold/gold.a.html', 'index.html', 'raw/data_raw_a.csv.html']
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from functools import lru_cache
from pathlib import Path
from typing import Any

import jinja2
import pandas as pd

from millpond.docs.format import human_time, register_filters
from millpond.docs.site_data import SiteData, TablePage, gather_site
from millpond.errors import MillpondError
from millpond.report.render import javascript_bundle, line_chart
from millpond.workspace import Workspace

__all__ = ["default_output", "write_site"]

HERE = Path(__file__).parent
VENDORED = ("cytoscape.min.js", "cytoscape-dagre.min.js")
STATIC = ("site.css", "site.js", "lineage.js")
_MARKER = ".millpond-docs"  # marks a folder as a docs site, so only a docs site is ever replaced


def default_output(workspace: Workspace) -> Path:
    """``<reports folder>/docs`` (``data/reports/docs`` by default)."""
    return workspace.path(workspace.spec.folders.reports) / "docs"


def write_site(workspace: Workspace, output: Path | None = None, *, site: SiteData | None = None) -> Path:
    """Write the docs site of ``workspace`` to ``output`` (default :func:`default_output`); return it.

    An existing ``output`` is replaced only if it is empty or an earlier docs site.
    """
    output = Path(output) if output is not None else default_output(workspace)
    _check_output(output)
    site = site or gather_site(workspace)
    output.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".docs-", dir=output.parent))
    staging.chmod(0o777 & ~_umask())  # mkdtemp makes it private (0700); a site is for readers
    try:
        _write(site, staging)
        (staging / _MARKER).write_text("written by millpond docs\n")
        _swap(staging, output)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return output


def _umask() -> int:
    """This process's umask (read by setting it and putting it back)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _check_output(output: Path) -> None:
    if output.exists() and not output.is_dir():
        raise MillpondError(f"{output}: is a file; give `millpond docs --output` a folder")
    if output.is_dir() and any(output.iterdir()) and not (output / _MARKER).is_file():
        raise MillpondError(f"{output}: folder is not empty and is not a docs site; choose another --output")


def _swap(staging: Path, output: Path) -> None:
    """Move the new site into place; the old one (if any) goes only once the new one is there."""
    if not output.exists():
        os.replace(staging, output)
        return
    old = output.with_name(f".{output.name}-old-{os.getpid()}")
    os.replace(output, old)
    os.replace(staging, output)
    shutil.rmtree(old, ignore_errors=True)


def _write(site: SiteData, root: Path) -> None:
    env = _environment()
    assets = root / "assets"
    assets.mkdir()
    for name in VENDORED:
        shutil.copyfile(HERE / "vendor" / name, assets / name)
    for name in STATIC:
        shutil.copyfile(HERE / "static" / name, assets / name)
    (assets / "vega.js").write_text(_vega_bundle())
    (assets / "data.js").write_text("window.MILLPOND_DOCS = " + _script_json(_browser_data(site)) + ";\n")
    common = {"workspace": site.workspace, "made_at": site.catalog.made_at, "layers": _layers(site)}
    (root / "index.html").write_text(env.get_template("index.html.jinja").render(prefix="", **common))
    for page in site.pages:
        target = root / page.file
        target.parent.mkdir(parents=True, exist_ok=True)
        html = env.get_template("table.html.jinja").render(
            prefix="../", page=page, entry=page.entry, rows_chart=_rows_chart(page), pages=_page_links(site), **common
        )
        target.write_text(html)


def _layers(site: SiteData) -> list[tuple[str, list[TablePage]]]:
    from millpond.report.quality_data import LAYERS

    order = ["raw", *LAYERS]
    by_layer: dict[str, list[TablePage]] = {}
    for page in site.pages:
        by_layer.setdefault(page.entry.layer, []).append(page)
    return sorted(
        by_layer.items(), key=lambda item: (order.index(item[0]) if item[0] in order else len(order), item[0])
    )


def _page_links(site: SiteData) -> dict[str, str]:
    return {p.entry.name: p.file for p in site.pages}


def _browser_data(site: SiteData) -> dict[str, Any]:
    """The search index (tables and their columns) and the lineage graph."""
    tables = []
    for page in site.pages:
        e = page.entry
        tables.append(
            {
                "name": e.name,
                "layer": e.layer,
                "page": page.file,
                "description": e.description,
                "owner": e.owner,
                "tags": e.tags,
                "columns": [
                    {"name": c.name, "type": c.type, "description": c.description, "tags": c.tags} for c in e.columns
                ],
            }
        )
    return {"workspace": site.workspace, "tables": tables, "graph": site.graph}


def _rows_chart(page: TablePage) -> str | None:
    """The Vega-Lite spec (JSON) of the rows of each recent build, or ``None`` with fewer than two."""
    if len(page.builds) < 2:
        return None
    spec = dict(_rows_chart_template())
    spec["data"] = {
        "values": [{"built": human_time(b["built_at"]).removesuffix(" UTC"), "rows": b["rows"]} for b in page.builds]
    }
    return _script_json(spec)


@lru_cache(maxsize=1)
def _rows_chart_template() -> dict[str, Any]:
    """The rows chart made once with Altair, without its data (building a chart per page costs ~15 ms)."""

    frame = pd.DataFrame({"built": pd.to_datetime(["2024-01-01 00:00"]), "rows": [0]})
    spec = line_chart(frame, "built", "rows", title="rows per build").to_dict()
    spec.pop("datasets", None)
    return spec


@lru_cache(maxsize=1)
def _vega_bundle() -> str:
    return javascript_bundle()


def _script_json(data: Any) -> str:
    """JSON safe inside a ``<script>`` element."""
    return json.dumps(data, default=str).replace("</", "<\\/")


@lru_cache(maxsize=1)
def _environment():
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(HERE / "templates"),
        autoescape=True,
        trim_blocks=True,
        lstrip_blocks=True,
        undefined=jinja2.StrictUndefined,
    )
    register_filters(env)
    return env
