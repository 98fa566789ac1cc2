"""A workspace whose warehouse is PySpark, with its Spark Connect server running.

The server is the one millpond starts for any ``pyspark://`` workspace
(:mod:`millpond.engines.spark_server`); tests stop it when they are done. Without
PySpark or Java the tests skip, except in CI, where they fail (``support/components.py``).
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from support.components import require_component

SPARK_URL = "pyspark://local[2]"


def require_spark() -> None:
    """Skip (fail in CI) unless PySpark and Java are installed."""
    try:
        import pyspark  # noqa: F401
    except ImportError:
        require_component("PySpark", "pip install -e '.[spark]' (the `spark` extra)")
    if shutil.which("java") is None:
        require_component("Java", "PySpark needs Java 17 or newer on PATH")


@contextmanager
def spark_server(workspace) -> Iterator[None]:
    """Start the workspace's Spark server, and stop it on the way out."""
    from millpond.engines.spark_server import SparkServer

    require_spark()
    server = SparkServer(workspace)
    server.start()
    try:
        yield
    finally:
        server.stop()


def spark_workspace(root: Path):
    """An empty workspace at ``root`` whose warehouse is local PySpark."""
    from millpond.workspace import Workspace

    root.mkdir(parents=True, exist_ok=True)
    (root / "millpond.yml").write_text(f"name: sparktest\nwarehouse: {SPARK_URL}\n")
    (root / "pipelines").mkdir(exist_ok=True)
    return Workspace(root)


@contextmanager
def spark_connection(root: Path):
    """A PySpark workspace at ``root`` with its server running: ``(workspace, connection)``;
    the connection is closed and the server stopped on the way out."""
    from millpond.warehouse.connect import connect

    require_spark()
    ws = spark_workspace(root)
    with spark_server(ws):
        con = connect(ws)
        try:
            yield ws, con
        finally:
            con.disconnect()
