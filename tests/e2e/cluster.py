"""Real ``connectord serve`` processes for the cluster tests: one ``Node`` per process, and a
``cluster`` fixture that starts several on one store and always stops them.

Every node of a cluster shares the store URL and the Fernet key (``CONNECTORD_SECRET_KEY``)
and has a data directory of its own; it listens on a free port of 127.0.0.1 (``--port 0``)
and finds the ``echo`` test connector (``tests/integration/exec/echo_connector.py``) on its
``PYTHONPATH``. Without a store URL each node keeps the embedded SQLite store in its own
data directory, so nodes share nothing: a "cluster" of one, as today.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from email.message import Message
from pathlib import Path
from typing import IO, Any

import pytest
from cryptography.fernet import Fernet

from .sandboxing import sandbox_config

# As in conftest.py (which imports this module for its fixtures, so this one cannot import it).
CONNECTORD = shutil.which("connectord", path=str(Path(sys.executable).parent)) or "connectord"
ECHO = Path(__file__).resolve().parents[1] / "integration" / "exec" / "echo_connector.py"
LISTENING = re.compile(r"connectord listening on (?P<url>http://\S+)(?: \(store: (?P<store>.*)\))?")
#: Seconds a node may take to print its listening line.
START_TIMEOUT = 30.0
#: Seconds a node may take to exit after SIGTERM (it finishes what runs first).
STOP_TIMEOUT = 30.0

#: Per-node environment: a value replaces the cluster's, ``None`` removes the variable.
EnvOverrides = Mapping[str, str | None]


class Node:
    """One ``connectord serve --port 0`` process. The constructor spawns it; ``wait_ready``
    (called by ``start``) waits for "connectord listening on URL" and sets ``url``."""

    def __init__(self, env: Mapping[str, str], *, name: str, log_dir: Path, args: Sequence[str] = ()) -> None:
        self.name = name
        self.env = dict(env)
        self.args = tuple(args)
        self.url = ""
        #: The store as the node names it in its listening line.
        self.store_url = ""
        self.stderr_path = _unused(log_dir / f"{name}.stderr")
        self._stdout_lines: list[str] = []
        self._ready = threading.Event()
        self._terminated = False
        self._stderr: IO[bytes] = open(self.stderr_path, "wb")  # noqa: SIM115 - closed in _reap
        try:
            self.process = subprocess.Popen(
                [CONNECTORD, "serve", "--port", "0", *self.args],
                env=self.env,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=self._stderr,
                text=True,
            )
        except BaseException:
            self._stderr.close()
            raise
        self._reader = threading.Thread(target=self._read_stdout, name=f"{name}-stdout", daemon=True)
        self._reader.start()

    @classmethod
    def start(
        cls,
        env: Mapping[str, str],
        *,
        name: str,
        log_dir: Path,
        args: Sequence[str] = (),
        timeout: float = START_TIMEOUT,
    ) -> Node:
        """Spawn a node and wait until it listens (``AssertionError`` with its stderr if not)."""
        node = cls(env, name=name, log_dir=log_dir, args=args)
        node.wait_ready(timeout)
        return node

    @property
    def pid(self) -> int:
        return self.process.pid

    @property
    def data_dir(self) -> Path:
        return Path(self.env["CONNECTORD_DATA_DIR"])

    def alive(self) -> bool:
        return self.process.poll() is None

    def wait_ready(self, timeout: float = START_TIMEOUT) -> None:
        """Wait for the listening line; on a timeout or an exit before it, kill the node and
        fail with its exit code, stderr and stdout."""
        ended = self._ready.wait(timeout)
        if self.url:
            return
        code = self.process.poll()
        if ended and code is None:  # its stdout closed: it is exiting, or closed stdout and hangs
            with contextlib.suppress(subprocess.TimeoutExpired):
                code = self.process.wait(timeout=STOP_TIMEOUT)
        if code is None:
            self.kill9()
            when = "before closing its stdout" if ended else f"within {timeout:g} s"
            why = f"did not print its listening line {when} (killed)"
        else:
            self._reap()
            why = f"exited with code {code} before listening"
        raise AssertionError(f"connectord node {self.name} {why}\n{self.output()}")

    def kill9(self) -> int:
        """SIGKILL, as a crash of the machine would; returns the exit status (-9)."""
        if self.alive():
            self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=STOP_TIMEOUT)
        self._reap()
        return self.process.returncode

    def terminate(self, timeout: float = STOP_TIMEOUT) -> int:
        """SIGTERM and wait for the exit; returns the exit status (0 after a clean stop).
        A node still running after ``timeout`` is killed and the call fails."""
        self.send_sigterm()
        try:
            self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill9()
            raise AssertionError(
                f"connectord node {self.name} did not stop within {timeout:g} s of SIGTERM (killed)\n"
                f"{self.output()}"
            ) from None
        self._reap()
        return self.process.returncode

    def send_sigterm(self) -> None:
        """Ask the node to stop (once), without waiting; ``terminate()`` waits."""
        if self.alive() and not self._terminated:
            self._terminated = True
            self.process.send_signal(signal.SIGTERM)

    def stderr_text(self) -> str:
        """Everything the node wrote to standard error so far (its log)."""
        return self.stderr_path.read_bytes().decode("utf-8", "replace")

    def stdout_text(self) -> str:
        return "".join(self._stdout_lines)

    def output(self) -> str:
        return f"--- stderr ---\n{self.stderr_text().rstrip()}\n--- stdout ---\n{self.stdout_text().rstrip()}"

    def __repr__(self) -> str:
        return f"<Node {self.name} pid={self.pid} url={self.url or '-'} alive={self.alive()}>"

    def _read_stdout(self) -> None:
        stream = self.process.stdout
        assert stream is not None
        for line in stream:
            self._stdout_lines.append(line)
            match = LISTENING.search(line) if not self.url else None
            if match:
                self.url = match["url"]
                self.store_url = match["store"] or ""
                self._ready.set()
        self._ready.set()  # end of output: the process is gone

    def _reap(self) -> None:
        """After the exit: collect the rest of stdout and close both streams."""
        self._reader.join(timeout=STOP_TIMEOUT)
        if not self._reader.is_alive() and self.process.stdout and not self.process.stdout.closed:
            self.process.stdout.close()
        if not self._stderr.closed:
            self._stderr.close()


def _unused(path: Path) -> Path:
    """``path``, or ``name.2.stderr``, ``name.3.stderr``… if a restarted node used it."""
    candidate, n = path, 1
    while candidate.exists():
        n += 1
        candidate = path.with_name(f"{path.stem}.{n}{path.suffix}")
    return candidate


def add_user(
    env: Mapping[str, str],
    email: str,
    *,
    tenant: str = "acme",
    store_url: str | None = None,
    data_dir: Path | None = None,
    timeout: float = 60,
) -> str:
    """``connectord users add EMAIL --tenant TENANT`` on the store ``store_url`` (else the
    SQLite store of ``data_dir``, else of the environment); returns the new API key."""
    args = [CONNECTORD, "users", "add", email, "--tenant", tenant]
    if store_url is not None:
        args += ["--store", store_url]
    if data_dir is not None:
        args += ["--data-dir", str(data_dir)]
    done = subprocess.run(args, env=dict(env), capture_output=True, text=True, timeout=timeout, check=False)
    assert done.returncode == 0, f"{' '.join(args[1:])} failed ({done.returncode}): {done.stderr.strip()}"
    key = done.stdout.strip()
    assert key and "\n" not in key, f"users add printed no single API key: {done.stdout!r}"
    return key


@dataclass
class Reply:
    status: int
    #: The JSON body, or its text when it is not JSON (``None`` when empty).
    body: Any
    headers: Message

    @property
    def location(self) -> str:
        return str(self.headers["Location"] or "")


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


def request(
    url: str,
    method: str,
    path: str,
    *,
    auth: tuple[str, str] | None = None,
    body: Any = None,
    timeout: float = 40,
) -> Reply:
    """One HTTP request to ``url + path`` with Basic ``auth`` (email, API key) and a JSON
    ``body``; redirects are not followed (a poll's 303 is the answer)."""
    headers = {"Accept": "application/json"}
    if auth is not None:
        headers["Authorization"] = "Basic " + base64.b64encode(f"{auth[0]}:{auth[1]}".encode()).decode()
    data = None
    if body is not None:
        data = json.dumps(body).encode()
        headers["Content-Type"] = "application/json"
    req = urllib.request.Request(url + path, data=data, method=method, headers=headers)
    opener = urllib.request.build_opener(_NoRedirect)
    try:
        with opener.open(req, timeout=timeout) as response:
            return Reply(response.status, _decode(response.read()), response.headers)
    except urllib.error.HTTPError as error:
        with error:
            return Reply(error.code, _decode(error.read()), error.headers)


def _decode(raw: bytes) -> Any:
    if not raw:
        return None
    text = raw.decode("utf-8", "replace")
    try:
        return json.loads(text)
    except ValueError:
        return text


class Cluster:
    """Nodes on one store. ``nodes`` lists every node started, in order, restarted ones too."""

    def __init__(self, root: Path, env: Mapping[str, str], store_url: str | None) -> None:
        self.root = root
        #: The environment every node starts from (per-node overrides go on top).
        self.env = dict(env)
        self.store_url = store_url
        #: The Fernet key every node shares (unless a test removed it).
        self.secret_key = self.env.get("CONNECTORD_SECRET_KEY", "")
        self.nodes: list[Node] = []
        self._count = 0

    def spawn(
        self, env: EnvOverrides | None = None, *, name: str | None = None, args: Sequence[str] = ()
    ) -> Node:
        """Spawn one more node (a data directory of its own) without waiting for it."""
        name = name or f"node{self._count}"
        self._count += 1
        node_env = {**self.env, "CONNECTORD_DATA_DIR": str(self.root / name / "data")}
        return self._spawn(node_env, env, name, args)

    def start_node(
        self,
        env: EnvOverrides | None = None,
        *,
        name: str | None = None,
        args: Sequence[str] = (),
        timeout: float = START_TIMEOUT,
    ) -> Node:
        """Start one more node and wait until it listens."""
        node = self.spawn(env, name=name, args=args)
        node.wait_ready(timeout)
        return node

    def restart(self, node: Node, env: EnvOverrides | None = None, *, timeout: float = START_TIMEOUT) -> Node:
        """Start a stopped (killed, terminated) node again: same name, environment, data
        directory and arguments, plus ``env``; a new port. Returns the new node."""
        assert not node.alive(), f"{node.name} is still running: kill9() or terminate() it first"
        new = self._spawn(node.env, env, node.name, node.args)
        new.wait_ready(timeout)
        return new

    def add_user(self, email: str = "ops@acme.test", tenant: str = "acme") -> str:
        """Add a user to the cluster's store (without a store URL: to the first node's
        SQLite store) and return their API key."""
        if self.store_url is not None:
            return add_user(self.env, email, tenant=tenant, store_url=self.store_url)
        first = self.nodes[0].data_dir if self.nodes else self.root / "node0" / "data"
        return add_user(self.env, email, tenant=tenant, data_dir=first)

    def running(self) -> list[Node]:
        return [node for node in self.nodes if node.alive()]

    def stop_all(self) -> None:
        """SIGTERM every node still running (SIGKILL after the timeout); errors after all
        are stopped, naming the nodes that would not stop."""
        for node in self.nodes:  # all at once, then wait for each
            node.send_sigterm()
        failures = []
        for node in self.nodes:
            try:
                node.terminate()
            except AssertionError as exc:
                failures.append(str(exc))
        assert not failures, "\n\n".join(failures)

    def _spawn(
        self, base: Mapping[str, str], env: EnvOverrides | None, name: str, args: Sequence[str]
    ) -> Node:
        node_env = dict(base)
        for key, value in (env or {}).items():
            if value is None:
                node_env.pop(key, None)
            else:
                node_env[key] = value
        log_dir = self.root / name
        log_dir.mkdir(parents=True, exist_ok=True)
        node = Node(node_env, name=name, log_dir=log_dir, args=args)
        self.nodes.append(node)
        return node


@pytest.fixture(scope="session")
def echo_site(install_connector: Callable[[str, str], Path]) -> Path:
    """The ``echo`` test connector, installed once per session into a directory of its own."""
    return install_connector("echo", ECHO.read_text())


@pytest.fixture
def cluster(tmp_path: Path, echo_site: Path) -> Iterator[Callable[..., Cluster]]:
    """A factory: ``cluster(n, store_url=..., env=..., node_env=[...])`` starts ``n`` nodes
    on ``store_url`` and returns the ``Cluster``; every node of every cluster it made is
    stopped after the test."""
    made: list[Cluster] = []

    def start(
        nodes: int = 1,
        *,
        store_url: str | None = None,
        env: EnvOverrides | None = None,
        node_env: Sequence[EnvOverrides | None] | None = None,
        sites: Sequence[Path] = (),
        concurrently: bool = False,
        timeout: float = START_TIMEOUT,
    ) -> Cluster:
        if node_env is not None and len(node_env) != nodes:
            raise ValueError(f"node_env has {len(node_env)} entries for {nodes} nodes")
        base = {k: v for k, v in os.environ.items() if not k.startswith("CONNECTORD_")}
        base |= sandbox_config()
        base["PYTHONPATH"] = os.pathsep.join(
            [str(echo_site), *map(str, sites), *filter(None, [base.get("PYTHONPATH")])]
        )
        base["CONNECTORD_SECRET_KEY"] = Fernet.generate_key().decode()
        if store_url is not None:
            base["CONNECTORD_STORE_URL"] = store_url
        for key, value in (env or {}).items():
            if value is None:
                base.pop(key, None)
            else:
                base[key] = value
        made.append(group := Cluster(tmp_path / f"cluster{len(made)}", base, store_url))
        overrides = list(node_env or [None] * nodes)
        if concurrently:  # spawn all, then wait for each: they start (and migrate) at once
            for node in [group.spawn(extra) for extra in overrides]:
                node.wait_ready(timeout)
        else:
            for extra in overrides:
                group.start_node(extra, timeout=timeout)
        return group

    try:
        yield start
    finally:
        failures = []
        for group in made:
            try:
                group.stop_all()
            except AssertionError as exc:
                failures.append(str(exc))
        assert not failures, "\n\n".join(failures)
