"""The engine's query plan of a materialization, for ``millpond run --profile``.

Under ``--profile`` each ``ctx.materialize`` shows, in the stage's executed notebook,
the plan of the expression it built with the time and rows of each operator: DuckDB's
``EXPLAIN ANALYZE`` and PostgreSQL's ``EXPLAIN (ANALYZE, BUFFERS)``; other engines
give their plain ``EXPLAIN``. The query runs once more to be measured (the plan is of
the SELECT; the build itself is not run twice).

>>> import ibis
>>> con = ibis.duckdb.connect()
>>> con.create_table("t", ibis.memtable({"g": ["x", "y", "x"], "a": [1, 2, 3]}))
DatabaseTable: memory.main.t
  g string
  a int64
>>> plan = query_plan(con, con.table("t").group_by("g").agg(s=lambda t: t.a.sum()))
>>> "GROUP_BY" in plan and "Total Time" in plan
True
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from millpond.engines import engine_for

if TYPE_CHECKING:
    import ibis.expr.types as ir
    from ibis.backends import BaseBackend

__all__ = ["query_plan", "show_query_plan"]


def query_plan(con: BaseBackend, expr: ir.Table) -> str:
    """The plan of ``expr`` on ``con``, measured (``EXPLAIN ANALYZE``) where the engine can."""

    return engine_for(con).query_plan(expr)


def show_query_plan(con: BaseBackend, expr: ir.Table, name: str) -> None:
    """Show the plan of the build of ``name`` as output of the running cell; a plan that
    cannot be had is said so (profiling never fails a stage)."""
    try:
        engine = engine_for(con)
        text = engine.query_plan(expr)
        title = f"Query plan of {name} ({engine.name} {engine.plan_statement}, --profile)"
    except Exception as exc:  # noqa: BLE001 - a diagnostic only
        text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        title = f"No query plan for {name}"
    try:
        from IPython.display import Markdown, display

        display(Markdown(f"**{title}**\n\n```text\n{text}\n```"))
    except ImportError:  # outside IPython
        print(f"{title}\n{text}")
