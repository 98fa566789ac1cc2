"""What changed between two versions of a table: added, removed and changed rows.

With a key (``--key``, else the incremental ``unique_key`` recorded with the version),
a row is *added* when its key is new, *removed* when its key is gone and *changed* when
its key stays but another column differs (NULLs compare equal). Without a key the two
versions are compared as multisets of whole rows: only added and removed. Columns
present in one version only are listed apart and left out of the row comparison.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

from millpond.errors import MillpondError
from millpond.warehouse.versions import find_version, version_table

if TYPE_CHECKING:
    import ibis.expr.types as ir
    from ibis.backends import BaseBackend

    from millpond.store.metadata import MetadataStore


@dataclass
class TableDiff:
    """Counts and a short sample of each kind of difference."""

    added: int
    removed: int
    changed: int | None
    """``None`` when compared without a key."""
    key: list[str] | None = None
    columns_added: list[str] = field(default_factory=list)
    columns_removed: list[str] = field(default_factory=list)
    samples: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    table: str | None = None
    old_version: int | None = None
    new_version: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _sortable(t: ir.Table, columns: list[str]) -> list[str]:
    return [c for c in columns if not (t[c].type().is_nested() or t[c].type().is_json() or t[c].type().is_binary())]


def _sample(t: ir.Table, order: list[str], limit: int) -> list[dict[str, Any]]:
    ordered = t.order_by(_sortable(t, order)) if _sortable(t, order) else t
    return ordered.limit(limit).to_pyarrow().to_pylist() if limit else []


def diff_tables(old: ir.Table, new: ir.Table, key: list[str] | None = None, limit: int = 5) -> TableDiff:
    """Compare two tables (see the module docstring).

    Examples
    --------
    >>> import ibis
    >>> old = ibis.memtable({"id": [1, 2, 3], "v": ["a", "b", "c"]})
    >>> new = ibis.memtable({"id": [2, 3, 4], "v": ["b", "C", "d"]})
    >>> d = diff_tables(old, new, key=["id"])
    >>> d.added, d.removed, d.changed
    (1, 1, 1)
    >>> d.samples["changed"]
    [{'id': 3, 'changes': {'v': ['c', 'C']}}]
    >>> d = diff_tables(old, new)
    >>> d.added, d.removed, d.changed
    (2, 2, None)
    """
    common = [c for c in new.columns if c in old.columns]
    result = TableDiff(
        0,
        0,
        None,
        key=list(key) if key else None,
        columns_added=[c for c in new.columns if c not in old.columns],
        columns_removed=[c for c in old.columns if c not in new.columns],
    )
    old, new = old.select(*common), new.select(*common)
    if not key:
        added, removed = new.difference(old, distinct=False), old.difference(new, distinct=False)
        result.added, result.removed = int(added.count().execute()), int(removed.count().execute())
        result.samples = {"added": _sample(added, common, limit), "removed": _sample(removed, common, limit)}
        return result
    missing = [k for k in key if k not in common]
    if missing:
        raise MillpondError(
            f"diff: key column {', '.join(missing)} is not in both versions (columns: {', '.join(common)})"
        )
    for label, t in (("older", old), ("newer", new)):
        repeated = int(t.group_by(list(key)).agg(n=t.count()).filter(lambda g: g.n > 1).count().execute())
        if repeated:
            raise MillpondError(
                f"diff: key {', '.join(key)} is not unique in the {label} version ({repeated} values "
                "repeat); give more --key columns, or none to compare whole rows"
            )
    added, removed = new.anti_join(old, key), old.anti_join(new, key)
    others = [c for c in common if c not in key]
    before = old.rename({f"{c}__old": c for c in others})
    joined = new.join(before, key)
    if others:
        differs = [~joined[c].identical_to(joined[f"{c}__old"]) for c in others]
        condition = differs[0]
        for d in differs[1:]:
            condition = condition | d
        changed = joined.filter(condition)
    else:
        changed = joined.limit(0)
    result.added, result.removed = int(added.count().execute()), int(removed.count().execute())
    result.changed = int(changed.count().execute())
    rows = _sample(changed, list(key), limit)
    result.samples = {
        "added": _sample(added, list(key), limit),
        "removed": _sample(removed, list(key), limit),
        "changed": [
            {**{k: r[k] for k in key}, "changes": {c: [r[f"{c}__old"], r[c]] for c in others if r[c] != r[f"{c}__old"]}}
            for r in rows
        ],
    }
    return result


def diff_versions(
    con: BaseBackend, store: MetadataStore, name: str, old: int, new: int, key: list[str] | None = None, limit: int = 5
) -> TableDiff:
    """:func:`diff_tables` of versions ``old`` and ``new`` of ``name``; the key defaults to
    the ``unique_key`` recorded with the newer version (an incremental table's)."""

    if key is None:
        key = find_version(store, name, new).unique_key or find_version(store, name, old).unique_key
    result = diff_tables(version_table(con, store, name, old), version_table(con, store, name, new), key, limit)
    result.table, result.old_version, result.new_version = name, old, new
    return result
