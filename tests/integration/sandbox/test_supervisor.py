"""The supervisor's own promises: pooling per tenant, recycling, cancellation, a clean
environment, no leaks, and workers that die with it."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import pytest

from connectord.plugins.manager import Selection
from connectord.runtime.calls import run_in_sandbox
from connectord.sandbox import forked
from connectord.sandbox.calls import Call
from connectord.sandbox.cgroups import Cgroups
from connectord.sandbox.outcomes import Cancelled, Rejected, Succeeded
from connectord.sandbox.policy import ConnectorPolicy, SandboxPolicy
from connectord.sandbox.protocol import Limits
from connectord.sandbox.redact import Redactor
from connectord.sandbox.supervisor import InvocationResult, Supervisor

from .conftest import GROWER_MAX_RSS, POLICY

pytestmark = pytest.mark.asyncio(loop_scope="module")


async def nice(supervisor: Supervisor, tenant: str = "default", isolation: str = "pooled") -> int:
    result = await run_in_sandbox(
        supervisor,
        Call(connector="nice", method="verify_credentials"),
        tenant=tenant,
        isolation=isolation,  # type: ignore[arg-type]
    )
    assert isinstance(result.outcome, Succeeded), result.outcome
    return int(str(result.outcome.data["message"]).split()[1])


async def test_pooled_workers_are_reused_within_a_tenant_only(supervisor: Supervisor) -> None:
    first = await nice(supervisor, "acme")
    assert await nice(supervisor, "acme") == first
    assert await nice(supervisor, "globex") != first


async def test_per_call_isolation_forks_a_new_worker_each_time(supervisor: Supervisor) -> None:
    pids = {await nice(supervisor, isolation="per-call") for _ in range(3)}
    assert len(pids) == 3


async def test_pooled_workers_are_recycled_after_their_call_budget(supervisor: Supervisor) -> None:
    pids = [await nice(supervisor, "initech") for _ in range(POLICY.default.max_calls_per_worker + 1)]
    assert len(set(pids[:-1])) == 1 and pids[-1] != pids[0]


async def test_pooled_workers_are_recycled_once_they_grew_past_the_rss_limit(supervisor: Supervisor) -> None:
    async def grow(megabytes: int) -> str:
        call = Call(connector="grower", method="verify_credentials", credentials={"size": megabytes})
        result = await run_in_sandbox(supervisor, call, tenant="rss", isolation="pooled")
        assert isinstance(result.outcome, Succeeded), result.outcome
        return str(result.outcome.data["message"])

    small = [await grow(0) for _ in range(2)]
    assert small[0] == small[1]  # well under the limit: reused
    assert await grow(GROWER_MAX_RSS // (1024 * 1024) + 16) == small[0]  # this call grew it past
    assert await grow(0) != small[0]  # so the next call gets a new worker


async def test_cancel_kills_the_worker_and_reports_cancelled(supervisor: Supervisor) -> None:
    call = Call(connector="sleeper", method="verify_credentials")
    running = asyncio.ensure_future(run_in_sandbox(supervisor, call, invocation_id="to-cancel"))
    while "to-cancel" not in supervisor._running or not supervisor._running["to-cancel"].pid:
        await asyncio.sleep(0.01)
    assert supervisor.cancel("to-cancel")
    result = await running
    assert result.outcome == Cancelled()
    assert not supervisor.cancel("to-cancel")


async def settled_moves() -> None:
    """What the mover thread was asked before now is done: it closes the ``cgroup.procs``
    it kept open of leaves that went (any test's, in this process) in its own time."""
    await asyncio.wrap_future(forked.mover.submit(lambda: None))


async def test_no_zombies_descriptors_or_cgroups_leak(supervisor: Supervisor) -> None:
    async def calls(count: int) -> None:
        for i in range(count):
            await nice(supervisor, tenant=f"t{i % 3}", isolation="per-call" if i % 2 else "pooled")

    await calls(12)  # each cgroup leaf these use stays open for reuse, for good
    await settled_moves()
    fds_before = len(os.listdir("/proc/self/fd"))
    await calls(150)

    def idle() -> int:
        """Idle pooled workers and spares, and the zygotes' own leaves."""
        workers = sum(len(workers) for workers in supervisor._idle.values())
        return workers + sum(1 for zygote in supervisor.zygotes if zygote.leaf is not None)

    for _ in range(100):  # reaps, cgroup recycling and spare forks arrive asynchronously
        if not supervisor.pending_spawns and supervisor.cgroups.in_use <= idle():
            break
        await asyncio.sleep(0.05)
    # every cgroup leaf is free again but those of the idle workers and the zygotes
    assert supervisor.cgroups.in_use <= idle()
    await settled_moves()
    assert len(os.listdir("/proc/self/fd")) <= fds_before
    zygotes = {str(pid) for pid in _zygote_pids(supervisor)}
    assert zygotes, "the calls above ran in no zygote"
    procs = [p for p in Path("/proc").iterdir() if p.name.isdigit()]
    assert [p for p in procs if _stat(p)[:1] == "Z" and _stat(p).split()[1] in zygotes] == []


async def _settled(supervisor: Supervisor) -> None:
    """Until no fork is under way (a spare forked after an earlier test's call, say)."""
    for _ in range(300):
        if not supervisor.pending_spawns:
            return
        await asyncio.sleep(0.05)
    raise AssertionError("forks still under way")


def _stat(proc: Path) -> str:
    try:
        return (proc / "stat").read_text().rsplit(")", 1)[1].strip()
    except OSError:
        return ""


async def test_the_server_environment_does_not_reach_workers(
    hostile_on_path: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CONNECTORD_SECRET_KEY", "server-only-secret-123")
    own = Supervisor(Selection(allow=frozenset({"leaker"})), POLICY, Cgroups(None, None))
    await own.start()
    try:
        result: InvocationResult = await run_in_sandbox(
            own, Call(connector="leaker", method="verify_credentials", credentials={"token": "tok-abcdef"})
        )
    finally:
        await own.close()
    environment = next(line.message for line in result.logs if line.message.startswith("environment:"))
    assert "CONNECTORD_SECRET_KEY" not in environment and "server-only-secret-123" not in environment
    assert "PATH" in environment


async def test_a_connector_without_network_cannot_connect(
    supervisor: Supervisor, hostile_on_path: None
) -> None:
    listener = await asyncio.start_server(lambda r, w: w.close(), "127.0.0.1", 0)
    port = listener.sockets[0].getsockname()[1]
    call = Call(connector="dialer", method="verify_credentials", credentials={"size": port})
    cut = SandboxPolicy(connectors={"dialer": ConnectorPolicy(limits=Limits(network=False))})
    offline = Supervisor(Selection(allow=frozenset({"dialer"})), cut, Cgroups(None, None))
    await offline.start()
    try:
        online_result = await run_in_sandbox(supervisor, call)
        offline_result = await run_in_sandbox(offline, call)
    finally:
        await offline.close()
        listener.close()
    assert online_result.outcome == Succeeded({"verified": True, "message": "connected"})
    assert isinstance(offline_result.outcome, Succeeded)
    assert offline_result.outcome.data["verified"] is False
    assert "Network is unreachable" in offline_result.outcome.data["message"]


@pytest.mark.parametrize("connector", ["threader", "parent"])
async def test_a_pooled_worker_that_left_a_thread_or_a_process_running_is_not_reused(
    supervisor: Supervisor, connector: str
) -> None:
    call = Call(connector=connector, method="verify_credentials")
    pids = []
    for _ in range(2):
        result = await run_in_sandbox(supervisor, call, isolation="pooled")
        assert isinstance(result.outcome, Succeeded)
        pids.append(result.outcome.data["message"])
    assert pids[0] != pids[1]


def _zygote_pids(supervisor: Supervisor) -> list[int]:
    return [zygote.pid for zygote in supervisor.zygotes if zygote.pid is not None]


def _zygote_children(supervisor: Supervisor) -> list[int]:
    children = []
    for pid in _zygote_pids(supervisor):
        for task in Path(f"/proc/{pid}/task").iterdir():
            children += [int(c) for c in (task / "children").read_text().split()]
    return [c for c in children if not _stat(Path(f"/proc/{c}")).startswith("Z")]


@pytest.mark.parametrize("yields", [0, 1, 2, 3, 5, 8])
async def test_a_caller_cancelled_at_any_point_leaves_no_worker_running(
    supervisor: Supervisor, yields: int
) -> None:
    await _settled(supervisor)
    idle = set(_zygote_children(supervisor))  # pooled workers and spares of earlier tests
    tasks = []
    for _ in range(4):
        task = asyncio.ensure_future(
            run_in_sandbox(
                supervisor, Call(connector="sleeper", method="verify_credentials"), isolation="per-call"
            )
        )
        for _ in range(yields):
            await asyncio.sleep(0)
        task.cancel()
        tasks.append(task)
    await asyncio.gather(*tasks, return_exceptions=True)
    for _ in range(300):  # forks of cancelled calls are answered (and killed) asynchronously
        if not supervisor.pending_spawns and not set(_zygote_children(supervisor)) - idle:
            break
        await asyncio.sleep(0.05)
    assert set(_zygote_children(supervisor)) - idle == set()


async def test_a_caller_cancelled_during_the_grace_period_still_kills(supervisor: Supervisor) -> None:
    call = Call(connector="stubborn", method="verify_credentials")
    own = Supervisor(Selection(allow=frozenset({"stubborn"})), SandboxPolicy(grace=5.0), Cgroups(None, None))
    await own.start()
    try:
        task = asyncio.ensure_future(run_in_sandbox(own, call, timeout=0.3))
        while not _zygote_children(own):
            await asyncio.sleep(0.01)
        [worker] = _zygote_children(own)
        await asyncio.sleep(0.8)  # past the deadline, inside the 5 s grace: SIGTERM was ignored
        assert _alive_pid(worker)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        for _ in range(100):
            if not _alive_pid(worker):
                break
            await asyncio.sleep(0.02)
        assert not _alive_pid(worker)
    finally:
        await own.close()


def _alive_pid(pid: int) -> bool:
    stat = _stat(Path(f"/proc/{pid}"))
    return bool(stat) and not stat.startswith("Z")


async def test_a_call_msgpack_cannot_carry_is_refused_before_any_worker(supervisor: Supervisor) -> None:
    """An integer beyond 64 bits: the call is encoded once, before it waits for a slot or a
    worker, and refused there."""
    spawns = sum(zygote.pending_spawns for zygote in supervisor.zygotes)
    call = Call(connector="nice", method="verify_credentials", credentials={"n": 2**64})
    result = await supervisor.invoke(call, Redactor([]), invocation_id="too-big")
    assert result.outcome == Rejected(
        "InvalidInput", "a number in the call is out of range (integers must fit in 64 bits)"
    )
    assert "too-big" not in supervisor._running
    assert sum(zygote.pending_spawns for zygote in supervisor.zygotes) == spawns
    assert supervisor.limiter.in_use == 0
