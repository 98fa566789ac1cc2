"""Contracts: the columns, types, not-null columns and primary key a table promises.

Declared on a table in the stage's ``tables:`` spec, or passed as ``contract=``::

    tables:
      gold.fct_orders:
        contract:
          columns: {order_id: int64, amount: "decimal(12, 2)", status: string}
          not_null: [order_id, status]
          primary_key: [order_id]

Every clause is optional. ``columns`` is the exact set (a missing or an extra column
violates it) with Ibis types, compared as :func:`millpond.quality.builtin.dtype_fits`
does (``decimal`` without precision fits any). The contract is checked on the freshly
built temporary table before the swap (on the staged rows, and the key over the
whole table inside the transaction, for ``incremental``): a violation raises one
line naming the table, the clause and a count, and the previous version stays.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from millpond.errors import MillpondError
from millpond.quality.builtin import dtype_fits, parse_dtype
from millpond.settings.tables import Contract
from millpond.warehouse.sql import quote

if TYPE_CHECKING:
    import ibis.expr.types as ir
    from ibis.backends import BaseBackend


def contract_violations(contract: Contract, table: ir.Table, *, check_key: bool = True) -> list[str]:
    """What ``table`` breaks of ``contract``, one ``clause: count what`` item per problem.

    >>> import ibis
    >>> t = ibis.memtable({"id": [1, 1, None], "v": ["a", None, "c"]}, schema={"id": "int64", "v": "string"})
    >>> contract_violations(Contract(columns={"id": "int64", "w": "string"}, not_null=["id"], primary_key=["id"]),
    ...                     t)  # doctest: +NORMALIZE_WHITESPACE
    ['columns: missing w (string)', 'columns: unexpected v (string)', 'not_null: 1 null(s) in id',
     'primary_key: 1 row(s) with a null key (id)', 'primary_key: 1 duplicated key(s) (id)']
    """

    problems: list[str] = []
    schema = table.schema()
    if contract.columns is not None:
        for column, spelled in contract.columns.items():
            expected = parse_dtype(spelled, column)
            if column not in schema:
                problems.append(f"columns: missing {column} ({expected})")
            elif not dtype_fits(expected, schema[column]):
                problems.append(f"columns: {column} is {schema[column]}, not {expected}")
        problems += [f"columns: unexpected {c} ({t})" for c, t in schema.items() if c not in contract.columns]
    absent = [c for c in [*contract.not_null, *contract.primary_key] if c not in schema]
    if absent:  # already reported as missing when the contract lists its columns
        if contract.columns is None:
            problems.append(f"not_null/primary_key: no column {', '.join(dict.fromkeys(absent))}")
        return problems
    if contract.not_null:
        nulls = table.aggregate(**{c: table[c].isnull().sum() for c in contract.not_null}).to_pyarrow().to_pylist()[0]
        problems += [f"not_null: {n} null(s) in {c}" for c, n in nulls.items() if n]
    if contract.primary_key and check_key:
        problems += key_violations(contract, table)
    return problems


def key_violations(contract: Contract, table: ir.Table) -> list[str]:
    """Rows with a null in the primary key, and key values held by more than one row."""
    keys = contract.primary_key
    label = ", ".join(keys)
    null_key = table[keys[0]].isnull()
    for k in keys[1:]:
        null_key = null_key | table[k].isnull()
    nulls = int(table.filter(null_key).count().execute())
    dupes = int(table.group_by(keys).agg(_n=table.count()).filter(lambda g: g._n > 1).count().execute())
    problems = [f"primary_key: {nulls} row(s) with a null key ({label})"] if nulls else []
    return problems + ([f"primary_key: {dupes} duplicated key(s) ({label})"] if dupes else [])


def violation_error(name: str, problems: list[str]) -> MillpondError:
    return MillpondError(f"contract of {name} violated, the previous version stays: {'; '.join(problems)}")


def enforce_contract(name: str, contract: Contract | None, table: ir.Table, *, check_key: bool = True) -> None:
    """Raise :func:`violation_error` when ``table`` breaks ``contract``."""
    if contract is None:
        return
    problems = contract_violations(contract, table, check_key=check_key)
    if problems:
        raise violation_error(name, problems)


def key_checks_sql(con: BaseBackend, contract: Contract | None, schema: str, table: str) -> list[tuple[str, str]]:
    """``(count query, message)`` pairs checking the primary key over the whole table, run
    inside the transaction that changed it (after its inserts, before the commit)."""

    if contract is None or not contract.primary_key:
        return []
    label = ", ".join(contract.primary_key)
    keys = ", ".join(quote(con, k) for k in contract.primary_key)
    target = quote(con, schema, table)
    any_null = " OR ".join(f"{quote(con, k)} IS NULL" for k in contract.primary_key)
    return [
        (f"SELECT count(*) FROM {target} WHERE {any_null}", f"primary_key: {{}} row(s) with a null key ({label})"),
        (
            f"SELECT count(*) FROM (SELECT {keys} FROM {target} GROUP BY {keys} HAVING count(*) > 1) AS d",
            f"primary_key: {{}} duplicated key(s) ({label})",
        ),
    ]
