"""A ``warm`` connector's zygote starts with the server, is started again should it die,
and is never stopped for being unused: its first call waits for no import. Two connectors
alike, ``warmed`` (warm) and ``lazy`` (the default: its zygote starts at its first call)."""

from __future__ import annotations

import asyncio
import os
import signal
import time
from collections.abc import AsyncIterator, Iterator

import pytest

from connectord.plugins.manager import Selection
from connectord.runtime.calls import run_in_sandbox
from connectord.sandbox.calls import Call
from connectord.sandbox.cgroups import Cgroups
from connectord.sandbox.outcomes import Succeeded
from connectord.sandbox.policy import ConnectorPolicy, SandboxPolicy
from connectord.sandbox.supervisor import Supervisor

from .conftest import InstallConnectors

CONNECTOR = """
import os

import connectord

@connectord.hookimpl
def describe_connector():
    return connectord.ConnectorInfo(id="{name}", title="{name}", version="1")

@connectord.hookimpl
def verify_credentials(credentials):
    return connectord.verified(str(os.getppid()))  # the zygote that forked this worker
"""


@pytest.fixture(scope="module")
def two_connectors(connectors_on_path: InstallConnectors) -> Iterator[None]:
    with connectors_on_path("warm", {name: CONNECTOR.format(name=name) for name in ("warmed", "lazy")}):
        yield


@pytest.fixture
async def supervisor(two_connectors: None) -> AsyncIterator[Supervisor]:
    policy = SandboxPolicy(connectors={"warmed": ConnectorPolicy(warm=True)})
    started = Supervisor(Selection(allow=frozenset({"warmed", "lazy"})), policy, Cgroups(None, None))
    await started.start()
    yield started
    await started.close()


async def forked_by(supervisor: Supervisor, connector: str) -> int:
    """The pid of the zygote that forked the worker of a call of ``connector``."""
    call = Call(connector=connector, method="verify_credentials", credentials={})
    result = await run_in_sandbox(supervisor, call, isolation="per-call")
    assert isinstance(result.outcome, Succeeded), result.outcome
    return int(result.outcome.data["message"])


async def test_a_warm_connectors_zygote_runs_before_its_first_call_and_forks_it(
    supervisor: Supervisor,
) -> None:
    await supervisor.warmed()
    warm = supervisor.zygote_for("warmed").pid
    assert warm is not None
    assert supervisor.zygote_for("lazy").pid is None  # the default: started by its first call

    assert await forked_by(supervisor, "warmed") == warm


async def test_a_warm_zygote_is_not_stopped_for_being_unused(supervisor: Supervisor) -> None:
    await supervisor.warmed()
    await forked_by(supervisor, "lazy")

    stopped = supervisor.stop_idle_zygotes(time.monotonic() + 1)  # both unused since

    assert stopped == ["lazy"]
    assert supervisor.zygote_for("warmed").pid is not None


async def test_a_warm_zygote_that_died_is_started_again_ahead_of_calls(supervisor: Supervisor) -> None:
    await supervisor.warmed()
    zygote = supervisor.zygote_for("warmed")
    first, restarts = zygote.pid, zygote.restarts
    assert first is not None
    os.kill(first, signal.SIGKILL)
    while zygote.restarts == restarts:  # the client hears of its death from its pidfd
        await asyncio.sleep(0.01)

    supervisor.warm_up()  # what the idle check does every min(zygote_idle_seconds / 2, 60) s
    await supervisor.warmed()

    again = zygote.pid
    assert again is not None and again != first
    assert await forked_by(supervisor, "warmed") == again
