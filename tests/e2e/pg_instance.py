"""A PostgreSQL server of one test's own, which the test may stop, kill and start again
without disturbing the machine's shared server (``pg_admin_dsn``, port 5432).

``initdb`` runs once per session into a template cluster; each test gets a copy of it
(``cp -a``, under 0.1 s on tmpfs) started on a free port of 127.0.0.1 with its unix
socket in its own temporary directory, trust authentication and ``fsync=off``. As root
(initdb refuses root) the server runs as the ``postgres`` OS user, in directories that user
owns; otherwise as the current user.

Without the binaries, or when the server cannot start, the fixtures skip with the reason,
or fail when ``CONNECTORD_REQUIRE_POSTGRES`` is set (as ``pg_admin_dsn`` does).
"""

from __future__ import annotations

import contextlib
import os
import pwd
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import NoReturn

import pytest

#: Setting this to the directory of ``initdb``/``pg_ctl``/``postgres`` beats the search.
BINDIR_SETTING = "CONNECTORD_TEST_PG_BINDIR"
SERVER_BINARIES = ("initdb", "pg_ctl", "postgres")
SUPERUSER = "postgres"
#: How long pg_ctl may take to start or stop the server, in seconds.
PG_CTL_TIMEOUT = 30
#: Settings of every instance: fast and small. fsync and full-page writes guard against an
#: operating system crash, which no test makes; synchronous_commit stays on, so a commit the
#: server acknowledged survives kill() as it would a real crash of the server.
SETTINGS = """
# connectord tests
listen_addresses = '127.0.0.1'
fsync = off
full_page_writes = off
shared_buffers = 32MB
max_connections = 100
log_min_messages = warning
"""


class PgUnavailable(Exception):
    """No PostgreSQL server can be made here; the message says why."""


class PgError(AssertionError):
    """A start or stop the test asked for failed; the message holds the server's log."""


def postgres_required() -> bool:
    return os.environ.get("CONNECTORD_REQUIRE_POSTGRES", "") not in ("", "0", "false")


def unavailable(reason: str) -> NoReturn:
    """Skip the test with ``reason``, or fail it when PostgreSQL is required."""
    if postgres_required():
        pytest.fail(f"CONNECTORD_REQUIRE_POSTGRES is set but {reason}")
    pytest.skip(reason)


def find_bindir() -> Path:
    """The directory holding initdb, pg_ctl and postgres: ``$CONNECTORD_TEST_PG_BINDIR``,
    ``pg_config --bindir``, the newest ``/usr/lib/postgresql/*/bin``, or ``$PATH``."""
    candidates: list[Path] = []
    if os.environ.get(BINDIR_SETTING):
        candidates.append(Path(os.environ[BINDIR_SETTING]))
    pg_config = shutil.which("pg_config")
    if pg_config:
        with contextlib.suppress(OSError, subprocess.SubprocessError):
            out = subprocess.run(
                [pg_config, "--bindir"], capture_output=True, text=True, timeout=10, check=True
            )
            candidates.append(Path(out.stdout.strip()))
    candidates += sorted(Path("/usr/lib/postgresql").glob("*/bin"), key=_version, reverse=True)
    initdb = shutil.which("initdb")
    if initdb:
        candidates.append(Path(initdb).resolve().parent)
    candidates = list(dict.fromkeys(candidates))
    for bindir in candidates:
        if all(os.access(bindir / name, os.X_OK) for name in SERVER_BINARIES):
            return bindir
    searched = ", ".join(map(str, candidates)) or "nothing"
    raise PgUnavailable(
        f"the PostgreSQL server binaries ({', '.join(SERVER_BINARIES)}) were not found "
        f"(searched {searched}; set {BINDIR_SETTING} or install postgresql)"
    )


def scratch_dir() -> str:
    """Where instances live: ``/dev/shm`` when it is a roomy tmpfs (copying the template
    there takes 0.08 s, against 1 s on this machine's ext4 /tmp), else ``/tmp``. Short
    paths either way: a unix socket path has at most 107 bytes."""
    with contextlib.suppress(OSError):
        shm = os.statvfs("/dev/shm")
        if shm.f_bavail * shm.f_frsize >= 1 << 30 and os.access("/dev/shm", os.W_OK | os.X_OK):
            return "/dev/shm"
    return "/tmp"


def _version(bindir: Path) -> tuple[int, ...]:
    return tuple(int(part) for part in re.findall(r"\d+", bindir.parent.name)) or (0,)


