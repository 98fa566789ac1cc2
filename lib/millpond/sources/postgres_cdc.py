"""The ``postgres_cdc`` source: a PostgreSQL table followed through its change log (logical
decoding), kept in step by ``millpond sync`` (:mod:`millpond.run.sync`).

The first sync creates a publication of the table and a replication slot (plugin
``pgoutput``), copies the table whole into the target and stores the slot's starting LSN
with it. Each later batch reads the changes committed since the stored LSN (whole
transactions, in commit order: inserts, updates, deletes, truncates), applies them to the
target by ``primary_key`` and stores the new LSN **in the same warehouse transaction**; only
then is the slot advanced. A sync killed at any point redoes at most the batch it was in
and never applies a transaction twice (one committed but not yet acknowledged is skipped by
its LSN). How one batch goes: :mod:`millpond.sources.cdc_stream`.

Declared as::

    sources:
      crm_orders:
        kind: postgres_cdc
        target: bronze.orders
        options: {url: "postgresql://replicator@db.internal/crm", table: public.orders, primary_key: [id]}
        secrets: {password: secret:crm_password}

It is not loaded by ``ctx.load`` (which says so in one line): a stream has no run to belong
to, so ``millpond sync crm_orders [--follow]`` keeps its target in step, and stages read the
target as any table. No stage has to produce it.

>>> options = PostgresCdcOptions.model_validate({"url": "postgresql://h/db", "table": "s.t", "primary_key": ["id"]})
>>> options.batch, slot_name("crm-orders", "prod"), slot_name("crm", "alice")
(100000, 'millpond_crm_orders', 'millpond_crm_alice')
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import quote as url_quote

from pydantic import Field, field_validator

from millpond.engines import shown_url
from millpond.engines.postgres_arrow import connection_url
from millpond.environment import PROD, active_env
from millpond.errors import MillpondError
from millpond.pipeline.sources import declared_source
from millpond.secrets import resolve
from millpond.sources.postgres_table import ServerTableOptions
from millpond.sources.registry import LoadPlan, Source, register_source

if TYPE_CHECKING:
    from ibis.backends import BaseBackend

    from millpond.sources.cdc_stream import ChangeStream
    from millpond.workspace import Workspace

SLOT = re.compile(r"^[a-z0-9_]{1,63}$")


class PostgresCdcOptions(ServerTableOptions):
    """The options of a ``postgres_cdc`` source."""

    url: str = Field(description="libpq URL of the database, without its password; the role needs REPLICATION")
    primary_key: list[str] = Field(min_length=1, description="the key changes are applied by (the replica identity's)")
    slot: str | None = Field(default=None, description="the replication slot (default: millpond_<source>[_<env>])")
    publication: str | None = Field(default=None, description="the publication (default: the slot's name)")
    batch: int = Field(default=100_000, ge=10, description="messages read per batch at most (whole transactions)")

    @field_validator("slot", "publication")
    @classmethod
    def _slot(cls, value: str | None) -> str | None:
        if value is not None and not SLOT.match(value):
            raise ValueError(f"{value!r}: use lowercase letters, digits and underscores (at most 63)")
        return value


def slot_name(source: str, env: str) -> str:
    """The default slot of ``source`` in environment ``env``: an environment follows on a slot of its own."""
    base = re.sub(r"[^a-z0-9_]", "_", f"millpond_{source}".lower())
    return (base if env == PROD else f"{base}_{env}")[:63]


@register_source
class PostgresCdcSource(Source):
    """A PostgreSQL table's change stream; see the module docstring."""

    kind = "postgres_cdc"
    Options = PostgresCdcOptions
    options: PostgresCdcOptions

    @property
    def slot(self) -> str:
        return self.options.slot or slot_name(self.name, active_env())

    @property
    def publication(self) -> str:
        return self.options.publication or self.slot

    def connection_url(self) -> str:
        """The URL with the password in it: for a connection only, never to show or write."""
        return connection_url(self.options.url, self.options.password)

    def masked(self, text: str) -> str:
        """``text`` with the password (as given, and as it sits in the URL) masked."""
        password = self.options.password
        if password:
            for form in {password, url_quote(password, safe="")}:
                text = text.replace(form, "***")
        return text

    def failure(self, what: str, exc: BaseException) -> MillpondError:
        """One line saying ``what`` failed on this source, the password masked."""
        message = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        return MillpondError(self.masked(f"source {self.name}: {what} {shown_url(self.options.url)}: {message}"))

    def plan(self, con: BaseBackend, state: dict[str, dict[str, Any]], *, loaded_at: datetime) -> LoadPlan:
        raise MillpondError(
            f"source {self.name} is a change stream (postgres_cdc): keep {self.spec.target} in step with "
            f"`millpond sync {self.name}` (--follow to keep following), not ctx.load"
        )

    def stream(self, con: BaseBackend) -> ChangeStream:
        """The change stream into ``con``'s target, connected (:class:`~millpond.sources.cdc_stream.ChangeStream`)."""
        from millpond.sources.cdc_stream import ChangeStream  # pyarrow and the driver: only to sync

        return ChangeStream(self, con)


def change_source(workspace: Workspace, name: str) -> PostgresCdcSource:
    """The declared change-stream source ``name``, its secrets resolved (one line if it is none)."""
    spec, where = declared_source(workspace, name)
    if spec.kind != PostgresCdcSource.kind:
        raise MillpondError(
            f"{where}: sources: {name} is a {spec.kind} source, which ctx.load loads; "
            f"millpond sync follows change streams (kind: {PostgresCdcSource.kind})"
        )
    options = dict(spec.options)
    for option, reference in spec.secrets.items():
        options[option] = resolve(reference, workspace.secret_env())
    return PostgresCdcSource(name, spec.model_copy(update={"options": options}), workspace.root, declared_in=where)
