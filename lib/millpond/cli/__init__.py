"""The command line, on top of everything, and alone printing: :mod:`~millpond.cli.app`
parses (typer) and calls a library or runner function that returns data; the ``*_view``
modules turn that data into rich tables, trees and JSON on the terminal."""

from millpond.cli import (
    catalog_commands,  # noqa: F401 - registers catalog, lineage, impact and docs
    engine_commands,  # noqa: F401 - registers engine and server
    env_commands,  # noqa: F401 - registers env
    stream_commands,  # noqa: F401 - registers stream
    sync_commands,  # noqa: F401 - registers sync
    transfer_commands,  # noqa: F401 - registers export and import
    watch_commands,  # noqa: F401 - registers watch
    workspace_commands,  # noqa: F401 - registers init, generate and lab
)
from millpond.cli.app import app, console_main, main

__all__ = ["app", "console_main", "main"]
