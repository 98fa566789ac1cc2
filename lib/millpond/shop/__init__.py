"""The reference shop: a deterministic, deliberately dirty raw domain and its transforms.

Layers, one module each, all pure Ibis except the file readers:

- :mod:`~millpond.shop.generate` writes the raw files and ``_manifest.json``
  (:mod:`~millpond.shop.manifest`: the known truth), from clean records
  (:mod:`~millpond.shop.records`) made dirty on purpose (:mod:`~millpond.shop.dirt`);
- :mod:`~millpond.shop.bronze` reads the raw files as they are, plus load metadata;
- :mod:`~millpond.shop.silver` types, cleans, deduplicates and conforms them, and returns
  what it rejected with a ``reason`` (machinery in :mod:`~millpond.shop.rejection`,
  parsers in :mod:`~millpond.shop.parse`);
- :mod:`~millpond.shop.gold` builds the star schema and the daily revenue mart.

File names and schemas live in :mod:`~millpond.shop.raw_files`, the shop's enums in
:mod:`~millpond.shop.domain`. Nothing is imported here, so the generator stays fast to
start; import the module you need.

>>> from millpond.shop.raw_files import SOURCES
>>> len(SOURCES)
6
"""
