"""Write-audit-publish: what a new build must pass before it replaces the live table.

A ``table`` (and an ``incremental`` table built whole) is built under a temporary name
(:mod:`millpond.warehouse.materialize`). Before the swap that publishes it, the build
is audited; a build that fails its audit is dropped, the previous version stays, and the
stage fails with one line naming the table and the reason:

1. its **contract** (:mod:`millpond.warehouse.contracts`);
2. its **volume guard**, ``volume:`` under the stage's ``tables:``::

       tables:
         bronze.orders:
           volume: {min_rows: 1, max_drop: 0.5}

   ``min_rows`` (default 0): the fewest rows a build may have; ``max_drop`` (a
   fraction, none by default): the largest share of the replaced table's rows a build
   may lose (0.5 refuses 1,000 rows replaced by 499); ``allow_empty`` (default false):
   whether an empty build may replace a non-empty table. So by default an empty or
   header-only input never empties a table that had rows. The ``quarantine`` layer
   allows it by default (a clean day holds nothing);
3. the table's declared checks that can fail (``severity: error``, or an ``error_if``),
   from the stage's ``checks:``, run on the new build; ``sql`` checks (they name live
   tables) and ``freshness`` checks (keeping an older table never makes it fresher)
   run after the stage only, as before. A failed audit records the audited checks with
   the run; a passed one records nothing (the runner checks the live table after the
   stage, as for every declared check).

The guard and the checks apply to builds through ``ctx.materialize`` (which knows the
table's declarations); a library call to ``materialize()`` without ``spec`` is audited
by its contract only.

>>> volume_problem(VolumeGuard(), rows=0, previous=5165)
'0 rows would replace 5,165 (allow it with volume: {allow_empty: true})'
>>> volume_problem(VolumeGuard(max_drop=0.5), rows=400, previous=1000)
'400 rows would replace 1,000, a drop of 60% (max_drop 50%)'
>>> volume_problem(VolumeGuard(min_rows=1), rows=0, previous=None)
'0 rows, fewer than min_rows 1'
>>> volume_problem(VolumeGuard(min_rows=1), rows=0, previous=5165)
'0 rows, fewer than min_rows 1 (would replace 5,165)'
>>> volume_problem(VolumeGuard(), rows=0, previous=None) is None
True
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from millpond.errors import MillpondError
from millpond.quality.basic import run_all
from millpond.quality.declared import build_checks, parse_checks
from millpond.settings.tables import VolumeGuard
from millpond.warehouse.sql import existing_kind, fetch, quote, split_name

if TYPE_CHECKING:
    import ibis.expr.types as ir

#: Declared check types never run before the swap (see the module docstring).
AFTER_THE_SWAP_ONLY = ("sql", "freshness")

Audit = Callable[["ir.Table"], list[str]]
"""Problems of a freshly built table (the temporary one), one item each; empty passes."""


def volume_problem(guard: VolumeGuard, rows: int, previous: int | None) -> str | None:
    """What a build of ``rows`` rows breaks of ``guard``, replacing ``previous`` rows
    (``None``: no table to replace); ``None`` when it passes."""
    if rows < guard.min_rows:
        replacing = f" (would replace {previous:,})" if previous else ""
        return f"{rows:,} rows, fewer than min_rows {guard.min_rows:,}{replacing}"
    if not previous:
        return None
    if rows == 0 and not guard.allow_empty:
        return f"0 rows would replace {previous:,} (allow it with volume: {{allow_empty: true}})"
    if guard.max_drop is not None and rows < previous * (1 - guard.max_drop):
        drop = 1 - rows / previous
        return f"{rows:,} rows would replace {previous:,}, a drop of {drop:.0%} (max_drop {guard.max_drop:.0%})"
    return None


def audit_error(name: str, problems: list[str]) -> MillpondError:
    """The one line a failed audit raises.

    >>> str(audit_error("bronze.orders", ["0 rows would replace 5"]))
    'bronze.orders: the new build failed its audit, the previous version stays: 0 rows would replace 5'
    """
    return MillpondError(f"{name}: the new build failed its audit, the previous version stays: {'; '.join(problems)}")


def gating_checks(declared: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The declarations (YAML mappings) an audit runs: those that can fail, but not
    ``sql`` or ``freshness``.

    >>> gating_checks([{"unique": "id"}, {"not_null": {"columns": ["a"], "severity": "warn"}},
    ...                {"unique": {"columns": "id", "severity": "warn", "error_if": {"rows": 5}}},
    ...                {"sql": {"name": "x", "query": "SELECT 1"}}])
    [{'unique': 'id'}, {'unique': {'columns': 'id', 'severity': 'warn', 'error_if': {'rows': 5}}}]
    """
    kept = []
    for declaration in declared:
        if not isinstance(declaration, dict) or len(declaration) != 1:
            continue
        ((kind, arguments),) = declaration.items()
        if kind in AFTER_THE_SWAP_ONLY:
            continue
        options = arguments if isinstance(arguments, dict) else {}
        if options.get("severity", "error") == "error" or options.get("error_if") is not None:
            kept.append(declaration)
    return kept


