"""A zygote is connector code too (its import can rewrite it): what it does with a worker's
socket and the child it names as the worker must never leave a call waiting for its
deadline. Each connector here rewrites its own zygote; one more hangs in its import."""

from __future__ import annotations

import asyncio
import contextlib
import os
import textwrap
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
import pytest_asyncio
from tests.conftest import TEST_TEMP

from connectord.plugins.manager import Selection
from connectord.sandbox.calls import Call
from connectord.sandbox.cgroups import Cgroups
from connectord.sandbox.outcomes import Crashed
from connectord.sandbox.policy import ConnectorPolicy, SandboxPolicy
from connectord.sandbox.protocol import Limits
from connectord.sandbox.redact import Redactor
from connectord.sandbox.supervisor import Supervisor
from connectord.sandbox.zygote_client import ZygoteClient, ZygoteError

from .conftest import InstallConnectors

pytestmark = pytest.mark.asyncio(loop_scope="module")

#: Long enough that a call answered only at its deadline fails the test before it ends.
DEADLINE = 30.0

PREAMBLE = """
import os
import socket
import struct
import sys

import connectord
from connectord.sandbox.protocol import Spawned

ZYGOTE = getattr(sys.modules.get("connectord.sandbox.zygote"), "Zygote", None)


def read_frame(sock):
    length = struct.unpack(">I", sock.recv(4, socket.MSG_WAITALL))[0]
    return sock.recv(length, socket.MSG_WAITALL)


@connectord.hookimpl
def describe_connector():
    return connectord.ConnectorInfo(id=NAME, title=NAME, version="1")


@connectord.hookimpl
def verify_credentials(credentials):
    return connectord.verified()
"""

#: Reads the call's request off the worker's socket, then names a child that has ended
#: and been reaped: the server drops the zygote, and the request it sent is gone.
THIEF = """
NAME = "thief"

if ZYGOTE is not None:

    def spawn(self, request, fd, cgroups):
        read_frame(socket.socket(fileno=os.dup(fd)))
        child = os.fork()
        if child == 0:
            os._exit(0)
        os.waitpid(child, 0)
        os.close(fd)
        self._send(Spawned(request.token, child))

    ZYGOTE._spawn = spawn
"""

#: Keeps a copy of the worker's socket for good; the child it names reads the request and
#: the word that it was placed, then exits: the socket never reaches its end.
HOLDER = """
NAME = "holder"
KEPT = []

if ZYGOTE is not None:

    def spawn(self, request, fd, cgroups):
        KEPT.append(os.dup(fd))
        child = os.fork()
        if child == 0:
            sock = socket.socket(fileno=fd)
            read_frame(sock)
            read_frame(sock)
            os._exit(3)
        os.close(fd)
        self.workers[child] = ()  # as the zygote's own spawn does: its end is reported
        self._send(Spawned(request.token, child))

    ZYGOTE._spawn = spawn
"""

#: Its import never ends.
STUCK = """
NAME = "stuck"

if ZYGOTE is not None:
    import time

    time.sleep(3600)
"""

#: Import code of the process that describes it (never of its zygote) sends the server a
#: forged description first: 900,000 empty objects, 900 KB (a frame under the size limit:
#: it is the values that cost), as a ``credentials_schema``.
FORGED = """
import msgspec
from connectord.plugins.manager import Catalog, CatalogEntry
from connectord.sandbox.protocol import Ready


def forged_description():
    \"\"\"A frame of a description whose ``credentials_schema`` holds 900,000 empty objects.\"\"\"
    info = connectord.ConnectorInfo(id=NAME, title=NAME, version="1", credentials_schema={"x": "MARK"})
    entry = CatalogEntry(info=info, origin="forged", hooks=frozenset({"describe_connector"}))
    body = msgspec.msgpack.encode(Ready(os.getpid(), Catalog(connectors={NAME: entry}, errors=[])))
    empties = b"\\xdd" + struct.pack(">I", 900_000) + b"\\x80" * 900_000
    body = body.replace(msgspec.msgpack.encode("MARK"), empties)
    return struct.pack(">I", len(body)) + body


def _hello():
    frame = sys._getframe()
    while frame is not None and "hello" not in frame.f_locals:
        frame = frame.f_back
    return None if frame is None else frame.f_locals["hello"]
"""

