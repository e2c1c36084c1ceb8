"""A connector's zygote is connector code too: its import can rewrite what the zygote tells
the server. Each package here does, next to a real ``connectord serve`` with default
settings, and the server must act on none of it: a pid that is no child of the zygote, a
cgroup to move anything into, words that may hold a call's secret, spawns nobody asked for.
"""

from __future__ import annotations

import base64
import json
import subprocess
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from .conftest import CONNECTORD
from .server import Served, running_server, server_env

SECRET = "s3cret-only-the-tenant-knows"

#: The zygote's own code, as the connector found it in ``__main__``, is what they rewrite.
PREAMBLE = """
import json
import os
import signal
import socket
import struct
import sys
import threading

import msgspec

import connectord
from connectord.sandbox.protocol import SpawnFailed, Spawned, frame

ZYGOTE = getattr(sys.modules.get("connectord.sandbox.zygote"), "Zygote", None)


def info(cid):
    secret = {"type": "object", "properties": {"token": {"type": "string", "secret": True}}}
    return connectord.ConnectorInfo(id=cid, title=cid, version="1", credentials_schema=secret)
"""

FORGER = '''
_fork = os.fork


def fork():
    """Fork a worker, and tell the server its own pid is the worker's."""
    pid = _fork()
    return pid if pid == 0 else os.getppid()


if ZYGOTE is not None:
    os.fork = fork


@connectord.hookimpl
def describe_connector():
    return info("forger")


@connectord.hookimpl
def verify_credentials(credentials):
    return connectord.verified()
'''

MOVER = '''
HANDED = []

if ZYGOTE is not None:
    _spawn = ZYGOTE._spawn

    def spawn(self, request, fd, cgroups):
        """Move the server into whatever cgroup the server hands over for the worker."""
        HANDED.append(len(cgroups))  # the worker forked below inherits this
        for procs in cgroups:
            try:
                os.pwrite(procs, str(os.getppid()).encode(), 0)
            except OSError:
                pass
        return _spawn(self, request, fd, cgroups)

    ZYGOTE._spawn = spawn


@connectord.hookimpl
def describe_connector():
    return info("mover")


@connectord.hookimpl
def verify_credentials(credentials):
    return connectord.verified(json.dumps(HANDED))
'''

LEAKER = '''
HEARD = []


def read_frame(sock):
    length = struct.unpack(">I", sock.recv(4, socket.MSG_WAITALL))[0]
    return sock.recv(length, socket.MSG_WAITALL)


def listen(sock, child):
    """Read the request the server sends the worker (the zygote kept a copy of its socket)
    and the word that the worker was placed, then end the child that stood in for it: the
    call is over. (Ended before the server took it, it is no child to name, and the server
    starts another zygote, which has heard nothing.)"""
    HEARD.append(msgspec.msgpack.decode(read_frame(sock))["call"]["credentials"]["token"])
    read_frame(sock)
    os.kill(child, signal.SIGKILL)


if ZYGOTE is not None:

    def spawn(self, request, fd, cgroups):
        if not HEARD:  # a child that does nothing, named as the worker: its request is ours
            child = os.fork()
            if child == 0:
                signal.pause()
            threading.Thread(target=listen, args=(socket.socket(fileno=os.dup(fd)), child)).start()
            self._send(Spawned(request.token, child))
        elif request.token % 2 == 0:  # the server logs why a spawn failed ...
            self._send(SpawnFailed(request.token, f"fork failed: {HEARD[0]}"))
        else:  # ... and why a frame did not decode (msgspec names an unknown tag)
            body = msgspec.msgpack.encode({"type": HEARD[0]})
            self.control.sendall(struct.pack(">I", len(body)) + body)
        os.close(fd)

    ZYGOTE._spawn = spawn


@connectord.hookimpl
def describe_connector():
    return info("leaker")


@connectord.hookimpl
def verify_credentials(credentials):
    return connectord.verified()
'''

CHATTER = '''
if ZYGOTE is not None:
    _spawn = ZYGOTE._spawn

    def spawn(self, request, fd, cgroups):
        """Word of a worker nobody asked for (each one made the server keep a record)."""
        _spawn(self, request, fd, cgroups)
        self._send(Spawned(request.token + 10**6, os.getpid()))

    ZYGOTE._spawn = spawn


@connectord.hookimpl
def describe_connector():
    return info("chatter")


@connectord.hookimpl
def verify_credentials(credentials):
    return connectord.verified()
'''

CALM = """
@connectord.hookimpl
def describe_connector():
    return info("calm")


@connectord.hookimpl
def verify_credentials(credentials):
    return connectord.verified("calm")
"""

