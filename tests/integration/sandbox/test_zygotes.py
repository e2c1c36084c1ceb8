"""Where workers are forked from: a zygote per connector, which imported that connector alone.

Two connectors in modules of their own: ``patcher`` changes a shared module (``json``) when
it is imported, as a careless or hostile package might; ``victim`` reports what its worker
sees of that change and which heavy modules its process holds.
"""

from __future__ import annotations

import asyncio
import os
import textwrap
import time
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
from connectord.sandbox.supervisor import Supervisor

from .conftest import InstallConnectors

pytestmark = pytest.mark.asyncio(loop_scope="module")

CONNECTOR = """
import json
import sys
import time

import connectord

{setup}

@connectord.hookimpl
def describe_connector():
    return connectord.ConnectorInfo(id="{name}", title="{name}", version="1")

@connectord.hookimpl
def verify_credentials(credentials):
    time.sleep(credentials.get("sleep", 0))
    held = [m for m in ("jsonschema", "asyncio", "importlib.metadata") if m in sys.modules]
    return connectord.verified(getattr(json, "patched_by", "untouched") + " " + ",".join(held))
"""


@pytest.fixture(scope="module")
def two_connectors(connectors_on_path: InstallConnectors) -> Iterator[None]:
    setups = {"patcher": 'json.patched_by = "patcher"', "victim": ""}
    sources = {name: CONNECTOR.format(name=name, setup=setup) for name, setup in setups.items()}
    with connectors_on_path("zygote", sources):
        yield


async def started(idle_seconds: float = 600.0) -> Supervisor:
    policy = SandboxPolicy(zygote_idle_seconds=idle_seconds)
    supervisor = Supervisor(Selection(allow=frozenset({"patcher", "victim"})), policy, Cgroups(None, None))
    await supervisor.start()
    return supervisor


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def own(two_connectors: None) -> AsyncIterator[Supervisor]:
    supervisor = await started()
    yield supervisor
    await supervisor.close()


async def seen_by(supervisor: Supervisor, connector: str, sleep: float = 0, pooled: bool = False) -> str:
    call = Call(connector=connector, method="verify_credentials", credentials={"sleep": sleep})
    result = await run_in_sandbox(supervisor, call, isolation="pooled" if pooled else "per-call")
    assert isinstance(result.outcome, Succeeded), result.outcome
    return str(result.outcome.data["message"])


async def test_an_import_time_change_reaches_no_other_connectors_workers(own: Supervisor) -> None:
    assert await seen_by(own, "patcher") == "patcher "
    assert await seen_by(own, "victim") == "untouched "


async def test_a_connectors_zygote_holds_no_validator_event_loop_or_entry_point_reader(
    own: Supervisor,
) -> None:
    """Each module a zygote holds makes every fork of it slower; workers validate nothing,
    and a connector's own zygote imports the connector the catalog names, without reading
    the installed distributions' entry points (importlib.metadata) again."""
    assert (await seen_by(own, "victim")).split(" ")[1] == ""


async def test_each_connector_is_described_by_a_process_that_imported_it_alone(own: Supervisor) -> None:
    assert set(own.catalog.connectors) == {"patcher", "victim"}
    # what patcher's import code changed reached neither victim's description nor its zygote
    assert own.catalog.get("victim").info.title == "victim"
    assert own.zygote_for("victim") is not own.zygote_for("patcher")


async def test_a_zygote_leads_a_session_of_its_own(own: Supervisor) -> None:
    """The kernel's autogroup weighs each session as one against the others: processes that
    import code starts in a zygote (28 spinning ones took /health from 2 ms to 175 ms at
    the median, another tenant's calls from 37 ms to 952) compete as one with the server."""
    await seen_by(own, "victim")
    zygote = own.zygote_for("victim").pid
    assert zygote is not None
    assert os.getsid(zygote) == zygote != os.getsid(0)


async def test_unused_zygotes_stop_with_their_idle_workers_and_start_again(own: Supervisor) -> None:
    await seen_by(own, "victim", pooled=True)
    await seen_by(own, "patcher")
    old = own.zygote_for("victim").pid
    assert not own.stop_idle_zygotes(time.monotonic() - 60)  # both were just called
    assert sorted(own.stop_idle_zygotes(time.monotonic())) == ["patcher", "victim"]
    assert own.zygote_for("victim").pid is None and own.zygote_for("patcher").pid is None
    assert not any(key[1] == "victim" for key in own._idle)  # its pooled worker went too
    assert await seen_by(own, "victim") == "untouched "
    assert own.zygote_for("victim").pid not in (None, old)


