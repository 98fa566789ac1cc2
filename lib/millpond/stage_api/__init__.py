"""What runs inside a stage's kernel: :func:`millpond.stage` and the
:class:`~millpond.stage_api.context.StageContext` it returns, the build service
(:mod:`~millpond.stage_api.build`) that owns ``ctx.materialize``'s sequence, the check
service (:mod:`~millpond.stage_api.checks`) shared with the runner, and the pauses of an
interactive session (:mod:`~millpond.stage_api.interactive`).

The package sits above the library (warehouse, quality, lineage, pipeline) and below
the runner, which only starts kernels and reads what they recorded.
"""