#: Import code of the process that describes it (never of its zygote) sends the server a
#: forged description first: 900 KB, a frame under the size limit: the values cost.
FORGER = """
NAME = "forger"

if getattr(_hello(), "describe", False):
    socket.socket(fileno=os.dup(int(sys.argv[1]))).sendall(forged_description())
"""

#: Import code of its zygote (not of the process that describes it) sends, from a thread, a
#: forged description after another once the zygote is ready.
FLOODER = """
NAME = "flooder"

import threading
import time


def _flood(control):
    time.sleep(0.5)
    while True:
        control.sendall(forged_description())


if ZYGOTE is not None:
    control = socket.socket(fileno=os.dup(int(sys.argv[1])))
    threading.Thread(target=_flood, args=(control,), daemon=True).start()
"""

#: Import code of the process that describes it says the configuration is unusable, as
#: the start-up code of a zygote does before any import (which stops the server's start).
MISCONFIGURED = """
NAME = "misconfigured"

from connectord.sandbox.protocol import Misconfigured, frame

control = socket.socket(fileno=os.dup(int(sys.argv[1])))
control.sendall(frame(Misconfigured("writable path /x is not writable")))
"""

#: Where ``counted`` notes each process that describes it (a path every connector may write).
DESCRIBED = Path(TEST_TEMP) / f"described-counted-{os.getpid()}"
#: Counts its descriptions: each process that describes it adds a line to DESCRIBED.
COUNTED = f"""
NAME = "counted"

if getattr(_hello(), "describe", False):
    with open({str(DESCRIBED)!r}, "a") as counts:
        counts.write("described\\n")
"""

#: Import code of its zygote reports, from a thread, the end of a process it never forked.
REAPER = """
NAME = "reaper"

import threading
import time

from connectord.sandbox.protocol import Reaped, frame


def _report(control):
    time.sleep(0.5)
    control.sendall(frame(Reaped(1, exit_code=0)))


if ZYGOTE is not None:
    control = socket.socket(fileno=os.dup(int(sys.argv[1])))
    threading.Thread(target=_report, args=(control,), daemon=True).start()
"""

#: Import code of the process that describes it sends a description whose 40 patterns each
#: take RE2 tens of milliseconds to compile (holding the GIL), bypassing its own check.
PATTERNED = """
NAME = "patterned"

if getattr(_hello(), "describe", False):
    costly = {"type": "string", "pattern": "^[\\\\p{L}\\\\p{N} _-]{1,100}%d$"}
    fields = {f"f{i}": dict(costly, pattern=costly["pattern"] % i) for i in range(40)}
    schema = {"type": "object", "properties": fields}
    info = connectord.ConnectorInfo(id=NAME, title=NAME, version="1", credentials_schema=schema)
    entry = CatalogEntry(info=info, origin="forged", hooks=frozenset({"describe_connector"}))
    body = msgspec.msgpack.encode(Ready(os.getpid(), Catalog(connectors={NAME: entry}, errors=[])))
    socket.socket(fileno=os.dup(int(sys.argv[1]))).sendall(struct.pack(">I", len(body)) + body)
"""

