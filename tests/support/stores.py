"""The metadata store of a test workspace, where the project keeps it (one per warehouse and environment)."""

from __future__ import annotations

from pathlib import Path

from millpond.project import project_of
from millpond.store.metadata import MetadataStore
from millpond.workspace import Workspace


def store_of(root: Path | Workspace, env: str | None = None) -> MetadataStore:
    """The store of the workspace at ``root`` (its current warehouse; ``env``: production by default)."""
    return project_of(root if isinstance(root, Workspace) else Workspace(root)).store(env)


def store_file(root: Path | Workspace, env: str | None = None) -> Path:
    """The store's file, created or not."""
    return project_of(root if isinstance(root, Workspace) else Workspace(root)).store_path(env)
