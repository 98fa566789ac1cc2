"""What the warm kernels' fork server imports before its first fork."""

from __future__ import annotations

from millpond.engines import DEFAULT_URL, engine_class

PRELOAD = (
    "ipykernel.kernelapp",
    "ipykernel.ipkernel",
    "ipykernel.debugger",
    "IPython.core.interactiveshell",
    "comm",
    "IPython.core.debugger",
    "IPython.extensions.storemagic",
    "pdb",
    "sqlite3",
    "faulthandler",
    "tornado.platform.asyncio",
    "psutil",
    "jupyter_client.localinterfaces",
    "pandas",
    "pyarrow",
    "ibis",
    *engine_class(DEFAULT_URL).warm_modules,
    "sqlglot",
    "sqlglot.lineage",
    "millpond",
    "millpond.stage_api.context",
    "millpond.warehouse.materialize",
    # what ctx.materialize, ctx.check and the monitors import on first use (about 0.3 s a stage)
    "pyarrow.dataset",
    "pyarrow.parquet",
    "ibis.formats.pyarrow",
    "ibis.formats.pandas",
    "ibis.expr.types.groupby",
    "pandas.io.formats.html",
    "IPython.core.completerlib",
    "millpond.store.metadata",
    "millpond.store.monitoring",
    "millpond.pipeline.tables",
    "millpond.pipeline.products",
    "millpond.settings",
    "millpond.warehouse.evolution",
    "millpond.warehouse.contracts",
    "millpond.warehouse.incremental",
    "millpond.warehouse.versions",
    "millpond.warehouse.lake",
    "millpond.warehouse.lake_delta",
    "millpond.lineage.compiled",
    "millpond.quality.declared",
    "millpond.quality.builtin",
    "millpond.quality.monitors",
    "millpond.quality.counting",
    "millpond.stage_api.checks",
    "millpond.model",
    "deltalake",  # a table published as delta (0.02 s to import)
)
"""Modules the server imports before its first fork: what a stage kernel would import anyway.
A workspace adds its own library with ``execution: {preload: [...]}`` (:func:`configure`)."""
