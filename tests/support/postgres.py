"""A throwaway PostgreSQL cluster: a private server in a temporary directory.

The test session (``tests/conftest.py``) starts one per session; benchmarks and
manual checks can use it too. It needs only the PostgreSQL server binaries
(``initdb``, ``pg_ctl``, ``postgres``), no running service and no configuration:

- the cluster lives in a fresh temporary directory and is removed on exit;
- the server listens on a free TCP port on ``127.0.0.1`` only (plus a unix
  socket inside the temporary directory), with ``trust`` authentication;
- durability is switched off (``fsync=off``) and memory kept small: the data is
  disposable by design;
- logical decoding is on (``wal_level=logical``, replication slots) for the change data
  capture tests (``tests/lib/sources/test_postgres_cdc.py``).

PostgreSQL refuses to run as root. When this process is root, ``initdb`` and
``pg_ctl`` run as the ``postgres`` system user, which must exist.

Run this file directly to get a server for manual work; it prints the URL and
stops the server on Ctrl-C::

    python tests/support/postgres.py
"""

from __future__ import annotations

import atexit
import glob
import os
import pwd
import re
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from types import TracebackType
from typing import Any

__all__ = ["PostgresUnavailable", "ThrowawayPostgres", "find_bindir"]

SUPERUSER = "postgres"
"""Name of the cluster's superuser (``initdb --username``), whatever the OS user."""

SERVER_SETTINGS = {
    "listen_addresses": "127.0.0.1",
    "fsync": "off",
    "synchronous_commit": "off",
    "full_page_writes": "off",
    "shared_buffers": "16MB",
    "max_connections": "50",
    "wal_level": "logical",
    "max_replication_slots": "20",
    "max_wal_senders": "20",
}
"""Settings passed to the server on the command line (``-c name=value``)."""

_DATABASE_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")
_START_ATTEMPTS = 3
_TIMEOUT_SECONDS = 60


class PostgresUnavailable(RuntimeError):
    """PostgreSQL cannot be provided here: binaries missing or the server would not start."""


def find_bindir() -> Path:
    """Find the directory holding ``initdb`` and ``pg_ctl``.

    Looks, in order, at ``$MILLPOND_PG_BINDIR``, ``initdb`` on ``PATH``,
    ``pg_config --bindir`` and ``/usr/lib/postgresql/*/bin`` (newest version first).

    Returns
    -------
    Path
        A directory containing both ``initdb`` and ``pg_ctl``.

    Raises
    ------
    PostgresUnavailable
        If no such directory exists.

    Examples
    --------
    >>> bindir = find_bindir()
    >>> (bindir / "pg_ctl").exists()
    True
    """
    candidates: list[Path] = []
    if override := os.environ.get("MILLPOND_PG_BINDIR"):
        candidates.append(Path(override))
    if initdb := shutil.which("initdb"):
        # Resolve symlinks (e.g. /usr/local/bin/initdb) so pg_ctl and postgres
        # come from the same installation.
        candidates.append(Path(os.path.realpath(initdb)).parent)
    if pg_config := shutil.which("pg_config"):
        result = subprocess.run([pg_config, "--bindir"], capture_output=True, text=True, check=False)
        if result.returncode == 0 and result.stdout.strip():
            candidates.append(Path(result.stdout.strip()))
    debian = glob.glob("/usr/lib/postgresql/*/bin")
    debian.sort(key=lambda p: [int(x) for x in re.findall(r"\d+", p)], reverse=True)
    candidates.extend(Path(p) for p in debian)
    for bindir in candidates:
        if all(os.access(bindir / exe, os.X_OK) for exe in ("initdb", "pg_ctl", "postgres")):
            return bindir
    looked = ", ".join(str(c) for c in candidates) or "nothing found"
    raise PostgresUnavailable(
        "PostgreSQL server binaries (initdb, pg_ctl, postgres) not found "
        f"(looked on PATH, pg_config --bindir, /usr/lib/postgresql/*/bin: {looked}). "
        "Install them, e.g. `apt-get install postgresql`, or set MILLPOND_PG_BINDIR."
    )


def _free_port(host: str) -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


