"""The metadata store: run history, stage runs, materializations, file hashes."""

from millpond.store.metadata import MetadataStore

__all__ = ["MetadataStore"]
