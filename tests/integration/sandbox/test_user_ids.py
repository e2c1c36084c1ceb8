"""Each connector's processes run as a user of their own, where the server is root: real
zygotes and workers of two connectors (``prober`` and ``neighbour``), and what one can do
to the other and to the server (this process)."""

from __future__ import annotations

import ctypes
import json
import os
import signal
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import msgspec
import pytest

from connectord.plugins.manager import Selection
from connectord.runtime.calls import run_in_sandbox
from connectord.sandbox.calls import Call
from connectord.sandbox.cgroups import Cgroups
from connectord.sandbox.outcomes import Succeeded
from connectord.sandbox.policy import SandboxPolicy
from connectord.sandbox.supervisor import Supervisor
from connectord.sandbox.user_ids import DEFAULT, own_slot
from connectord.sandbox.zygote_client import SandboxUnavailableError

from .conftest import DEFAULT as DEFAULT_POLICY

pytestmark = [
    pytest.mark.asyncio(loop_scope="module"),
    pytest.mark.skipif(os.geteuid() != 0, reason="only root gives connectors users of their own"),
]

BOTH = frozenset({"prober", "neighbour"})


@asynccontextmanager
async def running(
    hostile_on_path: None, user_ids: bool | str = "auto", **limits: Any
) -> AsyncIterator[Supervisor]:
    """A supervisor running both connectors, the default limits changed by ``limits``."""
    policy = msgspec.structs.replace(
        DEFAULT_POLICY, limits=msgspec.structs.replace(DEFAULT_POLICY.limits, **limits)
    )
    sandbox = SandboxPolicy(default=policy, user_ids=user_ids)
    supervisor = Supervisor(Selection(allow=BOTH), sandbox, Cgroups.detect())
    await supervisor.start()
    try:
        yield supervisor
    finally:
        await supervisor.close()


async def probe(supervisor: Supervisor, connector: str, what: str, path: object = "") -> tuple[int, str]:
    """The pid of the (pooled: it stays) worker of ``connector`` that tried ``what``, and
    what it got ("done" or the error)."""
    credentials = {"probe": what, "path": str(path)}
    call = Call(connector=connector, method="verify_credentials", credentials=credentials)
    result = await run_in_sandbox(supervisor, call, isolation="pooled")
    assert isinstance(result.outcome, Succeeded), result.outcome
    pid, answer = str(result.outcome.data["message"]).removeprefix("pid ").split(": ", 1)
    return int(pid), answer


async def said(supervisor: Supervisor, connector: str, what: str, path: object = "") -> str:
    """What the worker of ``connector`` got trying ``what``."""
    return (await probe(supervisor, connector, what, path))[1]


def ids_of(pid: int) -> dict[str, list[int]]:
    """The Uid, Gid (real, effective, saved, file system) and Groups lines of /proc/PID/status."""
    lines = Path(f"/proc/{pid}/status").read_text().splitlines()
    wanted = [line.split() for line in lines if line.startswith(("Uid:", "Gid:", "Groups:"))]
    return {fields[0].rstrip(":"): [int(n) for n in fields[1:]] for fields in wanted}


async def test_each_connectors_processes_run_as_a_user_of_their_own(hostile_on_path: None) -> None:
    async with running(hostile_on_path) as supervisor:
        assert supervisor.user_ids is not None and supervisor.user_ids.ids == DEFAULT
        seen = {}
        for connector in sorted(BOTH):
            worker, _ = await probe(supervisor, connector, "dumpable")
            uid = supervisor.user_ids.of(connector)
            assert uid == own_slot(connector, DEFAULT) and uid in DEFAULT
            zygote = supervisor.zygote_for(connector).pid
            assert zygote is not None
            for pid in (zygote, worker):  # real, effective, saved and file system ids; no group but its own
                assert ids_of(pid) == {"Uid": [uid] * 4, "Gid": [uid] * 4, "Groups": []}, (connector, pid)
            seen[connector] = uid
        assert len(set(seen.values())) == 2


async def test_a_worker_reaches_no_process_of_another_connector_nor_the_server(hostile_on_path: None) -> None:
    """Refused by Landlock's scopes as well, where the kernel has them (ABI 6): the test
    below shows the user ids refuse the same without them."""
    async with running(hostile_on_path) as supervisor:
        neighbour, _ = await probe(supervisor, "neighbour", "dumpable")
        neighbours_zygote = supervisor.zygote_for("neighbour").pid
        server = os.getpid()
        for target in (neighbour, neighbours_zygote, server):
            assert await said(supervisor, "prober", "signal_pid", target) == "PermissionError", target
        for what in ("environ", "mem"):
            for target in (neighbour, server):  # not even listed (hidepid)
                answer = await said(supervisor, "prober", "read", f"/proc/{target}/{what}")
                assert answer == "FileNotFoundError"


async def test_a_connector_sees_no_process_of_another_user(hostile_on_path: None) -> None:
    """Its own procfs lists only what its user may trace (hidepid), also where Landlock
    does not keep it to its own entry (off here; import code reads /proc): the server's
    and every other host process's command line are not there to read."""
    async with running(hostile_on_path, landlock=False) as supervisor:
        assert supervisor.user_ids is not None
        neighbour, _ = await probe(supervisor, "neighbour", "dumpable")
        own, listed = await probe(supervisor, "prober", "processes")
        visible = {int(pid) for pid in listed.split()}
        prober = supervisor.user_ids.of("prober")
        assert own in visible and neighbour not in visible and os.getpid() not in visible
        still_there = [pid for pid in visible if Path(f"/proc/{pid}").exists()]
        assert all(os.stat(f"/proc/{pid}").st_uid == prober for pid in still_there)
        for target in (os.getpid(), 1, neighbour):
            assert await said(supervisor, "prober", "read", f"/proc/{target}/cmdline") == "FileNotFoundError"


