"""What a worker's leaf cgroup enforces for its whole process tree, judged by the
supervisor: the memory limit (RLIMIT_AS holds per process only), and that a pooled worker
is reused only when nothing it started is still running."""

from __future__ import annotations

import asyncio
import errno
import os
import sys
import threading
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio
from tests.conftest import TEST_TEMP

from connectord.plugins.manager import Selection
from connectord.runtime.calls import run_in_sandbox
from connectord.sandbox.calls import Call
from connectord.sandbox.cgroups import Cgroups
from connectord.sandbox.outcomes import MemoryExceeded, Succeeded
from connectord.sandbox.policy import ConnectorPolicy, SandboxPolicy
from connectord.sandbox.protocol import Limits
from connectord.sandbox.supervisor import InvocationResult, Supervisor

from .test_hostile_connectors import gone

pytestmark = pytest.mark.asyncio(loop_scope="module")

LIMIT = 256 * 1024 * 1024
#: One leaf only (one call at a time, no spare worker forked ahead on a leaf of its own),
#: so that the next call shows whether it can be reused.
MEMORY_POLICY = SandboxPolicy(
    concurrency=1,
    per_connector=1,
    spare_workers=False,
    default=ConnectorPolicy(
        timeouts={"verify_credentials": 20.0},
        limits=Limits(memory_bytes=LIMIT, processes=32, writable_paths=[TEST_TEMP]),
    ),
)


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def limited(hostile_on_path: None) -> AsyncIterator[Supervisor]:
    cgroups = Cgroups.detect()
    if not cgroups.limits_memory:
        cgroups.close()
        pytest.skip("no writable memory cgroup here: memory is limited per process only")
    sup = Supervisor(Selection(allow=frozenset({"swarm", "shmfiller", "nice"})), MEMORY_POLICY, cgroups)
    await sup.start()
    try:
        yield sup
    finally:
        await sup.close()


async def verify(supervisor: Supervisor, connector: str, **credentials: object) -> InvocationResult:
    """A per-call worker on the leaf the last call left (the only free one, once released)."""
    call = Call(connector=connector, method="verify_credentials", credentials=credentials)
    return await run_in_sandbox(supervisor, call, isolation="per-call")


async def released(supervisor: Supervisor) -> None:
    """Until the last worker's leaf is free again (it is reaped asynchronously); the
    zygotes' own leaves stay in use."""
    for _ in range(200):
        if supervisor.cgroups.in_use == sum(1 for z in supervisor.zygotes if z.leaf is not None):
            return
        await asyncio.sleep(0.025)
    raise AssertionError(f"the leaf was not released ({supervisor.cgroups.in_use} in use)")


def memory_cgroup(pid: int) -> str:
    lines = Path(f"/proc/{pid}/cgroup").read_text().splitlines()
    return next(line.split(":", 2)[2] for line in lines if line.split(":")[1] == "memory")


async def test_the_memory_limit_holds_for_all_a_call_forks(limited: Supervisor, tmp_path: Path) -> None:
    await verify(limited, "nice")  # its zygote takes a leaf of its own now, not later
    await released(limited)
    report = tmp_path / "swarm"
    result = await verify(limited, "swarm", path=str(report))
    assert result.outcome == MemoryExceeded(LIMIT)
    ready, leaf = report.read_text().split()
    assert int(ready) < 4  # the kernel killed one at least: 4 times 100 MiB do not fit in 256
    await released(limited)
    # The leaf is reused, and what was charged to it went with the killed processes.
    call = Call(connector="nice", method="verify_credentials")
    nice = await run_in_sandbox(limited, call, isolation="pooled")
    assert isinstance(nice.outcome, Succeeded), nice.outcome
    worker = int(str(nice.outcome.data["message"]).split()[1])
    assert memory_cgroup(worker) == leaf
    limited.retire_idle()


async def test_files_written_to_dev_shm_count_against_the_limit_and_go_with_the_worker(
    limited: Supervisor,
) -> None:
    result = await verify(limited, "shmfiller", path="filler", size=300)
    assert result.outcome == MemoryExceeded(LIMIT)
    await released(limited)
    # The worker's own directory of its zygote's /dev/shm went with it, and its charge too.
    zygote = limited.zygote_for("shmfiller").pid
    assert os.listdir(f"/proc/{zygote}/root/dev/shm") == []
    nice = await verify(limited, "nice")
    assert isinstance(nice.outcome, Succeeded), nice.outcome
    await released(limited)
    assert isinstance((await verify(limited, "shmfiller", path="filler", size=64)).outcome, Succeeded)


