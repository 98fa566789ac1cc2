"""The catalog: an entry per table the workspace builds or reads (``millpond catalog``).

Declared once in the pipeline spec (``description``, ``owner``, ``tags``, ``primary_key``,
``columns`` under a stage's ``tables:``, see :mod:`millpond.pipeline.tables`), joined with
what the metadata store recorded: types, rows, the last build, freshness, quality.
"""

from millpond.catalog.build import build_catalog
from millpond.catalog.entry import Catalog, CatalogEntry, ColumnEntry, QualityStatus

__all__ = ["Catalog", "CatalogEntry", "ColumnEntry", "QualityStatus", "build_catalog"]