def checks_audit(
    name: str,
    declared: list[dict[str, Any]],
    *,
    table: Callable[[str], ir.Table],
    con: Any,
    record: Callable[[list[dict]], None] | None = None,
) -> Audit | None:
    """An :data:`Audit` running the gating checks of ``declared`` (table ``name``'s
    ``checks:``) on the new build; ``None`` when none gates.

    ``table`` gives the other tables a check names (``relationships``); ``record``
    stores the audited results (``table``, ``check``, ``severity``, ``status``,
    ``failing_rows``, ``sample``) when one failed.
    """
    gating = gating_checks(declared)
    if not gating:
        return None

    def audit(built: ir.Table) -> list[str]:
        checks = build_checks(
            parse_checks({"checks": {name: gating}}), lambda other: built if other == name else table(other), con=con
        )
        results = run_all(checks)
        failed = [f"{r.check} ({r.failing_rows:,} rows)" for r in results if r.status == "fail"]
        if failed and record is not None:
            record(
                [
                    {
                        "table": r.table,
                        "check": r.check,
                        "severity": r.severity,
                        "status": r.status,
                        "failing_rows": r.failing_rows,
                        "sample": r.sample,
                        "detail": r.detail,
                    }
                    for r in results
                ]
            )
        return [f"{len(failed)} error check(s) failed: {'; '.join(failed)}"] if failed else []

    return audit


def volume_guard(con: Any, name: str, volume: VolumeGuard | None) -> Callable[[Callable[[str], Any]], None] | None:
    """The volume guard of an incremental build, run inside its transaction before the commit
    (:func:`millpond.warehouse.sql.run_in_transaction`'s ``guard``): the table's rows after the
    build against its rows before; a problem rolls the build back with :func:`audit_error`."""
    if volume is None:
        return None
    schema, table = split_name(name)
    live = quote(con, schema, table)
    previous = (
        fetch(con, f"SELECT count(*) FROM {live}")[0][0] if existing_kind(con, schema, table) == "table" else None
    )

    def guard(fetch_count: Callable[[str], Any]) -> None:
        problem = volume_problem(volume, int(fetch_count(f"SELECT count(*) FROM {live}")), previous)
        if problem:
            raise audit_error(name, [f"volume: {problem}"])

    return guard


def build_audit(
    con: Any,
    name: str,
    *,
    volume: VolumeGuard | None,
    checks: Audit | None,
    contract_check: Callable[[ir.Table], None] | None,
) -> Callable[[ir.Table], None] | None:
    """The ``verify`` of a table swap (:func:`millpond.warehouse.materialize._swap_in_table`):
    the contract, then the volume guard, then the checks, on the temporary table."""
    if volume is None and checks is None:
        return contract_check

    def verify(built: ir.Table) -> None:
        if contract_check is not None:
            contract_check(built)
        problems = []
        if volume is not None:
            schema, table = split_name(name)
            rows = int(built.count().execute())
            previous = (
                fetch(con, f"SELECT count(*) FROM {quote(con, schema, table)}")[0][0]
                if existing_kind(con, schema, table) == "table"
                else None
            )
            problem = volume_problem(volume, rows, previous)
            problems += [f"volume: {problem}"] if problem else []
        if checks is not None and not problems:
            problems += checks(built)
        if problems:
            raise audit_error(name, problems)

    return verify
