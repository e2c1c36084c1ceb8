"""``Supervisor.reload``: the catalog described again; a connector whose code changed gets a new
zygote, calls begun on the old one finish there, and the old one stops after the last of them."""

from __future__ import annotations

import asyncio
import os
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
from connectord.sandbox.supervisor import Reloaded, Supervisor

pytestmark = [pytest.mark.integration, pytest.mark.asyncio(loop_scope="module")]

SOURCE = """
import time
import connectord

@connectord.hookimpl
def describe_connector():
    return connectord.ConnectorInfo(id="mutable", title="{title}", version="1")

@connectord.hookimpl
def verify_credentials(credentials):
    time.sleep(credentials.get("sleep", 0))
    return connectord.verified("{title}")
"""


@pytest.fixture(scope="module")
def module_file(
    tmp_path_factory: pytest.TempPathFactory,
    connector_site: Callable[[str, Path, dict[str, str]], Path],
    site_on_path: Callable[[Path], AbstractContextManager[None]],
) -> Iterator[Path]:
    source = tmp_path_factory.mktemp("reload-connector") / "mutable.py"
    source.write_text(textwrap.dedent(SOURCE.format(title="one")))
    site = connector_site("reload_mutable", source, {"mutable": "reload_mutable"})
    with site_on_path(site):
        yield site / "reload_mutable.py"


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def supervisor(module_file: Path) -> AsyncIterator[Supervisor]:
    supervisor = Supervisor(Selection(allow=frozenset({"mutable"})), SandboxPolicy(), Cgroups(None, None))
    await supervisor.start()
    yield supervisor
    await supervisor.close()


async def answer(supervisor: Supervisor, sleep: float = 0, pooled: bool = False) -> str:
    call = Call(connector="mutable", method="verify_credentials", credentials={"sleep": sleep})
    result = await run_in_sandbox(supervisor, call, isolation="pooled" if pooled else "per-call")
    assert isinstance(result.outcome, Succeeded), result.outcome
    return str(result.outcome.data["message"])


def rewrite(module_file: Path, title: str) -> None:
    module_file.write_text(textwrap.dedent(SOURCE.format(title=title)))
    stat = module_file.stat()  # a later time than any before, whatever the clock's grain
    os.utime(module_file, ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))


async def test_nothing_changed_keeps_the_zygote(supervisor: Supervisor) -> None:
    assert await answer(supervisor) == "one"
    pid = supervisor.zygote_for("mutable").pid
    assert await supervisor.reload() == Reloaded(added=[], removed=[], changed=[])
    assert supervisor.zygote_for("mutable").pid == pid


async def test_changed_code_gets_a_new_zygote_after_the_running_call(
    supervisor: Supervisor, module_file: Path
) -> None:
    assert await answer(supervisor, pooled=True) == "one"  # leaves an idle pooled worker
    old = supervisor.zygote_for("mutable")
    running = asyncio.ensure_future(answer(supervisor, sleep=1.5))
    while not supervisor._running:  # the call is in its worker
        await asyncio.sleep(0.01)
    rewrite(module_file, "two")
    assert await supervisor.reload() == Reloaded(added=[], removed=[], changed=["mutable"])
    assert supervisor.catalog.get("mutable").info.title == "two"
    assert not any(key[1] == "mutable" for key in supervisor._idle)  # the old code's pooled worker went
    assert old.pid is not None  # still serving the running call
    assert await answer(supervisor) == "two"
    assert supervisor.zygote_for("mutable") is not old
    assert await running == "one"
    assert old.pid is None and not supervisor._retiring  # stopped after its last call
