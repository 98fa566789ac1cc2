"""A source as a pipeline declares it (``sources:`` in ``pipelines/<name>.yml``).

Example::

    sources:
      orders_files:
        kind: files                     # one of the registered kinds (millpond.sources)
        target: bronze.orders           # the bronze table it lands in
        options: {path: "data/raw/orders/*.csv"}
        description: the shop's order exports, one file a day

The stage that produces ``target`` loads it with ``ctx.load("orders_files")``. What the
``options`` may hold depends on the kind (each kind has a model of its own, checked when
the source is loaded or validated); ``secrets`` maps an option to a secret reference
(``secret:pg_password``, declared in ``millpond.yml``), resolved in the kernel and never
written anywhere.

>>> SourceSpec.model_validate({"kind": "files", "target": "bronze.orders", "options": {"path": "a/*.csv"}}).kind
'files'
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

TABLE_NAME = r"^[A-Za-z_][A-Za-z0-9_]*\.[A-Za-z_][A-Za-z0-9_]*$"
SOURCE_KIND = r"^[a-z][a-z0-9_]*$"
SYNCED_KINDS = frozenset({"postgres_cdc"})
"""Kinds whose target ``millpond sync`` keeps in step (a change stream), not a stage's ``ctx.load``:
no stage needs to produce it (a test keeps this in step with the kinds' classes)."""


class SourceSpec(BaseModel):
    """One declared source: its kind, the table it lands in, its options."""

    model_config = ConfigDict(extra="forbid")

    kind: str = Field(pattern=SOURCE_KIND, description="the source's kind, e.g. files")
    target: str = Field(pattern=TABLE_NAME, description="the bronze table it lands in (layer.table)")
    options: dict[str, Any] = Field(default={}, description="the kind's own options (its model checks them)")
    secrets: dict[str, str] = Field(
        default={}, description="option name -> secret reference (secret:NAME, declared in millpond.yml)"
    )
    description: str = ""