@dataclass(frozen=True)
class Owner:
    """Who runs the server: ``None`` ids mean the current user."""

    uid: int | None = None
    gid: int | None = None

    @classmethod
    def detect(cls) -> Owner:
        if os.geteuid() != 0:
            return cls()
        try:
            entry = pwd.getpwnam(SUPERUSER)
        except KeyError:
            raise PgUnavailable(
                f"running as root, which initdb refuses, and there is no {SUPERUSER!r} OS user to run it as"
            ) from None
        return cls(entry.pw_uid, entry.pw_gid)

    def make_dir(self, prefix: str) -> Path:
        """A new directory this owner may write, with a short path (unix sockets live here)."""
        path = Path(tempfile.mkdtemp(prefix=prefix, dir=scratch_dir()))
        if self.uid is not None:
            os.chown(path, self.uid, self.gid if self.gid is not None else -1)
        return path

    def run(self, *args: str | Path, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        """Run a PostgreSQL program as this owner, in a clean environment (no PG* variables)."""
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LC_ALL": "C", "LANG": "C", "TZ": "UTC"}
        extra: dict[str, object] = {}
        if self.uid is not None:  # as runuser/setpriv do, without depending on them
            extra = {"user": self.uid, "group": self.gid, "extra_groups": []}
        return subprocess.run(
            [str(arg) for arg in args],
            capture_output=True,
            text=True,
            env=env,
            cwd="/",
            timeout=timeout,
            check=False,
            **extra,  # type: ignore[arg-type]
        )


@dataclass(frozen=True)
class PgTemplate:
    """An initdb'ed, never started cluster to copy from."""

    bindir: Path
    owner: Owner
    root: Path
    #: How long initdb took, in seconds.
    initdb_seconds: float = 0.0

    @property
    def data_dir(self) -> Path:
        return self.root / "data"

    @classmethod
    def create(cls) -> PgTemplate:
        bindir = find_bindir()
        owner = Owner.detect()
        root = owner.make_dir("connectord-pgtemplate-")
        started = time.monotonic()
        done = owner.run(
            bindir / "initdb",
            "--pgdata",
            root / "data",
            "--username",
            SUPERUSER,
            "--auth",
            "trust",
            "--encoding",
            "UTF8",
            "--locale",
            "C",
            "--no-sync",
            "--no-instructions",
            timeout=120,
        )
        template = cls(bindir, owner, root, initdb_seconds=time.monotonic() - started)
        if done.returncode != 0:
            template.remove()
            raise PgUnavailable(
                f"initdb ({bindir}) failed with exit code {done.returncode}: "
                f"{(done.stderr or done.stdout).strip()[-2000:]}"
            )
        with open(template.data_dir / "postgresql.conf", "a") as conf:
            conf.write(SETTINGS)
        return template

    def remove(self) -> None:
        shutil.rmtree(self.root, ignore_errors=True)


class PgInstance:
    """One PostgreSQL server: a copy of the template in a directory of its own, listening on
    127.0.0.1:``port`` (kept across restarts) and on a unix socket in ``root``."""

    def __init__(self, template: PgTemplate) -> None:
        self.template = template
        self.root = template.owner.make_dir("connectord-pg-")
        self.data_dir = self.root / "data"
        self.log_path = self.root / "postgres.log"
        copied = subprocess.run(
            ["cp", "-a", str(template.data_dir), str(self.data_dir)],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        if copied.returncode != 0:
            self.remove()
            raise PgUnavailable(f"cannot copy the template cluster: {copied.stderr.strip()}")
        self.port = 0
        self._configured_port = 0

    # -- addresses ----------------------------------------------------------------------

    @property
    def url(self) -> str:
        """``postgresql://postgres@127.0.0.1:PORT/postgres``: the superuser, no password."""
        return self.database_url(SUPERUSER)

    def database_url(self, name: str) -> str:
        return f"postgresql://{SUPERUSER}@127.0.0.1:{self.port}/{name}"

    def create_database(self, name: str) -> str:
        """Create database ``name`` (letters, digits, ``_``) and return its URL."""
        import psycopg

        if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]{0,62}", name):
            raise ValueError(f"database name must be letters, digits and '_', got {name!r}")
        with psycopg.connect(self.url, autocommit=True, connect_timeout=10) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')  # name checked above
        return self.database_url(name)

    # -- life cycle ---------------------------------------------------------------------

    def start(self, timeout: float = PG_CTL_TIMEOUT) -> None:
        """Start the server and wait until it accepts connections. The first start picks a
        free port (trying another if someone took it meanwhile); later starts keep it."""
        if self.running():
            raise PgError(f"the PostgreSQL server on port {self.port} is already running")
        attempts = 3 if not self._configured_port else 1
        for attempt in range(attempts):
            if not self._configured_port:
                self._configure(_free_port())
            offset = self._log_size()
            done = self._pg_ctl("start", "--log", self.log_path, "--wait", "--timeout", str(int(timeout)))
            if done.returncode == 0:
                return
            log = self._log_since(offset)
            if "could not bind" in log and attempt + 1 < attempts:
                self._configured_port = 0  # lost the port to someone else: another one
                continue
            self._stop_quietly()  # pg_ctl gave up waiting: do not leave it starting
            raise PgError(
                f"PostgreSQL ({self.template.bindir}) did not start on port {self.port} "
                f"(pg_ctl exit code {done.returncode}): {(done.stderr or done.stdout).strip()}\n"
                f"--- server log ---\n{log.strip()[-4000:]}"
            )

    def stop(self, mode: str = "fast", timeout: float = PG_CTL_TIMEOUT) -> None:
        """Stop the server and wait until it is gone; nothing if it is not running.
        ``mode``: ``smart`` (after the clients leave), ``fast`` (disconnect them, checkpoint)
        or ``immediate`` (no checkpoint: the next start recovers, as after a crash)."""
        if mode not in ("smart", "fast", "immediate"):
            raise ValueError(f"mode must be smart, fast or immediate, got {mode!r}")
        if not self.running():
            return
        offset = self._log_size()
        done = self._pg_ctl("stop", "--mode", mode, "--wait", "--timeout", str(int(timeout)))
        if done.returncode != 0 and self.running():
            said = (done.stderr or done.stdout).strip()
            raise PgError(
                f"PostgreSQL on port {self.port} did not stop ({mode}): {said}"
                f"\n--- server log ---\n{self._log_since(offset).strip()[-4000:]}"
            )

    def restart(self, mode: str = "fast") -> None:
        """Stop (``mode``) and start again, on the same port."""
        self.stop(mode)
        self.start()

    def kill(self) -> None:
        """Stop at once, as a crash would: immediate shutdown, no checkpoint, every client
        cut off; the next ``start()`` runs crash recovery."""
        self.stop("immediate")

    def running(self) -> bool:
        """Whether a postmaster runs on this data directory (``pg_ctl status``)."""
        return self._pg_ctl("status").returncode == 0

    def log_text(self) -> str:
        return self._log_since(0)

    def close(self) -> None:
        """Stop the server (fast, else immediate, else SIGKILL) and remove its directory."""
        try:
            self._stop_quietly()
        finally:
            self.remove()

    def remove(self) -> None:
        shutil.rmtree(self.root, ignore_errors=True)

    # -- internals ----------------------------------------------------------------------

    def _configure(self, port: int) -> None:
        with open(self.data_dir / "postgresql.conf", "a") as conf:  # the last setting wins
            conf.write(f"port = {port}\nunix_socket_directories = '{self.root}'\n")
        self.port = self._configured_port = port

    def _pg_ctl(self, *args: str | Path) -> subprocess.CompletedProcess[str]:
        return self.template.owner.run(
            self.template.bindir / "pg_ctl", "--pgdata", self.data_dir, "--silent", *args, timeout=120
        )

    def _stop_quietly(self) -> None:
        for mode in ("fast", "immediate"):
            with contextlib.suppress(PgError, subprocess.TimeoutExpired):
                self.stop(mode, timeout=15)
                if not self.running():
                    return
        pid = self._postmaster_pid()
        if pid:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)

    def _postmaster_pid(self) -> int | None:
        try:
            return int((self.data_dir / "postmaster.pid").read_text().split("\n", 1)[0])
        except (OSError, ValueError):
            return None

    def _log_size(self) -> int:
        try:
            return self.log_path.stat().st_size
        except FileNotFoundError:
            return 0

    def _log_since(self, offset: int) -> str:
        try:
            with open(self.log_path, "rb") as log:
                log.seek(offset)
                return log.read().decode("utf-8", "replace")
        except FileNotFoundError:
            return ""


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextlib.contextmanager
def running_instance(template: PgTemplate) -> Iterator[PgInstance]:
    """A started instance, stopped and removed on exit whatever happened."""
    instance = PgInstance(template)
    try:
        instance.start()
        yield instance
    finally:
        instance.close()


@pytest.fixture(scope="session")
def pg_template() -> Iterator[PgTemplate]:
    """The session's initdb'ed template cluster (skips or fails as ``pg_instance`` does)."""
    try:
        import psycopg  # noqa: F401 - create_database and every user of the instance need it
    except ImportError:  # pragma: no cover - the dev extra installs it
        unavailable("psycopg is not installed (pip install 'connectord[postgres]')")
    try:
        template = PgTemplate.create()
    except PgUnavailable as exc:
        unavailable(str(exc))
    try:
        yield template
    finally:
        template.remove()


@pytest.fixture
def pg_instance(pg_template: PgTemplate) -> Iterator[PgInstance]:
    """A running PostgreSQL server of this test's own (see the module docstring); stopped
    and removed after the test, whatever state the test left it in."""
    try:
        instance = PgInstance(pg_template)
    except PgUnavailable as exc:
        unavailable(str(exc))
    try:
        try:
            instance.start()
        except PgError as exc:
            unavailable(f"a PostgreSQL server could not be started: {exc}")
        yield instance
    finally:
        instance.close()