async def test_the_user_ids_alone_keep_connectors_apart(hostile_on_path: None) -> None:
    """A process of the prober's user with none of the sandbox's other confinements (no
    Landlock domain, no seccomp filter: as on a kernel without them) may signal the
    prober's own worker, but may not signal, trace or read another connector's processes
    or the server's."""
    async with running(hostile_on_path) as supervisor:
        assert supervisor.user_ids is not None
        own, _ = await probe(supervisor, "prober", "dumpable")
        neighbour, _ = await probe(supervisor, "neighbour", "dumpable")
        as_prober = _as_user(supervisor.user_ids.of("prober"))
        assert as_prober(lambda: os.kill(own, 0)) == "done"
        for target in (neighbour, supervisor.zygote_for("neighbour").pid, os.getpid()):
            assert target is not None
            assert as_prober(lambda t=target: os.kill(t, signal.SIGSTOP)) == "PermissionError"
            assert as_prober(lambda t=target: _attach(t)) == "PermissionError"
            assert as_prober(lambda t=target: Path(f"/proc/{t}/environ").read_bytes()) == "PermissionError"


async def test_a_0600_file_of_the_server_made_visible_stays_unreadable(
    hostile_on_path: None, tmp_path: Path
) -> None:
    secret = tmp_path / "server-only"
    secret.write_text("for root alone")
    secret.chmod(0o600)
    async with running(hostile_on_path, readable_paths=[str(secret)]) as supervisor:
        assert await said(supervisor, "prober", "read", secret) == "PermissionError"
    # what refuses it is the user: connectors running as root (without capabilities) read it
    async with running(hostile_on_path, user_ids=False, readable_paths=[str(secret)]) as supervisor:
        assert await said(supervisor, "prober", "read", secret) == "done"


async def test_a_file_one_connector_keeps_to_itself_in_a_shared_path_is_not_anothers(
    hostile_on_path: None, tmp_path: Path
) -> None:
    shared = tmp_path / "shared"
    shared.mkdir(mode=0o1777)
    shared.chmod(0o1777)  # as /tmp: every connector's user writes there, and removes only its own
    private = shared / "prober-only"
    async with running(hostile_on_path, writable_paths=[str(shared)]) as supervisor:
        assert await said(supervisor, "prober", "write_private", private) == "done"
        assert private.stat().st_uid == supervisor.user_ids.of("prober")  # type: ignore[union-attr]
        assert await said(supervisor, "neighbour", "read", private) == "PermissionError"
        assert await said(supervisor, "neighbour", "write", private) == "PermissionError"
        assert await said(supervisor, "prober", "read", private) == "done"


async def test_a_writable_path_the_connectors_user_cannot_write_stops_the_start(
    hostile_on_path: None, tmp_path: Path
) -> None:
    kept = tmp_path / "roots-own"
    kept.mkdir(mode=0o755)
    with pytest.raises(SandboxUnavailableError) as refused:
        async with running(hostile_on_path, writable_paths=[str(kept)]):
            pass
    assert f"writable path {kept} is not writable by the connector's user id" in str(refused.value)
    # given to one connector's user (as the message says), the other one's still stops it
    neighbours, probers = own_slot("neighbour", DEFAULT), own_slot("prober", DEFAULT)
    os.chown(kept, neighbours, neighbours)
    refusal = f"connector 'prober': writable path {kept} is not writable by the connector's user id {probers}"
    with pytest.raises(SandboxUnavailableError, match=refusal):
        async with running(hostile_on_path, writable_paths=[str(kept)]):
            pass
    kept.chmod(0o777)  # writable by every connector's user
    async with running(hostile_on_path, writable_paths=[str(kept)]) as supervisor:
        assert await said(supervisor, "neighbour", "write", kept / "file") == "done"


_libc = ctypes.CDLL(None, use_errno=True)  # loaded here: a forked child only calls it


def _attach(pid: int) -> None:
    if _libc.ptrace(16, pid, None, None) != 0:  # PTRACE_ATTACH
        raise OSError(ctypes.get_errno(), os.strerror(ctypes.get_errno()))
    _libc.ptrace(17, pid, None, None)  # PTRACE_DETACH (were it ever attached)


def _as_user(uid: int) -> Callable[[Callable[[], object]], str]:
    """Run an action in a child of this process that became ``uid`` (and its group, with no
    other): "done", the error's type, or an OSError's message."""

    def run(action: Callable[[], object]) -> str:
        read, write = os.pipe()
        pid = os.fork()
        if pid == 0:
            try:
                os.setgroups([])
                os.setresgid(uid, uid, uid)
                os.setresuid(uid, uid, uid)
                action()
                answer = "done"
            except PermissionError:
                answer = "PermissionError"
            except OSError as exc:
                answer = exc.strerror or type(exc).__name__
            except BaseException as exc:
                answer = type(exc).__name__
            os.write(write, json.dumps(answer).encode())
            os._exit(0)
        os.close(write)
        try:
            return str(json.loads(os.read(read, 4096)))
        finally:
            os.close(read)
            os.waitpid(pid, 0)

    return run
