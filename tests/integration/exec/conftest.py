"""An exec API on a real loopback server: the sandbox runs the echo connector, the store is
a real SQLite file, users have real API keys."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient
from tests.conftest import TEST_TEMP

from connectord.api.app import create_app
from connectord.plugins.manager import Selection
from connectord.runtime import log_context
from connectord.runtime.config import Settings
from connectord.runtime.dispatch import Dispatcher
from connectord.runtime.node import Node
from connectord.runtime.secrets import SecretBox, hash_api_key, load_secret_box, new_api_key
from connectord.runtime.store import open_store
from connectord.runtime.store.records import AccountRecord
from connectord.sandbox.cgroups import Cgroups
from connectord.sandbox.policy import ConnectorPolicy, SandboxPolicy
from connectord.sandbox.protocol import Limits
from connectord.sandbox.supervisor import Supervisor

SOURCE = Path(__file__).with_name("echo_connector.py")


@dataclass
class HeldEndpoint:
    """A loopback HTTP endpoint (``url``) that holds each request until ``release`` is set
    (30 s at most); ``arrived`` is set at the first request."""

    url: str
    arrived: asyncio.Event
    release: asyncio.Event


@pytest.fixture
async def held_endpoint(aiohttp_server: Callable[..., Any]) -> HeldEndpoint:
    arrived, release = asyncio.Event(), asyncio.Event()

    async def hold(request: web.Request) -> web.Response:
        arrived.set()
        await asyncio.wait_for(release.wait(), 30)
        return web.Response(text="held")

    endpoint = web.Application()
    endpoint.router.add_get("/hold", hold)
    server = await aiohttp_server(endpoint)
    return HeldEndpoint(str(server.make_url("/hold")), arrived, release)


@dataclass
class ExecutionLines:
    """What the executions' work logs, each line with the log ids in context as it was
    logged (its execution's task logs it); ``grew`` is set at each line."""

    lines: list[tuple[str, dict[str, str]]] = field(default_factory=list)
    grew: asyncio.Event = field(default_factory=asyncio.Event)

    def ids_of(self, message: str) -> list[dict[str, str]]:
        return [ids for logged, ids in self.lines if logged.startswith(message)]

    async def wait_for(self, message: str, execution_id: str) -> None:
        while not any(ids.get("execution_id") == execution_id for ids in self.ids_of(message)):
            self.grew.clear()
            await asyncio.wait_for(self.grew.wait(), 20)


@contextlib.contextmanager
def execution_lines() -> Iterator[ExecutionLines]:
    """The executions' work's log lines within (INFO and up)."""
    found = ExecutionLines()

    class Collect(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            found.lines.append((record.getMessage(), log_context.current()))
            found.grew.set()

    handler, logger = Collect(), logging.getLogger("connectord.runtime.executions.work")
    level = logger.level
    logger.setLevel(logging.INFO)  # clears the loggers' cache of who logs what
    logger.addHandler(handler)
    try:
        yield found
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)


@pytest.fixture(scope="session")
def echo_site(connector_site: Callable[[str, Path, dict[str, str]], Path]) -> Path:
    return connector_site("connectord_echo", SOURCE, {"echo": "connectord_echo"})


@pytest.fixture
def echo_on_path(
    echo_site: Path, site_on_path: Callable[[Path], AbstractContextManager[None]]
) -> Iterator[None]:
    with site_on_path(echo_site):
        yield


@dataclass
class Clock:
    """Real time plus an offset a test can move forward."""

    offset: float = 0.0

    def __call__(self) -> float:
        return time.time() + self.offset


@dataclass
class Api:
    client: TestClient
    settings: Settings
    box: SecretBox
    clock: Clock
    users: dict[str, str] = field(default_factory=dict)

    def add_user(self, email: str, tenant: str) -> dict[str, str]:
        """A user with a fresh key; returns Basic auth headers for it."""
        store = open_store(self.settings)
        key = new_api_key()
        try:
            store.add_user(email, tenant, hash_api_key(key), time.time())
        finally:
            store.close()
        self.users[email] = key
        return basic(email, key)

    def add_account(self, headers: dict[str, str], keys: dict[str, Any], component: str = "echo") -> str:
        """An account stored for the tenant of the user behind ``headers``."""
        email = base64.b64decode(headers["Authorization"].split()[1]).decode().split(":")[0]
        store = open_store(self.settings)
        try:
            principal = store.principal(hash_api_key(self.users[email]))
            assert principal is not None
            account_id = f"acc-{len(keys)}-{time.monotonic_ns()}"
            now = time.time()
            store.add_account(
                AccountRecord(
                    account_id, principal.tenant_id, "test", component, self.box.seal_json(keys), now, now
                )
            )
        finally:
            store.close()
        return account_id


def basic(email: str, key: str) -> dict[str, str]:
    token = base64.b64encode(f"{email}:{key}".encode()).decode()
    return {"Authorization": f"Basic {token}"}


@pytest.fixture
async def api(
    aiohttp_client: Callable[..., Any], tmp_path: Path, echo_on_path: None, request: pytest.FixtureRequest
) -> AsyncIterator[Api]:
    marker = request.node.get_closest_marker("settings")
    fields = {"max_body_bytes": 64 * 1024, "result_retention": 600, **(marker.kwargs if marker else {})}
    components = request.node.get_closest_marker("components")
    allow = frozenset(components.args if components else ("echo",))
    settings = Settings(data_dir=tmp_path, **fields)
    limits = request.node.get_closest_marker("limits")
    # pytest's temporary directories: where tests hand the connector files
    given = {"writable_paths": [TEST_TEMP], **(limits.kwargs if limits else {})}
    sandbox = request.node.get_closest_marker("sandbox")
    policy = SandboxPolicy(
        **{"concurrency": 2, "grace": 0.2, **(sandbox.kwargs if sandbox else {})},
        default=ConnectorPolicy(limits=Limits(**given), timeouts={"verify_credentials": 20}),
    )
    supervisor = Supervisor(Selection(allow=allow), policy, Cgroups(None, None))
    box = load_secret_box(tmp_path, None)
    clock = Clock()
    app = create_app(Node(settings, supervisor, open_store(settings), box, clock))
    client = await aiohttp_client(app)
    yield Api(client, settings, box, clock)


def claim_loop(dispatcher: Dispatcher[Any]) -> asyncio.Task[Any]:
    """The node's task running ``dispatcher.forever()``."""
    for task in asyncio.all_tasks():
        coroutine: Any = task.get_coro()
        forever = getattr(coroutine, "__qualname__", "") == "Dispatcher.forever"
        if forever and coroutine.cr_frame.f_locals.get("self") is dispatcher:
            return task
    raise AssertionError("no claim loop runs for this dispatcher")