class ThrowawayPostgres:
    """A private PostgreSQL server in a temporary directory, removed on exit.

    Use it as a context manager, or call :meth:`start` and :meth:`stop`
    yourself (:meth:`stop` also runs at interpreter exit, as a safety net).

    Parameters
    ----------
    database
        Name of the database created at start; :attr:`url` points to it.
    bindir
        Directory with ``initdb`` and ``pg_ctl``; found by :func:`find_bindir`
        when omitted.
    host
        Address to listen on. Keep the default: the server trusts every client.

    Attributes
    ----------
    port : int
        TCP port the server listens on (set by :meth:`start`).
    directory : Path
        Temporary directory holding the cluster, its log and its unix socket.

    Examples
    --------
    >>> import ibis
    >>> with ThrowawayPostgres() as pg:
    ...     con = ibis.connect(pg.url)
    ...     t = con.create_table("t", ibis.memtable({"x": [1, 2, 3]}))
    ...     total = int(t.x.sum().execute())
    ...     con.disconnect()
    >>> total
    6
    """

    def __init__(
        self,
        database: str = "millpond_test",
        *,
        bindir: Path | str | None = None,
        host: str = "127.0.0.1",
    ) -> None:
        _check_database_name(database)
        self.database = database
        self.host = host
        self._bindir = Path(bindir) if bindir is not None else None
        self.port: int | None = None
        self.directory: Path | None = None
        self._running = False

    # -- lifecycle ---------------------------------------------------------------

    def __enter__(self) -> ThrowawayPostgres:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def start(self) -> ThrowawayPostgres:
        """Create the cluster, start the server and create :attr:`database`.

        Returns
        -------
        ThrowawayPostgres
            ``self``, started.

        Raises
        ------
        PostgresUnavailable
            If binaries are missing, the ``postgres`` user is missing (when
            running as root) or the server does not start; the message carries
            the tail of the server log. Nothing is left behind in that case.
        """
        if self._running:
            return self
        bindir = self._bindir or find_bindir()
        run_as = _postgres_account()
        self.directory = Path(tempfile.mkdtemp(prefix="millpond-pg-", dir=_temp_base(run_as)))
        atexit.register(self.stop)
        try:
            if run_as is not None:
                os.chown(self.directory, run_as.pw_uid, run_as.pw_gid)
            self._initdb(bindir, run_as)
            self._start_server(bindir, run_as)
            self._running = True
            self._create_database(self.database)
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        """Stop the server (``pg_ctl stop -m immediate``) and remove its directory.

        Safe to call more than once, and on a server that never started.
        """
        atexit.unregister(self.stop)
        directory, self.directory = self.directory, None
        self._running = False
        if directory is None:
            return
        data = directory / "data"
        if (data / "postmaster.pid").exists():
            bindir = self._bindir or find_bindir()
            result = self._run(
                [bindir / "pg_ctl", "stop", "-D", data, "-m", "immediate", "-w", "-t", "30"],
                _postgres_account(),
                check=False,
            )
            if result.returncode != 0:
                _kill_postmaster(data)
        shutil.rmtree(directory, ignore_errors=True)

    # -- connecting --------------------------------------------------------------

    @property
    def url(self) -> str:
        """URL of :attr:`database`, for ``ibis.connect``.

        Examples
        --------
        >>> with ThrowawayPostgres() as pg:
        ...     pg.url == f"postgres://postgres@127.0.0.1:{pg.port}/millpond_test"
        True
        """
        return self.url_for(self.database)

    def url_for(self, database: str) -> str:
        """URL of any database of this server, e.g. ``postgres://postgres@127.0.0.1:5433/db``."""
        self._require_running()
        return f"postgres://{SUPERUSER}@{self.host}:{self.port}/{database}"

    def connect_kwargs(self, database: str | None = None) -> dict[str, Any]:
        """Keyword arguments for ``ibis.postgres.connect``.

        Parameters
        ----------
        database
            Database to connect to; :attr:`database` when omitted.

        Examples
        --------
        >>> import ibis
        >>> with ThrowawayPostgres() as pg:
        ...     con = ibis.postgres.connect(**pg.connect_kwargs())
        ...     name = con.current_catalog
        ...     con.disconnect()
        >>> name
        'millpond_test'
        """
        self._require_running()
        return {
            "host": self.host,
            "port": self.port,
            "user": SUPERUSER,
            "database": database or self.database,
        }

    def fresh_database(self, name: str) -> str:
        """Create a new, empty database and return its URL.

        Parameters
        ----------
        name
            Lower-case identifier (letters, digits, underscores; at most 63 characters).

        Returns
        -------
        str
            URL of the new database, usable by ``ibis.connect``.

        Raises
        ------
        ValueError
            If ``name`` is not a plain lower-case identifier.

        Examples
        --------
        >>> import ibis
        >>> with ThrowawayPostgres() as pg:
        ...     con = ibis.connect(pg.fresh_database("scratch"))
        ...     tables = con.list_tables()
        ...     con.disconnect()
        >>> tables
        []
        """
        _check_database_name(name)
        self._create_database(name)
        return self.url_for(name)

    def drop_database(self, name: str) -> None:
        """Drop a database, closing any connection still open on it."""
        _check_database_name(name)
        self._admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    # -- internals -------------------------------------------------------------

    def _require_running(self) -> None:
        if not self._running:
            raise RuntimeError(
                "The throwaway PostgreSQL server is not running: use it as a context "
                "manager (`with ThrowawayPostgres() as pg:`) or call .start() first."
            )

    def _create_database(self, name: str) -> None:
        self._admin(f'CREATE DATABASE "{name}"')

    def _admin(self, statement: str) -> None:
        import psycopg

        self._require_running()
        with psycopg.connect(
            host=self.host, port=self.port, user=SUPERUSER, dbname="postgres", autocommit=True
        ) as conn:
            conn.execute(statement)

    def _initdb(self, bindir: Path, run_as: pwd.struct_passwd | None) -> None:
        assert self.directory is not None
        result = self._run(
            [
                bindir / "initdb",
                "-D",
                self.directory / "data",
                "--username",
                SUPERUSER,
                "--auth",
                "trust",
                "--encoding",
                "UTF8",
                "--no-locale",
                "--no-sync",
            ],
            run_as,
            check=False,
        )
        if result.returncode != 0:
            raise PostgresUnavailable(
                f"initdb failed (exit {result.returncode}) in {self.directory}:\n{result.stdout}{result.stderr}"
            )

    def _start_server(self, bindir: Path, run_as: pwd.struct_passwd | None) -> None:
        assert self.directory is not None
        log = self.directory / "server.log"
        for _ in range(_START_ATTEMPTS):
            # The port is free when chosen, but another process may take it
            # before the server binds: then try again with another one.
            self.port = _free_port(self.host)
            settings = {
                **SERVER_SETTINGS,
                "listen_addresses": self.host,
                "port": str(self.port),
                "unix_socket_directories": str(self.directory),
            }
            options = " ".join(f"-c {key}={value}" for key, value in settings.items())
            result = self._run(
                [
                    bindir / "pg_ctl",
                    "start",
                    "-D",
                    self.directory / "data",
                    "-l",
                    log,
                    "-o",
                    options,
                    "-w",
                    "-t",
                    str(_TIMEOUT_SECONDS),
                ],
                run_as,
                check=False,
            )
            if result.returncode == 0:
                return
            tail = _tail(log)
            if "already in use" not in tail:
                break
        raise PostgresUnavailable(
            f"PostgreSQL did not start on {self.host}:{self.port} "
            f"(pg_ctl exit {result.returncode}).\n{result.stdout}{result.stderr}"
            f"Server log {log}:\n{tail}"
        )

    def _run(
        self, argv: list[Any], run_as: pwd.struct_passwd | None, *, check: bool
    ) -> subprocess.CompletedProcess[str]:
        user_kwargs: dict[str, Any] = {}
        if run_as is not None:
            user_kwargs = {"user": run_as.pw_uid, "group": run_as.pw_gid, "extra_groups": []}
        return subprocess.run(
            [str(a) for a in argv],
            # A working directory the postgres user may enter (not /root).
            cwd=self.directory,
            capture_output=True,
            text=True,
            check=check,
            timeout=_TIMEOUT_SECONDS + 30,
            stdin=subprocess.DEVNULL,
            **user_kwargs,
        )