PACKAGES = {"forger": FORGER, "mover": MOVER, "leaker": LEAKER, "chatter": CHATTER, "calm": CALM}


class Server:
    def __init__(self, served: Served, keys: dict[str, str]) -> None:
        self.served, self.keys = served, keys

    @property
    def pid(self) -> int:
        return self.served.process.pid

    def verify(self, component: str, tenant: str = "acme", until_ready: bool = False) -> dict[str, Any]:
        """Schedule a verify_credentials call with the tenant's secret and return its result
        (``until_ready``: however many long polls that takes)."""
        body = {
            "execution_type": "verify_credentials",
            "component": component,
            "account_data": {"token": SECRET},
        }
        scheduled = self._request("/v1/exec/schedule", tenant, json.dumps(body).encode())
        assert "id" in scheduled, scheduled
        while True:
            answer = self._request(f"/v1/exec/poll/{scheduled['id']}?wait=30", tenant)
            if not until_ready or answer.get("message") != "Result not ready yet.":
                return answer

    def health(self) -> int:
        with urllib.request.urlopen(self.served.url + "/health", timeout=30) as response:
            return int(response.status)

    def log_until(self, needle: str) -> str:
        """The server's log from where the last read ended up to the line holding ``needle``."""
        lines = []
        while True:
            line = self.served.log.get(timeout=30)
            if line is None:
                raise AssertionError(f"the server ended without logging {needle!r}")
            lines.append(line)
            if needle in line:
                return "".join(lines)

    def _request(self, path: str, tenant: str, data: bytes | None = None) -> dict[str, Any]:
        token = base64.b64encode(f"{tenant}@zygotes.test:{self.keys[tenant]}".encode()).decode()
        headers = {"Authorization": f"Basic {token}", "Content-Type": "application/json"}
        request = urllib.request.Request(self.served.url + path, data=data, headers=headers)
        try:
            with urllib.request.urlopen(request, timeout=60) as response:
                return dict(json.load(response))
        except urllib.error.HTTPError as exc:
            with exc:
                return dict(json.load(exc))


@pytest.fixture(scope="module")
def served(
    install_connector: Callable[[str, str], Path], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Server]:
    sites = [install_connector(name, PREAMBLE + source) for name, source in PACKAGES.items()]
    env = server_env(tmp_path_factory.mktemp("zygotes-server") / "data", *sites)
    other = subprocess.run(
        [CONNECTORD, "users", "add", "globex@zygotes.test", "--tenant", "globex"],
        env=env, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert other.returncode == 0, other.stderr
    with running_server(env, "acme@zygotes.test", "acme") as server:
        yield Server(server, {"acme": server.api_key, "globex": other.stdout.strip()})


def _cgroups(pid: int) -> str:
    return Path(f"/proc/{pid}/cgroup").read_text()


def test_a_zygote_that_names_the_server_as_its_worker_has_it_killed_by_no_one(served: Server) -> None:
    result = served.verify("forger")
    assert result["reason"]["kind"] == "crashed", result
    assert served.served.process.poll() is None
    assert served.health() == 200
    served.log_until("not its child")
    assert served.verify("calm", tenant="globex")["data"]["verified"] is True


def test_a_zygote_gets_no_cgroup_to_move_the_server_into(served: Server) -> None:
    before = _cgroups(served.pid)
    result = served.verify("mover")
    assert json.loads(result["data"]["message"]) == [0]  # no cgroup.procs reached the zygote
    assert served.served.process.poll() is None
    assert _cgroups(served.pid) == before
    assert served.verify("calm", tenant="globex")["data"]["verified"] is True


def test_what_a_zygote_says_puts_no_secret_in_the_servers_log(served: Server) -> None:
    # Each stand-in ends once placed: a crash at once, never an answer at the deadline (one
    # that ends before is covered in tests/integration/sandbox/test_hostile_zygotes.py).
    outcomes = [served.verify("leaker", until_ready=True)["reason"]["kind"] for _ in range(3)]
    assert outcomes == ["crashed"] * 3
    log = served.log_until("the zygote refused to fork a worker")
    log += served.log_until("the zygote broke the protocol")
    assert SECRET not in log
    assert served.served.process.poll() is None


def test_a_zygote_that_answers_spawns_nobody_asked_for_is_replaced(served: Server) -> None:
    served.verify("chatter")
    served.log_until("it answered a spawn nobody asked for")
    assert served.health() == 200
    assert served.verify("calm", tenant="globex")["data"]["verified"] is True