#: Import code of the process that describes it sends a description the connector's own
#: check would refuse: holding a MessagePack extension value (which no answer could encode),
#: or an array as its credentials schema.
ODD = """
NAME = "odd"

if getattr(_hello(), "describe", False):
    kind = os.environ.get("ODD_KIND", "")
    info = connectord.ConnectorInfo(id=NAME, title=NAME, version="1", credentials_schema={"x": "MARK"})
    entry = CatalogEntry(info=info, origin="forged", hooks=frozenset({"describe_connector"}))
    body = msgspec.msgpack.encode(Ready(os.getpid(), Catalog(connectors={NAME: entry}, errors=[])))
    odd = msgspec.msgpack.encode(msgspec.msgpack.Ext(5, b"x"))
    if {ARRAY!r}:
        body = body.replace(msgspec.msgpack.encode({"x": "MARK"}), msgspec.msgpack.encode({"type": "array"}))
    else:
        body = body.replace(msgspec.msgpack.encode("MARK"), odd)
    socket.socket(fileno=os.dup(int(sys.argv[1]))).sendall(struct.pack(">I", len(body)) + body)
"""

SOURCES = {
    "thief": THIEF,
    "extended": FORGED + ODD.replace('NAME = "odd"', 'NAME = "extended"').replace("{ARRAY!r}", "False"),
    "arrayed": FORGED + ODD.replace('NAME = "odd"', 'NAME = "arrayed"').replace("{ARRAY!r}", "True"),
    "patterned": FORGED + PATTERNED,
    "reaper": REAPER,
    "holder": HOLDER,
    "stuck": STUCK,
    "forger": FORGED + FORGER,
    "flooder": FORGED + FLOODER,
    "misconfigured": MISCONFIGURED,
    "counted": FORGED + COUNTED,
}


@pytest.fixture(scope="module")
def hostile_zygotes(connectors_on_path: InstallConnectors) -> Iterator[None]:
    sources = {name: textwrap.dedent(PREAMBLE) + textwrap.dedent(body) for name, body in SOURCES.items()}
    with connectors_on_path("zygote", sources):
        yield


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def supervisor(hostile_zygotes: None) -> AsyncIterator[Supervisor]:
    policy = SandboxPolicy(default=ConnectorPolicy(timeouts={"verify_credentials": DEADLINE}))
    sup = Supervisor(Selection(allow=frozenset({"thief", "holder"})), policy, Cgroups.detect())
    await sup.start()
    try:
        yield sup
    finally:
        await sup.close()


async def verify(supervisor: Supervisor, connector: str) -> object:
    call = Call(connector=connector, method="verify_credentials", credentials={})
    return (await supervisor.invoke(call, Redactor(set()))).outcome


async def test_a_zygote_that_took_the_request_and_died_does_not_leave_the_call_waiting(
    supervisor: Supervisor,
) -> None:
    """The spawn is tried again on a new zygote, over a new socket with the request on it:
    on the old one, a zygote had read it and nothing would ever come."""
    assert isinstance(await verify(supervisor, "thief"), Crashed)
    assert supervisor.pending_spawns == 0


async def test_a_worker_that_ended_is_a_crash_while_its_zygote_holds_its_socket(
    supervisor: Supervisor,
) -> None:
    """The kernel says when a worker ends (its pidfd): its socket need not reach its end."""
    outcome = await verify(supervisor, "holder")
    assert outcome == Crashed(exit_code=3)


@contextlib.asynccontextmanager
async def stuck_starting(callers: int) -> AsyncIterator[tuple[ZygoteClient, list[asyncio.Future[None]], int]]:
    """The zygote of ``stuck`` (its import never ends) as it starts for ``callers``, and its pid."""
    supervisor = Supervisor(Selection(allow=frozenset({"stuck"})), SandboxPolicy(), Cgroups.detect())
    try:
        client = supervisor.zygote_for("stuck")
        before = set(children())
        waiting = [asyncio.ensure_future(client.ensure_started()) for _ in range(callers)]
        while not set(children()) - before:  # launched in the first step of its start
            await asyncio.sleep(0)
        [zygote] = set(children()) - before
        yield client, waiting, zygote
    finally:
        await supervisor.close()


async def test_a_zygote_still_starting_when_its_caller_gives_up_is_killed_and_reaped(
    hostile_zygotes: None,
) -> None:
    async with stuck_starting(1) as (client, [starting], zygote):
        starting.cancel()
        with pytest.raises(asyncio.CancelledError):
            await starting
        assert zygote not in children()  # neither running nor left unreaped
        assert client.pid is None


