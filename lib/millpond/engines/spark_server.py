"""The workspace's Spark Connect server: one Spark driver that every stage kernel talks to.

``warehouse: pyspark://MASTER`` (``local[*]``, ``local[2]``, ``spark://host:7077``,
``yarn``...) makes millpond start one Spark Connect server for the workspace, with
``MASTER`` as its cluster manager, a Hive metastore in ``<meta>/spark/metastore_db``
(embedded Derby, opened by that one driver only) and the tables' files in
``data/spark-warehouse``. Stage kernels are thin gRPC clients of it, so a stage pays for
a connection (well under a second) instead of a JVM start (10 to 20 seconds), and every
stage sees the same catalog. Query parameters of the URL become Spark settings:
``pyspark://local[2]?spark.driver.memory=4g``.

``warehouse: sc://HOST:PORT`` uses a Spark Connect server somebody else runs (a
cluster's, for example); millpond then starts nothing.

The server outlives a run, like a database server: ``millpond server status|start|stop``.
Its address and process are in ``<meta>/spark/server.json``; starting is guarded by a lock
file so that two kernels asking at once start one server.
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import signal
import socket
import subprocess
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Iterator
from urllib.parse import parse_qsl

from millpond.errors import MillpondError
from millpond.processes import is_alive

if TYPE_CHECKING:
    from millpond.engines.base import WorkspaceView as Workspace

SERVER_CLASS = "org.apache.spark.sql.connect.service.SparkConnectServer"
START_TIMEOUT = 240.0
"""Seconds a server may take to listen (a busy 2-core machine needs about 20)."""
WAREHOUSE_DIR = "data/spark-warehouse"
"""Where Spark keeps the tables unless the URL sets ``spark.sql.warehouse.dir``."""


@dataclass(frozen=True)
class SparkTarget:
    """What a ``pyspark://`` or ``sc://`` warehouse URL asks for.

    Examples
    --------
    >>> SparkTarget.parse("pyspark://local[2]?spark.driver.memory=2g")
    SparkTarget(master='local[2]', remote=None, conf={'spark.driver.memory': '2g'})
    >>> SparkTarget.parse("sc://spark.example.com:15002").remote
    'sc://spark.example.com:15002'
    >>> SparkTarget.parse("pyspark://").master
    'local[*]'
    """

    master: str | None
    remote: str | None
    conf: dict[str, str] = field(default_factory=dict)

    @classmethod
    def parse(cls, url: str) -> SparkTarget:
        if url.startswith("sc://"):
            return cls(master=None, remote=url)
        if not url.startswith("pyspark://"):
            raise MillpondError(f"not a Spark warehouse URL: {url} (use pyspark://local[*] or sc://host:port)")
        rest = url.removeprefix("pyspark://")
        master, _, query = rest.partition("?")
        return cls(master=master or "local[*]", remote=None, conf=dict(parse_qsl(query)))


def is_spark_url(url: str) -> bool:
    """Whether the warehouse URL names Spark (``pyspark://`` or ``sc://``).

    >>> is_spark_url("pyspark://local[*]"), is_spark_url("duckdb://w.duckdb")
    (True, False)
    """
    return url.startswith(("pyspark://", "sc://"))


class SparkServer:
    """The Spark Connect server of one workspace (see the module docstring)."""

    def __init__(self, workspace: Workspace):
        self.workspace = workspace
        self.target = SparkTarget.parse(workspace.warehouse_url())
        self.folder = workspace.meta_dir / "spark"
        self.state_file = self.folder / "server.json"
        self.log_file = self.folder / "server.log"

    # -- what clients connect to -------------------------------------------------------
    def remote_url(self, *, start: bool = True) -> str:
        """The ``sc://`` address kernels connect to, starting the server if needed."""
        if self.target.remote is not None:
            return self.target.remote
        state = self.running()
        if state is None:
            if not start:
                raise MillpondError("the workspace's Spark server is not running (millpond server start)")
            state = self.start()
        return f"sc://127.0.0.1:{state['port']}"

    @property
    def warehouse_dir(self) -> Path:
        return self.workspace.path(self.target.conf.get("spark.sql.warehouse.dir", WAREHOUSE_DIR))

    def settings(self) -> dict[str, str]:
        """The Spark settings the server starts with (the URL's win)."""
        metastore = self.folder / "metastore_db"
        conf = {
            "spark.sql.catalogImplementation": "hive",
            "spark.sql.warehouse.dir": str(self.warehouse_dir),
            "spark.hadoop.javax.jdo.option.ConnectionURL": f"jdbc:derby:;databaseName={metastore};create=true",
            "spark.driver.extraJavaOptions": f"-Dderby.system.home={self.folder}",
            "spark.sql.session.timeZone": "UTC",
            "spark.ui.enabled": "false",
            "spark.log.level": "WARN",
            "spark.sql.shuffle.partitions": "4",
            "spark.connect.grpc.binding.address": "127.0.0.1",
        }
        conf.update(self.target.conf)
        return conf

    # -- state ---------------------------------------------------------------------------
    def running(self) -> dict | None:
        """The running server's state (pid, port, master), or ``None``."""
        try:
            state = json.loads(self.state_file.read_text())
        except (OSError, ValueError):
            return None
        if not is_alive(state.get("pid")) or not _listening(state.get("port")):
            return None
        return state

    def start(self) -> dict:
        """Start the server (or find the one another process just started); its state."""
        if self.target.remote is not None:
            raise MillpondError(f"the warehouse is the remote Spark server {self.target.remote}; millpond starts none")
        with self._lock():
            state = self.running()
            if state is not None:
                return state
            return self._launch()

    def stop(self) -> bool:
        """Stop the server; whether one was running."""
        with self._lock():
            try:
                state = json.loads(self.state_file.read_text())
            except (OSError, ValueError):
                return False
            pid = state.get("pid")
            self.state_file.unlink(missing_ok=True)
            if not is_alive(pid):
                return False
            _stop_group(pid)
            return True

    # -- internals -----------------------------------------------------------------------
    @contextmanager
    def _lock(self) -> Iterator[None]:
        self.folder.mkdir(parents=True, exist_ok=True)
        with open(self.folder / "server.lock", "w") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    def _launch(self) -> dict:
        submit = _spark_submit()
        port = _free_port()
        self.warehouse_dir.mkdir(parents=True, exist_ok=True)
        command = [
            str(submit),
            "--master",
            self.target.master,
            "--class",
            SERVER_CLASS,
            "--name",
            f"millpond {self.workspace.spec.name}",
            "--conf",
            f"spark.connect.grpc.binding.port={port}",
        ]
        for key, value in self.settings().items():
            command += ["--conf", f"{key}={value}"]
        env = {**os.environ, "SPARK_HOME": str(submit.parent.parent)}
        with open(self.log_file, "wb") as log:
            process = subprocess.Popen(
                command,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                cwd=self.folder,
                env=env,
                start_new_session=True,
            )
        deadline = time.monotonic() + START_TIMEOUT
        while not _listening(port):
            if process.poll() is not None:
                raise MillpondError(
                    f"the Spark server did not start: {_last_error(self.log_file)} "
                    f"(log: {self.workspace.relative(self.log_file)})"
                )
            if time.monotonic() > deadline:
                _stop_group(process.pid)
                raise MillpondError(
                    f"the Spark server did not listen within {START_TIMEOUT:.0f} s "
                    f"(log: {self.workspace.relative(self.log_file)})"
                )
            time.sleep(0.25)
        state = {"pid": process.pid, "port": port, "master": self.target.master, "started": time.time()}
        self.state_file.write_text(json.dumps(state))
        return state


def describe_server(workspace: Workspace, action: str = "status") -> str:
    """What ``millpond server status|start|stop`` prints."""
    if action not in ("status", "start", "stop"):
        raise MillpondError(f"millpond server {action}: expected status, start or stop")
    url = workspace.warehouse_url()
    if not is_spark_url(url):
        raise MillpondError(f"the warehouse is {url.split('://')[0]}://, not Spark (set warehouse: pyspark://local[*])")
    server = SparkServer(workspace)
    if server.target.remote is not None:
        return f"remote Spark Connect server {server.target.remote} (millpond starts and stops none)"
    if action == "stop":
        return "stopped the Spark server" if server.stop() else "no Spark server was running"
    state = server.start() if action == "start" else server.running()
    if state is None:
        return f"no Spark server running (master {server.target.master}; it starts with the first stage)"
    return (
        f"Spark server on sc://127.0.0.1:{state['port']}, master {state['master']}, pid {state['pid']}, "
        f"tables in {workspace.relative(server.warehouse_dir)}"
    )


def _spark_submit() -> Path:
    try:
        import pyspark
    except ImportError:
        raise MillpondError("warehouse pyspark:// needs PySpark: pip install 'millpond[spark]'") from None
    if shutil.which("java") is None and not os.environ.get("JAVA_HOME"):
        raise MillpondError("warehouse pyspark:// needs Java 17 or newer on PATH (or JAVA_HOME)")
    return Path(pyspark.__file__).parent / "bin" / "spark-submit"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _listening(port: int | None) -> bool:
    if not port:
        return False
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


def _stop_group(pid: int, grace: float = 15.0) -> None:
    """SIGTERM the server's process group, SIGKILL it after ``grace`` seconds."""
    for sig, wait in ((signal.SIGTERM, grace), (signal.SIGKILL, 5.0)):
        try:
            os.killpg(pid, sig)
        except ProcessLookupError:
            return
        deadline = time.monotonic() + wait
        while is_alive(pid) and time.monotonic() < deadline:
            time.sleep(0.1)
        if not is_alive(pid):
            return


def _last_error(log_file: Path) -> str:
    try:
        lines = [line for line in log_file.read_text(errors="replace").splitlines() if line.strip()]
    except OSError:
        return "no log"
    errors = [line for line in lines if "Exception" in line or "ERROR" in line]
    return (errors or lines or ["no output"])[-1][:300]
