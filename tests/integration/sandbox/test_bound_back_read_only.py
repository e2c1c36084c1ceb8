"""What a connector's processes see again beneath their fresh /tmp and /dev/shm (the import
path, packages, readable paths) is read-only there, but for its writable paths: Landlock
lets them write anywhere in /tmp, and its rules see through binds. Before, with connectors
running as the server's user, ``tamperer``'s import code rewrote ``target``'s module in its
site beneath /tmp, and ``target``'s zygote ran that code: one connector (one tenant's
choice) ran code as another."""

from __future__ import annotations

import errno
import textwrap
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import AbstractContextManager, ExitStack
from pathlib import Path

import pytest

from connectord.plugins.manager import Selection
from connectord.runtime.calls import run_in_sandbox
from connectord.sandbox.calls import Call
from connectord.sandbox.cgroups import Cgroups
from connectord.sandbox.host import Host
from connectord.sandbox.outcomes import Succeeded
from connectord.sandbox.policy import ConnectorPolicy, SandboxPolicy
from connectord.sandbox.protocol import Limits
from connectord.sandbox.supervisor import Supervisor

TAMPERER = """
import os
import sys

import connectord

TRIED = []
for entry in sys.path:  # the other connector's site is on the import path of every zygote
    module = os.path.join(entry, "bound_target.py")
    if os.path.exists(module):
        try:
            with open(module, "a") as source:
                source.write("\\nPLANTED = 'tamperer'\\n")
            TRIED.append("written")
        except OSError as exc:
            TRIED.append(str(exc.errno))

@connectord.hookimpl
def describe_connector():
    return connectord.ConnectorInfo(id="tamperer", title="tamperer", version="1")

@connectord.hookimpl
def verify_credentials(credentials):
    written = []
    for path in credentials.get("write", []):
        try:
            with open(path, "a") as out:
                out.write("x")
            written.append("written")
        except OSError as exc:
            written.append(str(exc.errno))
    return connectord.verified(" ".join(TRIED) + "|" + " ".join(written))
"""

TARGET = """
import connectord

PLANTED = "clean"

@connectord.hookimpl
def describe_connector():
    return connectord.ConnectorInfo(id="target", title="target", version="1")

@connectord.hookimpl
def verify_credentials(credentials):
    return connectord.verified(PLANTED)
"""

pytestmark = pytest.mark.skipif(not Host.detect().landlock_abi, reason="needs Landlock")


@pytest.fixture(scope="module")
def sites(
    tmp_path_factory: pytest.TempPathFactory,
    connector_site: Callable[[str, Path, dict[str, str]], Path],
    site_on_path: Callable[[Path], AbstractContextManager[None]],
) -> Iterator[dict[str, Path]]:
    sources = tmp_path_factory.mktemp("bound-back")
    found = {}
    with ExitStack() as stack:
        for name, code in (("tamperer", TAMPERER), ("target", TARGET)):
            source = sources / f"bound_{name}.py"
            source.write_text(textwrap.dedent(code))
            found[name] = site = connector_site(f"bound_{name}", source, {name: f"bound_{name}"})
            assert str(site).startswith("/tmp/")  # beneath the fresh /tmp: bound back
            stack.enter_context(site_on_path(site))
        yield found


@pytest.fixture
async def supervisor(sites: dict[str, Path]) -> AsyncIterator[Supervisor]:
    data = sites["tamperer"] / "data"  # inside the tamperer's own import directory
    data.mkdir(exist_ok=True)
    limits = Limits(landlock=True, writable_paths=[str(data)])
    policy = SandboxPolicy(user_ids=False, default=ConnectorPolicy(limits=limits))
    started = Supervisor(Selection(allow=frozenset({"tamperer", "target"})), policy, Cgroups.detect())
    await started.start()
    yield started
    await started.close()


async def answer(supervisor: Supervisor, connector: str, **credentials: object) -> str:
    call = Call(connector=connector, method="verify_credentials", credentials=credentials)
    result = await run_in_sandbox(supervisor, call, isolation="per-call")
    assert isinstance(result.outcome, Succeeded), result.outcome
    return str(result.outcome.data["message"])


async def test_import_code_cannot_rewrite_another_connectors_module(
    supervisor: Supervisor, sites: dict[str, Path]
) -> None:
    tried, _ = (await answer(supervisor, "tamperer")).split("|")
    assert tried == str(errno.EROFS)
    assert await answer(supervisor, "target") == "clean"
    assert "tamperer" not in (sites["target"] / "bound_target.py").read_text()


async def test_a_writable_path_inside_a_read_only_one_stays_writable(
    supervisor: Supervisor, sites: dict[str, Path]
) -> None:
    site = sites["tamperer"]
    writes = [str(site / "data" / "out.txt"), str(site / "bound_tamperer.py")]
    _, written = (await answer(supervisor, "tamperer", write=writes)).split("|")
    assert written.split(" ") == ["written", str(errno.EROFS)]  # its module: read-only, as before
    assert (site / "data" / "out.txt").read_text() == "x"
