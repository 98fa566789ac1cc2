"""The reference shop: a deterministic, deliberately dirty raw domain and its transforms.

Layers, one module each, all pure Ibis except the file readers:

- :mod:`~shop.generate` writes the raw files and ``_manifest.json``
  (:mod:`~shop.manifest`: the known truth), from clean records
  (:mod:`~shop.records`) made dirty on purpose (:mod:`~shop.dirt`);
- :mod:`~shop.bronze` reads the raw files as they are, plus load metadata;
- :mod:`~shop.silver` types, cleans, deduplicates and conforms them, and returns
  what it rejected with a ``reason`` (machinery in :mod:`~millpond.model.rejection`,
  parsers in :mod:`~millpond.model.parse`);
- :mod:`~shop.gold` builds the star schema and the daily revenue mart.

File names and schemas live in :mod:`~shop.raw_files`, the shop's enums in
:mod:`~shop.domain`. Nothing is imported here, so the generator stays fast to
start; import the module you need.

>>> from shop.raw_files import SOURCES
>>> len(SOURCES)
6
"""
