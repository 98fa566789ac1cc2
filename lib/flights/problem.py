"""One data quality problem of the flights tables: what is wrong, where, and how to count it."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import ibis.expr.types as ir

NEW_YORK = "America/New_York"


@dataclass(frozen=True)
class Problem:
    """A known problem of the data: the offending rows and how to say it.

    Parameters
    ----------
    code
        Short name, e.g. ``"cancelled_flights"``.
    table
        The bronze table the rows come from (``flights``, ``weather``...).
    rows
        An Ibis expression selecting the offending rows.
    finding
        The sentence, a :meth:`str.format` template over ``rows``, ``s`` (``"s"``
        unless ``rows`` is 1), ``distinct``, ``values`` and the names of ``facts``.
    none
        The sentence when no row offends (default: ``finding``).
    distinct
        A column of ``rows`` whose distinct values are counted (``distinct``) and, up
        to :data:`MAX_VALUES`, named (``values``).
    facts
        Further numbers for the sentence, as Ibis scalar expressions.
    """

    code: str
    table: str
    rows: ir.Table = field(repr=False)
    finding: str = field(repr=False)
    none: str | None = field(default=None, repr=False)
    distinct: str | None = None
    facts: Mapping[str, ir.Scalar] = field(default_factory=dict, repr=False)
