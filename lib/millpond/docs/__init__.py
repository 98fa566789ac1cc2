"""``millpond docs``: a static, self-contained site about the warehouse.

:func:`~millpond.docs.site.write_site` writes it (a page per table, search, lineage
graph); :func:`~millpond.docs.serve.serve_site` serves it over HTTP for the team.
"""

from millpond.docs.site import default_output, write_site

__all__ = ["default_output", "write_site"]
