"""Per-call workers forked ahead: after a call, the connector's next worker is forked,
confined and placed while nothing waits for it, and the next call (of any tenant) runs
there. Each still runs one call only, in a process that ran nothing before it."""

from __future__ import annotations

import asyncio
import contextlib
import os
import select
import signal
import textwrap
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import AbstractContextManager
from pathlib import Path

import pytest
import pytest_asyncio

from connectord.plugins.manager import Selection
from connectord.runtime.calls import run_in_sandbox
from connectord.sandbox.calls import Call
from connectord.sandbox.cgroups import Cgroups
from connectord.sandbox.outcomes import Succeeded
from connectord.sandbox.policy import SandboxPolicy
from connectord.sandbox.supervisor import SPARE, Supervisor
from connectord.sandbox.worker_process import WorkerProcess

pytestmark = pytest.mark.asyncio(loop_scope="module")

# Module state counts the calls its process ran: a worker that ran one before says 2.
CONNECTOR = """
import os
import time

import connectord

calls = 0

@connectord.hookimpl
def describe_connector():
    return connectord.ConnectorInfo(id="counted", title="counted", version="1")

@connectord.hookimpl
def verify_credentials(credentials):
    global calls
    calls += 1
    time.sleep(credentials.get("sleep", 0))
    return connectord.verified(f"{os.getpid()} {calls}")
"""


@pytest.fixture(scope="module")
def counted(
    tmp_path_factory: pytest.TempPathFactory,
    connector_site: Callable[[str, Path, dict[str, str]], Path],
    site_on_path: Callable[[Path], AbstractContextManager[None]],
) -> Iterator[None]:
    source = tmp_path_factory.mktemp("spare") / "counted.py"
    source.write_text(textwrap.dedent(CONNECTOR))
    with site_on_path(connector_site("spare_counted", source, {"counted": "spare_counted"})):
        yield


async def started(spare_workers: bool, per_connector: int = 0) -> Supervisor:
    policy = SandboxPolicy(concurrency=2, per_connector=per_connector, spare_workers=spare_workers)
    supervisor = Supervisor(Selection(allow=frozenset({"counted"})), policy, Cgroups(None, None))
    await supervisor.start()
    return supervisor


@pytest_asyncio.fixture(loop_scope="module")
async def supervisor(counted: None) -> AsyncIterator[Supervisor]:
    started_one = await started(spare_workers=True)
    yield started_one
    await started_one.close()


async def call(supervisor: Supervisor, tenant: str = "acme") -> tuple[int, int]:
    """The worker's pid and how many calls its process has run, this one included."""
    result = await run_in_sandbox(
        supervisor, Call(connector="counted", method="verify_credentials"), tenant=tenant
    )
    assert isinstance(result.outcome, Succeeded), result.outcome
    pid, calls = str(result.outcome.data["message"]).split()
    return int(pid), int(calls)


async def spare_of(supervisor: Supervisor) -> WorkerProcess:
    """The spare once forked (the fork runs after the call that started it)."""
    forking = supervisor._sparing.get("counted")
    if forking is not None:
        await forking
    spares = supervisor._idle.get((SPARE, "counted"), [])
    assert len(spares) == 1 and spares[0].alive
    return spares[0]


def children(pid: int) -> set[int]:
    return {int(child) for child in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()}


async def test_the_next_call_runs_in_the_worker_forked_ahead_of_it(supervisor: Supervisor) -> None:
    first, calls = await call(supervisor)
    assert calls == 1
    spare = await spare_of(supervisor)
    zygote = supervisor.zygote_for("counted").pid
    assert zygote is not None and spare.pid in children(zygote) and spare.pid != first
    second, calls = await call(supervisor, tenant="globex")  # any tenant's
    assert (second, calls) == (spare.pid, 1)
    third, calls = await call(supervisor)
    assert calls == 1 and third not in (first, second)


