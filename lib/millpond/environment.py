"""Which warehouse and which environment a process works in, and where their history lives.

**One history per warehouse.** The metadata store (runs, versions, checks, lineage,
fingerprints) is kept per warehouse the URL names (:meth:`Engine.identity
<millpond.engines.base.Engine.identity>`: the file, or the server and database, never
the credentials): ``data/.millpond/warehouses/<key>/``. Switching the URL from DuckDB
to PostgreSQL and back changes nothing on either side.

**Environments.** Production (``prod``) is what ``millpond run`` builds. A development
environment (``MILLPOND_ENV=alice``, ``millpond run shop --env alice``) builds its tables
beside production's, in schemas of its own (``gold`` becomes ``gold__alice``), with a
history of its own (``<key>/envs/alice/``); it reads the production tables it did not
build itself, and never changes them. A stage notebook run outside ``millpond run``
(JupyterLab, nbconvert, plain Papermill) builds in the environment named by
``$MILLPOND_ENV``, else in one named after the person's login. ``millpond env
list|diff|promote|drop`` compares an environment with production, promotes it or throws
it away (:mod:`millpond.warehouse.environments`).

>>> physical_name("gold.fct_orders", "alice"), physical_name("gold.fct_orders", PROD)
('gold__alice.fct_orders', 'gold.fct_orders')
>>> logical_name("gold__alice.fct_orders", "alice")
'gold.fct_orders'
>>> warehouse_key("duckdb://data/warehouse.duckdb")[:-9]  # and 8 hex digits of the identity's hash
'duckdb-data-warehouse-duckdb'
"""

from __future__ import annotations

import getpass
import hashlib
import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from millpond.engines import engine_class
from millpond.errors import MillpondError

if TYPE_CHECKING:
    from millpond.workspace import Workspace

PROD = "prod"
"""The production environment: what ``millpond run`` builds unless told otherwise."""
ENV_VARIABLE = "MILLPOND_ENV"
SEPARATOR = "__"
"""Between a layer and an environment in a schema's name: ``gold__alice``."""
WAREHOUSES_DIR = "warehouses"
_NAME = re.compile(r"[a-z][a-z0-9_]{0,39}")


def check_env_name(name: str) -> str:
    """``name`` as an environment's name (a hyphen read as ``_``: ``feature-x`` is
    ``feature_x``) when it can name one (lowercase letters, digits, ``_``; a letter first;
    no ``__``), else a :class:`MillpondError` saying so.

    >>> check_env_name("feature-x")
    'feature_x'
    """
    name = name.replace("-", "_")
    if name == PROD or (_NAME.fullmatch(name) and SEPARATOR not in name and not name.endswith("_")):
        return name
    raise MillpondError(
        f"environment name {name!r}: use lowercase letters, digits and single underscores or hyphens, a letter first "
        f"(at most 40 characters), or {PROD!r} for production"
    )


def personal_env() -> str:
    """The environment of the person at the keyboard: their login, made a valid name."""
    try:
        login = getpass.getuser()
    except (OSError, KeyError):
        login = "dev"
    name = re.sub(r"_+", "_", re.sub(r"[^a-z0-9]", "_", login.lower())).strip("_")
    name = name if name and name[0].isalpha() else f"dev_{name}".rstrip("_")
    return name[:40].rstrip("_") if name != PROD else "prod_dev"


def current_env(*, interactive: bool = False) -> str:
    """The environment this process works in: ``$MILLPOND_ENV``; else, for a stage run
    outside ``millpond run`` (``interactive``), the person's own (:func:`personal_env`);
    else production."""
    named = os.environ.get(ENV_VARIABLE, "").strip()
    if named:
        return check_env_name(named)
    return personal_env() if interactive else PROD


_ACTIVE: list[str] = []
"""The environment :func:`activate` chose for this process (empty: :func:`current_env`'s)."""


def activate(env: str) -> None:
    """Work in environment ``env`` from now on in this process (``mp.stage()`` outside
    ``millpond run`` chooses the person's own); warehouse names map to it
    (:func:`millpond.warehouse.sql.split_name`)."""
    _ACTIVE[:] = [check_env_name(env)]


@contextmanager
def active(env: str) -> Iterator[None]:
    """Work in environment ``env`` inside the block (promoting reads one and writes another)."""
    before = list(_ACTIVE)
    activate(env)
    try:
        yield
    finally:
        _ACTIVE[:] = before