async def test_a_zygote_starts_on_while_one_caller_of_two_gives_up(hostile_zygotes: None) -> None:
    async with stuck_starting(2) as (_, [first, second], zygote):
        first.cancel()
        with pytest.raises(asyncio.CancelledError):
            await first
        assert zygote in children() and not second.done()
        second.cancel()
        with pytest.raises(asyncio.CancelledError):
            await second
        assert zygote not in children()


@pytest.mark.parametrize("how", ["stop", "close"])
async def test_a_zygote_stopped_as_it_starts_is_killed_and_its_callers_told(
    hostile_zygotes: None, how: str
) -> None:
    async with stuck_starting(1) as (client, [starting], zygote):
        if how == "stop":
            client.stop()
        else:
            await client.close()
        with pytest.raises(ZygoteError, match="stopped as it started"):
            await starting
        assert zygote not in children()  # killed and reaped before its callers hear of it
        assert client.pid is None


def children() -> list[int]:
    """This process's children (zombies included)."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_bytes()
        except OSError:
            continue
        if int(stat.rsplit(b")", 1)[1].split()[1]) == os.getpid():
            found.append(int(entry))
    return found


async def dropped(zygote: ZygoteClient) -> None:
    """Until the server has dropped ``zygote`` (once, within 5 s)."""
    for _ in range(500):
        if zygote.restarts:
            break
        await asyncio.sleep(0.01)
    assert zygote.restarts == 1 and zygote.pid is None


@contextlib.asynccontextmanager
async def loop_watch() -> AsyncIterator[list[float]]:
    """The longest the event loop went without serving a 10 ms ticker, in seconds (its
    single element), over the block."""
    longest = [0.0]

    async def tick() -> None:
        loop = asyncio.get_running_loop()
        last = loop.time()
        while True:
            await asyncio.sleep(0.01)
            now = loop.time()
            longest[0] = max(longest[0], now - last)
            last = now

    ticker = asyncio.ensure_future(tick())
    try:
        yield longest
    finally:
        ticker.cancel()


async def test_a_forged_description_past_its_budget_is_a_load_failure_and_the_loop_goes_on(
    hostile_zygotes: None,
) -> None:
    """Decoding and checking 900,000 values held the loop for seconds (a start, or any
    reload); they are counted first, without building any, and the description refused."""
    supervisor = Supervisor(Selection(allow=frozenset({"forger"})), SandboxPolicy(), Cgroups.detect())
    try:
        async with loop_watch() as longest:
            await supervisor.start()
            await supervisor.reload()
        [error] = supervisor.catalog.errors
        assert error.name == "forger"
        assert "its description is larger than one may be: more than 50,000 values" in error.reason
        assert longest[0] < 1.0, f"the loop was held {longest[0]:.2f} s"
    finally:
        await supervisor.close()


async def test_a_zygote_that_sends_what_no_running_zygote_may_is_dropped_undecoded(
    hostile_zygotes: None,
) -> None:
    """Once ready, a zygote reports forks and exits only: a description it sends again (each
    decoded whole, then ignored, held the loop ≈ 1 s apiece) breaks the protocol at its
    header, and the zygote is replaced at the next call."""
    supervisor = Supervisor(Selection(allow=frozenset({"flooder"})), SandboxPolicy(), Cgroups.detect())
    await supervisor.start()
    try:
        async with loop_watch() as longest:
            assert not isinstance(await verify(supervisor, "flooder"), Crashed)
            zygote = supervisor.zygote_for("flooder")
            await dropped(zygote)
        assert longest[0] < 1.0, f"the loop was held {longest[0]:.2f} s"
    finally:
        await supervisor.close()


async def test_a_connector_that_says_its_configuration_is_unusable_stops_no_server(
    hostile_zygotes: None,
) -> None:
    """Only a zygote's own start-up code, before the import, tells of an unusable
    configuration (which stops the server's start, naming it): from the connector's import
    code, it is that connector's load failure."""
    supervisor = Supervisor(Selection(allow=frozenset({"misconfigured"})), SandboxPolicy(), Cgroups.detect())
    try:
        await supervisor.start()
        [error] = supervisor.catalog.errors
        assert error.name == "misconfigured"
        assert "it reported its confinement once its connector's import had begun" in error.reason
    finally:
        await supervisor.close()


async def test_a_reload_describes_again_only_what_changed_on_disk(hostile_zygotes: None) -> None:
    """Any user may ask for a reload, and each described every connector anew in confined
    processes (≈ 0.8 s of CPU for four): one unchanged on disk keeps its description."""
    DESCRIBED.unlink(missing_ok=True)
    limits = Limits(writable_paths=[TEST_TEMP])
    policy = SandboxPolicy(default=ConnectorPolicy(limits=limits))
    supervisor = Supervisor(Selection(allow=frozenset({"counted"})), policy, Cgroups.detect())
    try:
        await supervisor.start()
        assert "counted" in supervisor.catalog.connectors
        for _ in range(3):
            assert (await supervisor.reload()).changed == []
        assert DESCRIBED.read_text().count("described") == 1
        module = supervisor.zygote_for("counted").source.code_paths[0]
        os.utime(module, ns=(time.time_ns(), time.time_ns() + 10**9))  # as an upgrade leaves it
        assert (await supervisor.reload()).changed == ["counted"]
        assert DESCRIBED.read_text().count("described") == 2
    finally:
        await supervisor.close()
        DESCRIBED.unlink(missing_ok=True)


async def test_a_zygote_that_reports_the_end_of_a_process_it_never_forked_is_dropped(
    hostile_zygotes: None,
) -> None:
    """A stream of such reports (each a few bytes, for made-up pids) took 74 % of a core of
    the server's for as long as the zygote lived; one is a broken protocol now."""
    supervisor = Supervisor(Selection(allow=frozenset({"reaper"})), SandboxPolicy(), Cgroups.detect())
    await supervisor.start()
    try:
        assert not isinstance(await verify(supervisor, "reaper"), Crashed)
        zygote = supervisor.zygote_for("reaper")
        await dropped(zygote)
    finally:
        await supervisor.close()


async def test_a_description_whose_patterns_cost_too_much_to_compile_is_a_load_failure(
    hostile_zygotes: None,
) -> None:
    """Each compile holds the GIL: 300 such patterns held the loop 25 s at a reload, and again
    at every call once a flood of cheap patterns had pushed them out of the cache. Now each
    description's patterns are compiled once, within a budget, and kept."""
    supervisor = Supervisor(Selection(allow=frozenset({"patterned"})), SandboxPolicy(), Cgroups.detect())
    try:
        async with loop_watch() as longest:
            await supervisor.start()
        [error] = supervisor.catalog.errors
        assert error.name == "patterned"
        assert "its schemas' patterns take more than 0.5 s to compile" in error.reason
        assert longest[0] < 0.5, f"the loop was held {longest[0]:.2f} s"
    finally:
        await supervisor.close()


@pytest.mark.parametrize(
    ("connector", "reason"),
    [
        ("extended", "it broke the protocol (undecodable frame"),
        ("arrayed", 'invalid description: credentials_schema must have "type": "object"'),
    ],
)
async def test_a_forged_description_the_connectors_own_check_would_refuse_is_refused(
    hostile_zygotes: None, connector: str, reason: str
) -> None:
    """An extension value reached the catalog and made every listing of connectors a 500;
    the server checked only the schemas of what it was sent, not the rest of the checks."""
    supervisor = Supervisor(Selection(allow=frozenset({connector})), SandboxPolicy(), Cgroups.detect())
    try:
        await supervisor.start()
        [error] = supervisor.catalog.errors
        assert error.name == connector and reason in error.reason, error.reason
        assert not supervisor.catalog.connectors
    finally:
        await supervisor.close()