def _check_database_name(name: str) -> None:
    if not _DATABASE_NAME.match(name):
        raise ValueError(
            f"Invalid database name {name!r}: use lower-case letters, digits and "
            "underscores, starting with a letter or underscore, at most 63 characters."
        )


def _postgres_account() -> pwd.struct_passwd | None:
    """The account to run the server as: ``postgres`` when we are root, else ourselves."""
    if os.geteuid() != 0:
        return None
    try:
        return pwd.getpwnam("postgres")
    except KeyError:
        raise PostgresUnavailable(
            "Running as root, and PostgreSQL refuses to run as root, but there is no "
            "'postgres' system user to run it as. Create one: "
            "`useradd --system --user-group --no-create-home postgres`."
        ) from None


def _temp_base(run_as: pwd.struct_passwd | None) -> str:
    """A temporary directory base the server's user can reach."""
    base = tempfile.gettempdir()
    if run_as is None:
        return base
    # Every parent must be traversable by others (TMPDIR under /root is not).
    for parent in [Path(base), *Path(base).parents]:
        if not parent.stat().st_mode & 0o001:
            return "/tmp"
    return base


def _tail(path: Path, lines: int = 30) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no server log)"


def _kill_postmaster(data: Path) -> None:
    """Last resort when ``pg_ctl stop`` fails: SIGKILL the postmaster by its pid file."""
    import signal

    try:
        pid = int((data / "postmaster.pid").read_text().splitlines()[0])
        os.kill(pid, signal.SIGKILL)
    except (OSError, ValueError, IndexError):
        return
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except OSError:
            return
        time.sleep(0.05)


if __name__ == "__main__":
    with ThrowawayPostgres() as server:
        print(server.url, flush=True)
        print("Ctrl-C stops the server and removes", server.directory, flush=True)
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            pass