async def test_a_connectors_tmp_holds_no_more_than_its_memory_limit(hostile_on_path: None) -> None:
    """What is left in /tmp outlives the call (it lives with the zygote, charged to no
    worker): calls that each left 48 MiB there piled it up without end. It holds twice the
    memory limit (a few calls' files at once)."""
    limits = Limits(memory_bytes=64 * 1024 * 1024, landlock=False)
    policy = SandboxPolicy(default=ConnectorPolicy(limits=limits))
    sup = Supervisor(Selection(allow=frozenset({"litterer"})), policy, Cgroups(None, None))
    await sup.start()
    try:
        said = []
        for name in ("first", "second", "third"):
            call = Call(
                connector="litterer",
                method="verify_credentials",
                credentials={"path": f"/tmp/{name}", "size": 48},
            )
            result = await run_in_sandbox(sup, call)
            assert isinstance(result.outcome, Succeeded), result.outcome
            said.append(result.outcome.data["message"])
        assert said == ["written", "written", "OSError: " + os.strerror(errno.ENOSPC)]
    finally:
        await sup.close()


async def test_a_pooled_worker_whose_daemon_runs_on_is_not_reused(
    supervisor: Supervisor, tmp_path: Path
) -> None:
    if not supervisor.cgroups.available:
        pytest.skip("without cgroups only the worker's own report tells what it left running")

    async def daemonize(record: Path) -> int:
        call = Call(connector="daemonizer", method="verify_credentials", credentials={"path": str(record)})
        result = await run_in_sandbox(supervisor, call, tenant="daemons", isolation="pooled")
        assert isinstance(result.outcome, Succeeded), result.outcome
        return int(str(result.outcome.data["message"]).split()[1])

    first = await daemonize(tmp_path / "first")
    daemon = int((tmp_path / "first").read_text())
    assert await gone([daemon]), f"the daemon {daemon} outlived its call"
    assert await gone([first])  # retired, not kept for the next call
    second = await daemonize(tmp_path / "second")
    assert second != first
    assert await gone([int((tmp_path / "second").read_text())])


#: (thread, path) of each cgroup.procs opened for writing while ``_moves`` is being kept.
_moves: list[tuple[int, str]] | None = None


def _record_moves(event: str, args: tuple[object, ...]) -> None:
    if _moves is None or event != "open" or not str(args[0]).endswith("cgroup.procs"):
        return
    mode, flags = args[1], args[2]
    if isinstance(mode, str):
        writes = "w" in mode
    else:
        writes = isinstance(flags, int) and flags & os.O_ACCMODE != os.O_RDONLY
    if writes:
        _moves.append((threading.get_ident(), str(args[0])))


async def test_no_process_is_moved_between_cgroups_in_the_event_loops_thread(hostile_on_path: None) -> None:
    """On cgroup v1 a move waits for an RCU grace period once the host was quiet a few ms
    (about 10 ms here) and for every fork in progress on the host (up to a second under a
    connector's fork swarm): the loop, which also answers /health, must never wait for one.
    Zygotes and workers alike are moved in another thread."""
    global _moves
    cgroups = Cgroups.detect()
    if not cgroups.available:
        cgroups.close()
        pytest.skip("no writable cgroup here: nothing is moved")
    sys.addaudithook(_record_moves)  # for good; it records only while _moves is a list
    policy = SandboxPolicy(default=ConnectorPolicy(limits=Limits(landlock=False)))
    sup = Supervisor(Selection(allow=frozenset({"nice"})), policy, cgroups)
    _moves = []
    try:
        await sup.start()
        call = Call(connector="nice", method="verify_credentials")
        for isolation in ("per-call", "per-call", "pooled"):
            result = await run_in_sandbox(sup, call, isolation=isolation)
            assert isinstance(result.outcome, Succeeded), result.outcome
        moves, _moves = _moves, None
    finally:
        _moves = None
        await sup.close()
    loop_thread = threading.get_ident()
    assert len({path for _, path in moves}) >= 2, moves  # the zygote's and a worker's leaf at least
    assert all(thread != loop_thread for thread, _ in moves), moves
