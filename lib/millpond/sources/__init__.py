"""Sources: data from outside the warehouse, loaded into a bronze table incrementally.

A source is one class (:class:`~millpond.sources.registry.Source`) and one
:func:`~millpond.sources.registry.register_source` line; a pipeline declares an instance of
it under ``sources:`` (:class:`millpond.settings.sources.SourceSpec`) and the stage that
produces its ``target`` loads it with ``ctx.load(name)``. What a load has taken (files with
their size and content hash, a cursor, a log position) is kept in the warehouse itself
(:mod:`millpond.sources.state`) and committed in the transaction that commits the rows, so
a killed load is redone, never doubled. Built in: ``files`` (:mod:`millpond.sources.files`),
``postgres_table`` (:mod:`millpond.sources.postgres_table`), ``http_json`` (:mod:`millpond.sources.http_json`)
and ``postgres_cdc`` (:mod:`millpond.sources.postgres_cdc`: a change stream ``millpond sync`` follows).
"""

from millpond.sources import files, http_json, postgres_cdc, postgres_table  # noqa: F401 - registers the built-in kinds
from millpond.sources.registry import LoadPlan, Source, register_source, source_class, source_kinds

__all__ = ["LoadPlan", "Source", "register_source", "source_class", "source_kinds"]
