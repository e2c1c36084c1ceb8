"""run_job through the real Supervisor: jobs get the deadline, kill and redaction guarantees
of every other call."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

import msgspec
import pytest
import pytest_asyncio

from connectord.plugins.manager import Selection
from connectord.runtime.calls import InvalidCallError, run_in_sandbox
from connectord.sandbox.calls import Call
from connectord.sandbox.cgroups import Cgroups
from connectord.sandbox.outcomes import Rejected, Succeeded, TimedOut
from connectord.sandbox.policy import ConnectorPolicy, SandboxPolicy
from connectord.sandbox.redact import MASK
from connectord.sandbox.supervisor import InvocationResult, Supervisor

pytestmark = pytest.mark.asyncio(loop_scope="module")

SOURCE = Path(__file__).with_name("job_connectors.py")
MODULE = "connectord_job_hostile"
JOB_TIMEOUT = 1.0
GRACE = 0.3
SLACK = 1.5
POLICY = SandboxPolicy(concurrency=2, grace=GRACE, default=ConnectorPolicy(timeouts={"run_job": JOB_TIMEOUT}))
TOKEN = "tok/job+secret=value&1"


@pytest.fixture(scope="module")
def job_site(connector_site: Callable[[str, Path, dict[str, str]], Path]) -> Path:
    entry_points = {"jobhostile": f"{MODULE}:jobhostile", "jobother": f"{MODULE}:jobother"}
    return connector_site(MODULE, SOURCE, entry_points)


@pytest.fixture(scope="module")
def job_site_on_path(
    job_site: Path, site_on_path: Callable[[Path], AbstractContextManager[None]]
) -> Iterator[None]:
    with site_on_path(job_site):
        yield


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def supervisor(job_site_on_path: None) -> AsyncIterator[Supervisor]:
    sup = Supervisor(Selection(allow=frozenset({"jobhostile"})), POLICY, Cgroups.detect())
    await sup.start()
    try:
        yield sup
    finally:
        await sup.close()


async def run_job(
    supervisor: Supervisor, code: str, timeout: float | None = None, **params: Any
) -> InvocationResult:
    call = Call(connector="jobhostile", method="run_job", action=code, cfg=params)
    return await run_in_sandbox(supervisor, call, timeout=timeout)


async def test_the_catalog_knows_the_job_types(supervisor: Supervisor) -> None:
    assert [t.code for _, t in supervisor.catalog.job_types()] == [
        "hostile.echo",
        "hostile.hang",
        "hostile.leak",
        "hostile.nap",
    ]
    assert supervisor.catalog.job_type("hostile.hang") is not None
    assert "run_job" in supervisor.catalog.get("jobhostile").hooks


async def test_a_job_succeeds_with_data_and_outputs(supervisor: Supervisor) -> None:
    result = await run_job(supervisor, "hostile.echo", note="hello")
    assert isinstance(result.outcome, Succeeded)
    assert result.outcome.data["data"] == {"note": "hello"}
    assert set(result.outcome.data["outputs"]) == {"token", "pid"}
    assert [line.message for line in result.logs] == ["echoing hello"]


async def test_a_job_that_hangs_times_out_at_the_jobs_deadline(supervisor: Supervisor) -> None:
    started = time.monotonic()
    result = await run_job(supervisor, "hostile.hang")
    assert result.outcome == TimedOut(JOB_TIMEOUT)
    assert time.monotonic() - started < JOB_TIMEOUT + GRACE + SLACK


async def test_a_per_call_timeout_overrides_the_policy(supervisor: Supervisor) -> None:
    started = time.monotonic()
    result = await run_job(supervisor, "hostile.hang", timeout=0.4)
    assert result.outcome == TimedOut(0.4)
    assert time.monotonic() - started < 0.4 + GRACE + SLACK
    slow = await run_job(supervisor, "hostile.nap", timeout=3.0, seconds=JOB_TIMEOUT + 0.3)
    assert isinstance(slow.outcome, Succeeded)  # longer than the policy's deadline, within its own


async def test_a_secret_param_is_redacted_from_logs_and_the_rejection(supervisor: Supervisor) -> None:
    result = await run_job(supervisor, "hostile.leak", token=TOKEN, note="public note")
    assert result.outcome == Rejected("RuntimeError", f"refused token {MASK}")
    text = msgspec.json.encode(result).decode() + repr(result)
    assert TOKEN not in text and repr(TOKEN)[1:-1] not in text
    loggers = {line.logger for line in result.logs}
    assert {"jobhostile", "stdout", "stderr"} <= loggers
    assert any(MASK in line.message and "public note" in line.message for line in result.logs)


async def test_a_secret_param_is_masked_in_a_successful_result(supervisor: Supervisor) -> None:
    result = await run_job(supervisor, "hostile.echo", token=TOKEN)
    assert isinstance(result.outcome, Succeeded)
    assert result.outcome.data["data"] == {"token": MASK}
    assert result.outcome.data["outputs"]["token"] == MASK


async def test_bad_params_are_refused_before_a_worker_starts(supervisor: Supervisor) -> None:
    with pytest.raises(InvalidCallError) as info:
        await run_job(supervisor, "hostile.echo", token=TOKEN, extra=1)
    assert info.value.field == "params.extra"
    with pytest.raises(InvalidCallError) as info:
        await run_job(supervisor, "hostile.echo", token=12345)
    assert info.value.field == "params.token" and "12345" not in str(info.value)
    with pytest.raises(InvalidCallError) as info:
        await run_job(supervisor, "hostile.unknown")
    assert info.value.field == "jobType"


async def test_pooled_workers_run_jobs_too(supervisor: Supervisor) -> None:
    call = Call(connector="jobhostile", method="run_job", action="hostile.nap", cfg={"seconds": 0})
    pids = set()
    for _ in range(3):
        result = await run_in_sandbox(supervisor, call, tenant="pool", isolation="pooled")
        assert isinstance(result.outcome, Succeeded), result.outcome
        pids.add(result.outcome.data["data"]["pid"])
    assert len(pids) == 1


def nap(connector: str) -> Call:
    action = "hostile.nap" if connector == "jobhostile" else "other.nap"
    return Call(connector=connector, method="run_job", action=action, cfg={"seconds": 2})


@pytest.mark.parametrize(
    ("concurrency", "per_connector", "connectors", "running"),
    [
        # One tenant's slow jobs held every slot of a connector: another tenant's call of it
        # waited for one of them to end (≈ 2 minutes). Here one job runs, two wait.
        (3, 0, ["jobhostile"] * 3, 1),
        # Jobs spread over two connectors held every slot of the node: a call waited 275 s.
        (4, 3, ["jobhostile", "jobother"] * 2, 3),
    ],
)
async def test_jobs_leave_a_slot_to_design_time_calls(
    job_site_on_path: None, concurrency: int, per_connector: int, connectors: list[str], running: int
) -> None:
    """Of each connector's slots and of the node's, jobs hold all but one."""
    timeouts = ConnectorPolicy(timeouts={"run_job": 60.0})
    policy = SandboxPolicy(concurrency=concurrency, per_connector=per_connector, default=timeouts)
    own = Supervisor(Selection(allow=frozenset(connectors)), policy, Cgroups.detect())
    await own.start()
    try:
        jobs = [asyncio.ensure_future(run_in_sandbox(own, nap(c), tenant="busy")) for c in connectors]
        while own.limiter.in_use < running:
            await asyncio.sleep(0.01)
        verify = Call(connector="jobhostile", method="verify_credentials")
        call = asyncio.ensure_future(run_in_sandbox(own, verify, tenant="quiet"))
        done, _ = await asyncio.wait({call, *jobs}, return_when=asyncio.FIRST_COMPLETED)
        assert done == {call}
        assert isinstance(call.result().outcome, Succeeded)
        assert own.limiter.in_use == running  # the call's slot is free again; no job took it
        await asyncio.gather(*jobs)
    finally:
        await own.close()
