"""Streams: replayable logs processed in micro-batches, windowed on event time, committed exactly once.

A stream is declared under ``streams:`` in a pipeline file (:mod:`millpond.settings.streams`)
and run by ``millpond stream run NAME`` (:mod:`millpond.run.streaming`). Here: the logs it
reads (:mod:`~millpond.streams.logs`, :mod:`~millpond.streams.redis_log`), the window
arithmetic (:mod:`~millpond.streams.windows`), the tables it commits to and the one
transaction per micro-batch (:mod:`~millpond.streams.tables`), and the processor that ties
them together (:mod:`~millpond.streams.processor`). See docs/streams.md.
"""