async def test_a_spare_goes_with_its_zygote(supervisor: Supervisor) -> None:
    await call(supervisor)
    spare = await spare_of(supervisor)
    assert supervisor.stop_idle_zygotes(float("inf")) == ["counted"]
    ended = await asyncio.wait_for(asyncio.shield(spare.exited), 10)
    assert ended is not None and not spare.alive
    assert not supervisor._idle.get((SPARE, "counted"))
    _, calls = await call(supervisor)  # the zygote starts again, and forks a spare again
    assert calls == 1
    assert (await spare_of(supervisor)).alive


async def test_a_spare_that_died_before_the_loop_heard_is_not_given_a_call(supervisor: Supervisor) -> None:
    """Its zygote killed, the spare dies with it; a call that comes before the supervisor
    has heard of either runs in a worker of a new zygote, not in the dead spare."""
    await call(supervisor)
    spare = await spare_of(supervisor)
    zygote = supervisor.zygote_for("counted").pid
    assert zygote is not None
    pidfd = os.pidfd_open(spare.pid)
    try:
        os.kill(zygote, signal.SIGKILL)
        assert select.select([pidfd], [], [], 10)[0]  # blocking the loop: it hears of nothing
    finally:
        os.close(pidfd)
    assert spare.alive  # as far as the loop knows
    pid, calls = await call(supervisor)
    assert calls == 1 and pid != spare.pid


async def test_no_spare_is_forked_when_turned_off(counted: None) -> None:
    supervisor = await started(spare_workers=False)
    try:
        first, _ = await call(supervisor)
        second, calls = await call(supervisor)
        assert calls == 1 and first != second
        assert "counted" not in supervisor._sparing
        assert not supervisor._idle.get((SPARE, "counted"))
    finally:
        await supervisor.close()


@contextlib.asynccontextmanager
async def slow_call_running(supervisor: Supervisor, isolation: str) -> AsyncIterator[asyncio.Future[object]]:
    """A call of the connector that runs for a minute while the body runs, cancelled after."""
    slow = asyncio.ensure_future(
        run_in_sandbox(
            supervisor,
            Call(connector="counted", method="verify_credentials", credentials={"sleep": 60}),
            isolation=isolation,
        )
    )
    try:
        yield slow
    finally:
        slow.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await slow


async def test_a_call_that_ends_beside_another_of_its_connector_forks_no_spare(counted: None) -> None:
    """On a busy connector each call forks its own worker anyway: a spare would only add a
    hand-off to every call."""
    supervisor = await started(spare_workers=True, per_connector=2)
    try:
        async with slow_call_running(supervisor, "per-call") as slow:
            _, calls = await call(supervisor)  # its worker is forked while the slow one runs
            assert calls == 1 and not slow.done()
            assert "counted" not in supervisor._sparing
            assert not supervisor._idle.get((SPARE, "counted"))
        await call(supervisor)  # alone now: the next worker is forked ahead
        assert (await spare_of(supervisor)).alive
    finally:
        await supervisor.close()


async def test_a_pooled_call_in_flight_does_not_hold_back_the_spare(counted: None) -> None:
    """Only per-call design-time calls overlapping each other fork their own: one beside a
    long pooled call (or job) of the connector still gets its spare."""
    supervisor = await started(spare_workers=True, per_connector=2)
    try:
        async with slow_call_running(supervisor, "pooled") as slow:
            await call(supervisor)
            assert not slow.done()
            assert (await spare_of(supervisor)).alive
    finally:
        await supervisor.close()


async def test_closing_kills_the_spares(counted: None) -> None:
    supervisor = await started(spare_workers=True)
    await call(supervisor)
    spare = await spare_of(supervisor)
    pidfd = os.pidfd_open(spare.pid)
    try:
        await supervisor.close()
        await asyncio.wait_for(terminated(pidfd), 10)
    finally:
        os.close(pidfd)


async def terminated(pidfd: int) -> None:
    """Until the process of ``pidfd`` has ended (a pidfd reads as ready then)."""
    loop = asyncio.get_running_loop()
    ended = loop.create_future()
    loop.add_reader(pidfd, lambda: ended.done() or ended.set_result(None))
    try:
        await ended
    finally:
        loop.remove_reader(pidfd)