@contextmanager
def restored() -> Iterator[None]:
    """Inside the block, choose environments freely (``millpond --env``); after it, this
    process works where it did before (a command called in-process, as tests do)."""
    before, named = list(_ACTIVE), os.environ.get(ENV_VARIABLE)
    try:
        yield
    finally:
        _ACTIVE[:] = before
        if named is None:
            os.environ.pop(ENV_VARIABLE, None)
        else:
            os.environ[ENV_VARIABLE] = named


def active_env() -> str:
    """The environment this process works in: the one :func:`activate` chose, else
    :func:`current_env`'s."""
    return _ACTIVE[0] if _ACTIVE else current_env()


def env_schema(schema: str, env: str) -> str:
    """Where schema ``schema`` of environment ``env`` is: ``gold__alice``; a schema already
    of that environment stays as it is.

    >>> env_schema("gold", "alice"), env_schema("gold__alice", "alice"), env_schema("gold", PROD)
    ('gold__alice', 'gold__alice', 'gold')
    """
    suffix = f"{SEPARATOR}{env}"
    return schema if env == PROD or schema.endswith(suffix) else schema + suffix


def physical_name(name: str, env: str) -> str:
    """Where table ``name`` (``layer.table``) of environment ``env`` lives in the warehouse."""
    layer, _, table = name.rpartition(".")
    return f"{env_schema(layer, env)}.{table}" if layer else name


def logical_name(physical: str, env: str) -> str:
    """The table name ``physical`` stands for in environment ``env`` (the inverse of
    :func:`physical_name`); a name of another environment comes back unchanged."""
    suffix = f"{SEPARATOR}{env}"
    layer, _, table = physical.rpartition(".")
    if env != PROD and layer.endswith(suffix):
        return f"{layer.removesuffix(suffix)}.{table}"
    return physical


def tables_of(names: set[str] | list[str], env: str) -> set[str]:
    """Of the warehouse's ``layer.table`` names, those of environment ``env``, by the names
    its stages use.

    >>> sorted(tables_of({"gold.a", "gold__alice.b", "gold__bob.c"}, "alice"))
    ['gold.b']
    >>> sorted(tables_of({"gold.a", "gold__alice.b"}, PROD))
    ['gold.a']
    """
    if env == PROD:
        return {n for n in names if SEPARATOR not in n.rpartition(".")[0]}
    suffix = f"{SEPARATOR}{env}."
    return {logical_name(n, env) for n in names if suffix in n}


def warehouse_identity(workspace: Workspace) -> str:
    """Which warehouse the workspace's URL names (:meth:`~millpond.engines.base.Engine.identity`),
    a warehouse file inside the workspace by its path from the root: a moved or copied
    workspace keeps its history."""
    url = workspace.warehouse_url()
    engine = engine_class(url)
    identity = engine.identity(url)
    database = engine.database_file(url)
    if database is not None:
        real, root = Path(os.path.realpath(database)), Path(os.path.realpath(workspace.root))
        if real.is_relative_to(root):
            identity = identity.replace(str(real), real.relative_to(root).as_posix(), 1)
    return identity


def warehouse_key(identity: str) -> str:
    """A folder name for the warehouse of ``identity`` (:func:`warehouse_identity`): readable,
    and one per identity."""
    digest = hashlib.sha256(identity.encode()).hexdigest()[:8]
    readable = re.sub(r"[^a-z0-9]+", "-", identity.lower()).strip("-")[-48:].strip("-")
    return f"{readable}-{digest}"


def warehouse_dir(workspace: Workspace) -> Path:
    """The folder of the current warehouse's histories (production's and every environment's)."""
    return workspace.meta_dir / WAREHOUSES_DIR / warehouse_key(warehouse_identity(workspace))


def env_dir(workspace: Workspace, env: str) -> Path:
    """The folder of environment ``env``'s history on the current warehouse."""
    base = warehouse_dir(workspace)
    return base / PROD if env == PROD else base / "envs" / check_env_name(env)


def env_output(workspace: Workspace, path: Path, env: str) -> Path:
    """Where ``path``, a file the stages write (a report), goes in environment ``env``: a
    path under the reports folder moves to ``<reports>/envs/<env>/``, so exploring never
    overwrites production's reports."""
    reports = workspace.path(workspace.spec.folders.reports)
    try:
        inside = path.relative_to(reports)
    except ValueError:
        return path
    if env == PROD or inside.parts[:1] == ("envs",):
        return path
    return reports / "envs" / env / inside


def env_names(workspace: Workspace) -> list[str]:
    """The development environments with a history on the current warehouse."""
    folder = warehouse_dir(workspace) / "envs"
    if not folder.is_dir():
        return []
    return sorted(p.name for p in folder.iterdir() if p.is_dir() and _NAME.fullmatch(p.name))