async def test_a_zygote_whose_worker_runs_is_not_stopped(own: Supervisor) -> None:
    running = asyncio.ensure_future(seen_by(own, "victim", sleep=1.0))
    while not own._running:
        await asyncio.sleep(0.01)
    assert "victim" not in own.stop_idle_zygotes(time.monotonic() + 60)
    assert await running == "untouched "


async def test_a_zygote_stops_by_itself_once_unused(two_connectors: None) -> None:
    supervisor = await started(idle_seconds=0.2)
    try:
        await seen_by(supervisor, "victim")
        for _ in range(100):  # checked every 0.1 s
            if supervisor.zygote_for("victim").pid is None:
                break
            await asyncio.sleep(0.05)
        assert supervisor.zygote_for("victim").pid is None
        assert await seen_by(supervisor, "victim") == "untouched "
    finally:
        await supervisor.close()


async def test_a_connectors_zygote_imports_the_connector_that_was_loaded_not_an_impostor(
    tmp_path: Path,
    connector_site: Callable[[str, Path, dict[str, str]], Path],
    site_on_path: Callable[[Path], AbstractContextManager[None]],
) -> None:
    """An installed package may declare an entry point named like a built-in connector:
    the built-in is loaded (the first source wins) and its zygote must import it too."""
    source = tmp_path / "impostor.py"
    source.write_text(textwrap.dedent(CONNECTOR.format(name="shop", setup="")))
    with site_on_path(connector_site("zygote_impostor", source, {"shop": "zygote_impostor"})):
        supervisor = Supervisor(Selection(allow=frozenset({"shop"})), SandboxPolicy(), Cgroups(None, None))
        try:
            await supervisor.start()
            assert "already taken" in supervisor.catalog.errors[0].reason
            preload = supervisor.zygote_for("shop").source
            assert preload is not None and preload.target == "connectord.connectors.shop"
        finally:
            await supervisor.close()


async def test_a_description_with_an_invalid_schema_is_a_load_failure(
    tmp_path: Path,
    connector_site: Callable[[str, Path, dict[str, str]], Path],
    site_on_path: Callable[[Path], AbstractContextManager[None]],
) -> None:
    """The process that describes a connector checks its schemas (its zygote does not)."""
    source = tmp_path / "bad_schema.py"
    source.write_text(
        textwrap.dedent("""
        import connectord

        @connectord.hookimpl
        def describe_connector():
            return connectord.ConnectorInfo(
                id="badschema", title="bad", version="1", credentials_schema={"type": "no-such-type"}
            )
        """)
    )
    with site_on_path(connector_site("zygote_bad_schema", source, {"badschema": "zygote_bad_schema"})):
        selection = Selection(allow=frozenset({"badschema"}))
        supervisor = Supervisor(selection, SandboxPolicy(), Cgroups(None, None))
        try:
            await supervisor.start()
            assert "badschema" not in supervisor.catalog.connectors
            [failure] = supervisor.catalog.errors
            assert "credentials_schema is not a valid JSON schema" in failure.reason
        finally:
            await supervisor.close()


def cpu_cgroup(pid: int) -> str:
    """The v1 cpu controller's cgroup of ``pid``."""
    for line in Path(f"/proc/{pid}/cgroup").read_text().splitlines():
        _, controllers, path = line.split(":", 2)
        if "cpu" in controllers.split(","):
            return path
    raise AssertionError(f"process {pid} is in no cpu cgroup")


async def test_each_connectors_processes_share_a_cpu_group_of_their_own(two_connectors: None) -> None:
    """All the code of one connector weighs as one for the CPU against the server and the
    other connectors: its zygote, where import code runs, and the workers forked from it."""
    cgroups = Cgroups.detect()
    if cgroups.cpu_root is None:
        cgroups.close()
        pytest.skip("no writable v1 cpu cgroup hierarchy here")
    policy = SandboxPolicy()
    supervisor = Supervisor(Selection(allow=frozenset({"patcher", "victim"})), policy, cgroups)
    await supervisor.start()
    try:
        groups = {}
        for connector in ("patcher", "victim"):
            await seen_by(supervisor, connector)
            spare = await supervisor._spare(connector)  # a worker forked from its zygote
            zygote = supervisor.zygote_for(connector).pid
            assert spare is not None and zygote is not None
            groups[connector] = {cpu_cgroup(zygote), cpu_cgroup(spare.pid)}
            spare.kill()
        server = cpu_cgroup(os.getpid())
        for connector, found in groups.items():
            [group] = found  # zygote and worker in one
            assert group.startswith(server.rstrip("/") + "/") and group != server, connector
        assert groups["patcher"] != groups["victim"]
    finally:
        await supervisor.close()
    assert not (cgroups.cpu_root is not None and cgroups.cpu_root.exists())  # removed on close
