"""In JupyterLab: a stage context holds the DuckDB warehouse only while a cell runs.

A batch stage holds the warehouse lease from its first query until its kernel ends; an
interactive kernel must not block batch runs for longer than one cell. IPython's
``pre_run_cell``/``post_run_cell`` hooks reopen and close the same Ibis backend around
each cell, so expressions built before a pause still run after it. A new ``mp.stage()``
in the same kernel replaces the previous context's hooks.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from millpond.stage_api.context import StageContext


def pause_between_cells(ctx: StageContext) -> None:
    """In IPython, hold the warehouse only while a cell runs."""
    try:
        from IPython import get_ipython
    except ImportError:  # pragma: no cover - IPython ships with the project
        return
    shell = get_ipython()
    if shell is None or not ctx.warehouse.is_file:
        return
    previous = getattr(shell, "_millpond_ctx", None)
    if previous is not None:
        previous.close()
        for event, hook in getattr(shell, "_millpond_hooks", ()):
            try:
                shell.events.unregister(event, hook)
            except ValueError:
                pass
    used = {"flag": False}

    def before(*_args):
        if used["flag"]:
            ctx.warehouse.hold()

    def after(*_args):
        used["flag"] = used["flag"] or ctx.warehouse._connected
        ctx.warehouse.pause()

    shell.events.register("pre_run_cell", before)
    shell.events.register("post_run_cell", after)
    shell._millpond_ctx = ctx
    shell._millpond_hooks = [("pre_run_cell", before), ("post_run_cell", after)]
