"""Stage fingerprints: what decides that a stage can be skipped.

A stage's fingerprint covers:

- the notebook's source (not its outputs);
- the source of the workspace's own modules it imports (``lib/``, read from its imports:
  :mod:`millpond.pipeline.workspace_code`); the framework counts by its released version;
- the stage's declaration (notebook, reads, produces, and what it declares of each table
  under ``tables:``: kind, strategy, keys, contract, retention...) and its resolved parameters;
- the build of every table its upstream stages produce (its fingerprint and time: a new
  build, even of the same recipe, is a new version; the same build promoted from a
  development environment is the same) and the content of the raw files it reads;
- the warehouse it writes to;
- for a stage declared ``on_stream``, how far that stream has committed
  (:mod:`millpond.store.stream_marks`).

A stage is skipped when its fingerprint equals that of its last successful run, each
product's latest build came from that run, and the products still exist.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import millpond
from millpond.environment import active_env, env_dir
from millpond.pipeline.load import Pipeline
from millpond.pipeline.notebooks import source_fingerprint
from millpond.pipeline.sources import loaded_by
from millpond.pipeline.workspace_code import imported_modules
from millpond.settings.pipeline import StageSpec
from millpond.store.metadata import MetadataStore
from millpond.store.stream_marks import position


def workspace_code(pipeline: Pipeline, stage: StageSpec, store: MetadataStore | None) -> list[tuple[str, str]]:
    """``(relative path, sha256)`` of each of the workspace's own modules the stage's notebook
    imports, directly or through another (:mod:`millpond.pipeline.workspace_code`)."""
    workspace = pipeline.workspace
    files = imported_modules(pipeline.notebook_path(stage), workspace.code_dir)
    return [(workspace.relative(path), file_sha256(path, store)) for path in files]


def file_sha256(path: Path, store: MetadataStore | None = None) -> str:
    """Content hash of a file, cached in ``store`` by path, size and mtime."""
    stat = path.stat()
    if store is not None:
        cached = store.cached_hash(str(path), stat.st_size, stat.st_mtime_ns)
        if cached:
            return cached
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    value = digest.hexdigest()
    if store is not None:
        store.store_hash(str(path), stat.st_size, stat.st_mtime_ns, value)
    return value


def raw_inputs(pipeline: Pipeline, stage: StageSpec, store: MetadataStore | None) -> list[tuple[str, str]]:
    """``(relative path, sha256)`` of every file matched by the stage's ``reads`` globs."""
    root = pipeline.workspace.root
    found: list[tuple[str, str]] = []
    for pattern in stage.reads:
        matches = sorted(root.glob(pattern)) if not Path(pattern).is_absolute() else [Path(pattern)]
        if not matches:
            found.append((pattern, "missing"))
        for p in matches:
            if p.is_file():
                found.append((pipeline.workspace.relative(p), file_sha256(p, store)))
    return found


def upstream_versions(pipeline: Pipeline, stage: StageSpec, store: MetadataStore) -> list[tuple[str, str]]:
    """``(table or stage, version)`` for what the stage's upstream stages produce."""
    versions: list[tuple[str, str]] = []
    for name in sorted(stage.needs):
        upstream = pipeline.stage(name)
        if upstream.produces:
            for table in sorted(upstream.produces):
                m = store.latest_materialization(table)  # its build, not its recipe: a forced rebuild is new
                versions.append((table, f"{m.fingerprint}@{m.built_at!r}" if m else "missing"))
        else:
            versions.append((f"stage:{name}", store.last_success_fingerprint(pipeline.name, name) or "never"))
    return versions


def warehouse_key(workspace) -> str:
    """The warehouse as the fingerprint sees it: a warehouse file inside the workspace by its
    path from the root, so that a copied or moved workspace is the same workspace."""
    url, database = workspace.warehouse_url(), workspace.warehouse_file()
    if database is not None and database.is_relative_to(workspace.root):
        return url.replace(str(database), database.relative_to(workspace.root).as_posix(), 1)
    return url


def stage_fingerprint(pipeline: Pipeline, stage: StageSpec, params: dict[str, Any], store: MetadataStore) -> str:
    """The fingerprint of ``stage`` with its injected ``params``, as a hex string."""
    payload = {
        "millpond": millpond.__version__,
        "code": workspace_code(pipeline, stage, store),
        "notebook": source_fingerprint(pipeline.notebook_path(stage)),
        "stage": stage.model_dump(include={"name", "notebook", "reads", "produces"}),
        "tables": {name: spec.model_dump(mode="json", exclude_unset=True) for name, spec in stage.tables.items()},
        "params": params,
        "upstream": upstream_versions(pipeline, stage, store),
        "raw": raw_inputs(pipeline, stage, store),
        "warehouse": warehouse_key(pipeline.workspace),
    }
    if stage.on_stream:  # the stream's position: it reruns whenever the stream committed since
        payload["stream"] = position(env_dir(pipeline.workspace, active_env()), stage.on_stream)
    sources = loaded_by(pipeline.spec, stage)
    if sources:  # the sources it loads, as declared (absent otherwise: other fingerprints stay as they were)
        payload["sources"] = sources
    return hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()[:32]
