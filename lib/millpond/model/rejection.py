"""Split a bronze table into clean rows and rejected rows, each rejected row with one reason.

A silver stage is one :func:`classify` call per source: it types the raw columns,
gives every row at most one ``reason`` and hands back a :class:`Classified` whose
:meth:`~Classified.clean` and :meth:`~Classified.rejected` are complementary filters of
the same expression. So ``rows in = clean + rejected`` holds by construction.

A row gets the first reason that applies, checked in this order:

0. ``malformed_row``: the reader could not parse it (its ``_load_error`` is set, see
   :mod:`millpond.engines.raw_arrow`); its line, error and raw text go to quarantine
   with it, and stay out of the clean table;
1. **row checks**, in the order given (a required value missing, text that does not
   parse, a value outside its enum, ...);
2. ``duplicate``: an exact copy (all raw columns except load metadata) of an earlier
   valid row; one copy is kept;
3. ``superseded`` (``version`` given: an older version of the key, the row with the
   greatest ``version`` wins) or ``duplicate_key`` (no ``version``: same key, different
   content; the first row in raw-column order wins);
4. **orphan checks**, in the order given: a foreign key not found in the clean parent.

Load metadata (columns starting with ``_``, e.g. ``_source_file``) is kept in both
outputs and is never part of a duplicate comparison.

>>> import ibis
>>> from millpond.model.parse import parse_int
>>> import pyarrow as pa
>>> raw = ibis.memtable(pa.table({"id": ["1", "1", "2", "x"], "v": ["a", "a", "b", "c"]}))
>>> typed = {"id": parse_int(raw.id), "v": raw.v}
>>> split = classify(raw, typed=typed, row_checks=[(typed["id"].isnull(), "invalid_id")], key=["id"])
>>> con = ibis.duckdb.connect()
>>> sorted(con.to_pyarrow(split.rejected())["reason"].to_pylist())
['duplicate', 'invalid_id']
>>> sorted(con.to_pyarrow(split.clean())["id"].to_pylist())
[1, 2]
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import ibis
import ibis.expr.types as ir

from millpond.engines.raw_arrow import PROBLEM_COLUMNS

REASON = "reason"
MALFORMED = "malformed_row"
_TYPED = "__typed__"


def _is_metadata(column: str) -> bool:
    return column.startswith("_")


@dataclass(frozen=True)
class Classified:
    """A bronze table with typed columns and a ``reason`` per row (NULL = clean).

    Attributes
    ----------
    table
        Raw columns, typed columns (internal names) and ``reason``.
    raw_columns
        The bronze columns, in order (load metadata included).
    typed_columns
        The clean columns, in order.
    """

    table: ir.Table
    raw_columns: tuple[str, ...]
    typed_columns: tuple[str, ...]

    def clean(self) -> ir.Table:
        """Return the rows without a reason: typed columns, then the load metadata (not a
        malformed row's line, error and text: always NULL here)."""
        kept = self.table.filter(self.table[REASON].isnull())
        columns = {name: kept[_TYPED + name] for name in self.typed_columns}
        columns.update(
            {name: kept[name] for name in self.raw_columns if _is_metadata(name) and name not in PROBLEM_COLUMNS}
        )
        return kept.select(**columns)

    def rejected(self) -> ir.Table:
        """Return the rows with a reason: raw columns as loaded, then ``reason``."""
        dropped = self.table.filter(self.table[REASON].notnull())
        return dropped.select(*self.raw_columns, REASON)


def classify(
    raw: ir.Table,
    *,
    typed: Mapping[str, ir.Value],
    row_checks: Sequence[tuple[ir.BooleanValue, str]],
    key: Sequence[str],
    version: str | None = None,
    orphan_checks: Sequence[tuple[str, ir.Column, str]] = (),
) -> Classified:
    """Type ``raw`` and give each row at most one reason (see the module docstring).

    Parameters
    ----------
    raw
        Bronze table.
    typed
        Clean column name -> expression over ``raw`` (parsed, normalized).
    row_checks
        ``(violated, reason)`` pairs of boolean expressions over ``raw``; NULL counts as
        not violated.
    key
        Clean column names that identify a row.
    version
        Clean column whose greatest value marks the current version of a key; make it
        required with a row check (NULLs sort differently on different backends).
    orphan_checks
        ``(clean column, parent key column, reason)``: the value must occur in the parent
        key column (a clean parent table); NULL values are not checked.

    Returns
    -------
    Classified
    """
    raw_columns = tuple(raw.columns)
    business = [raw[name] for name in raw_columns if not _is_metadata(name)]
    metadata = [raw[name] for name in raw_columns if _is_metadata(name)]
    checks = [(violated, reason) for violated, reason in row_checks]
    if "_load_error" in raw_columns:
        checks.insert(0, (raw._load_error.notnull(), MALFORMED))
    step = raw.mutate(
        **{_TYPED + name: expression for name, expression in typed.items()},
        **{REASON: ibis.cases(*checks, else_=ibis.null("string")) if checks else ibis.null("string")},
    )

    copy_number = ibis.row_number().over(
        group_by=[step[REASON].isnull(), *[step[c.get_name()] for c in business]],
        order_by=[step[c.get_name()] for c in metadata] or None,
    )
    step = step.mutate(
        **{REASON: ibis.cases((step[REASON].isnull() & (copy_number > 0), "duplicate"), else_=step[REASON])}
    )

    order = [step[_TYPED + version].desc()] if version else []
    order += [step[c.get_name()] for c in business + metadata]
    key_rank = ibis.row_number().over(
        group_by=[step[REASON].isnull(), *[step[_TYPED + name] for name in key]], order_by=order
    )
    key_reason = "superseded" if version else "duplicate_key"
    step = step.mutate(**{REASON: ibis.cases((step[REASON].isnull() & (key_rank > 0), key_reason), else_=step[REASON])})

    if orphan_checks:
        orphans = [(~step[_TYPED + column].isin(parent_key), reason) for column, parent_key, reason in orphan_checks]
        step = step.mutate(
            **{REASON: ibis.cases((step[REASON].notnull(), step[REASON]), *orphans, else_=ibis.null("string"))}
        )
    return Classified(step, raw_columns, tuple(typed))
