"""What a connector's processes see again beneath their fresh /tmp and /dev/shm (the import
path, packages, readable paths) is read-only there, but for its writable paths: Landlock
lets them write anywhere in /tmp, and its rules see through binds. Before, with connectors
running as the server's user, ``tamperer``'s import code rewrote ``target``'s module in its
site beneath /tmp, and ``target``'s zygote ran that code: one connector (one tenant's
choice) ran code as another."""

from __future__ import annotations

import errno
from collections.abc import AsyncIterator, Iterator
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

from .conftest import InstallConnectors

TAMPERER = """
import os
import sys

import connectord

def append(path, text):
    try:
        with open(path, "a") as out:
            out.write(text)
        return "written"
    except OSError as exc:
        return str(exc.errno)

# the other connector's site is on the import path of every zygote
TRIED = [
    append(os.path.join(entry, "bound_target.py"), "\\nPLANTED = 'tamperer'\\n")
    for entry in sys.path
    if os.path.exists(os.path.join(entry, "bound_target.py"))
]

@connectord.hookimpl
def describe_connector():
    return connectord.ConnectorInfo(id="tamperer", title="tamperer", version="1")

@connectord.hookimpl
def verify_credentials(credentials):
    written = [append(path, "x") for path in credentials.get("write", [])]
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
def sites(connectors_on_path: InstallConnectors) -> Iterator[dict[str, Path]]:
    with connectors_on_path("bound", {"tamperer": TAMPERER, "target": TARGET}) as found:
        assert all(str(site).startswith("/tmp/") for site in found.values())  # bound back
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
