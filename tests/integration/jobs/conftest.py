"""The jobs API on a real loopback server: the sandbox runs the jobber test connector and
the bundled webservice connector, the store is a real SQLite file, users have real keys."""

from __future__ import annotations

import asyncio
import base64
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from tests.conftest import TEST_TEMP

from connectord.api.app import create_app
from connectord.api.keys import JOBS, NODE
from connectord.api.webhooks import HttpWebhooks
from connectord.plugins.manager import Selection
from connectord.runtime.config import Settings
from connectord.runtime.jobs.service import Jobs
from connectord.runtime.node import Node
from connectord.runtime.secrets import SecretBox, hash_api_key, load_secret_box, new_api_key
from connectord.runtime.store import open_store
from connectord.runtime.store.records import AccountRecord
from connectord.sandbox.cgroups import Cgroups
from connectord.sandbox.policy import ConnectorPolicy, SandboxPolicy
from connectord.sandbox.protocol import Limits
from connectord.sandbox.supervisor import Supervisor

SOURCE = Path(__file__).with_name("jobber_connector.py")


@pytest.fixture(scope="session")
def jobber_site(connector_site: Callable[[str, Path, dict[str, str]], Path]) -> Path:
    return connector_site("connectord_jobber", SOURCE, {"jobber": "connectord_jobber"})


@pytest.fixture
def jobber_on_path(
    jobber_site: Path, site_on_path: Callable[[Path], AbstractContextManager[None]]
) -> Iterator[None]:
    with site_on_path(jobber_site):
        yield


@dataclass
class Clock:
    """Real time plus an offset a test can move forward."""

    offset: float = 0.0

    def __call__(self) -> float:
        return time.time() + self.offset


@dataclass
class JobsApi:
    client: TestClient
    settings: Settings
    box: SecretBox
    clock: Clock
    headers: dict[str, str] = field(default_factory=dict)
    keys: dict[str, str] = field(default_factory=dict)

    @property
    def jobs(self) -> Jobs:
        return self.client.app[JOBS]

    @property
    def node(self) -> Node:
        return self.client.app[NODE]

    def add_user(self, email: str, tenant: str) -> dict[str, str]:
        store = open_store(self.settings)
        key = new_api_key()
        try:
            store.add_user(email, tenant, hash_api_key(key), time.time())
        finally:
            store.close()
        self.keys[email] = key
        token = base64.b64encode(f"{email}:{key}".encode()).decode()
        return {"Authorization": f"Basic {token}"}

    def add_account(self, email: str, keys: dict[str, Any], component: str) -> str:
        store = open_store(self.settings)
        try:
            principal = store.principal(hash_api_key(self.keys[email]))
            assert principal is not None
            tenant = principal.tenant_id
            account_id = f"acc-{time.monotonic_ns()}"
            now = time.time()
            store.add_account(
                AccountRecord(account_id, tenant, "test", component, self.box.seal_json(keys), now, now)
            )
        finally:
            store.close()
        return account_id

    async def call(self, method: str, path: str, status: int, **kwargs: Any) -> Any:
        kwargs.setdefault("headers", self.headers)
        response = await self.client.request(method, path, **kwargs)
        body = await response.text()
        assert response.status == status, body
        return await response.json() if body and response.content_type == "application/json" else body

    async def finished(self, job_id: str, wait: float = 30.0) -> dict[str, Any]:
        """The job once it is over (long-polls; no sleeping)."""
        deadline = time.monotonic() + wait
        while True:
            job = await self.call("GET", f"/v1/jobs/{job_id}?wait=10", 200)
            if job["status"] not in ("WAITING", "STARTED") or time.monotonic() > deadline:
                return job

    async def until(self, check: Callable[[], Awaitable[bool]], wait: float = 20.0) -> None:
        """Wait for a condition another process brings about (a worker starting)."""
        deadline = time.monotonic() + wait
        while not await check():
            assert time.monotonic() < deadline, "condition not reached in time"
            await asyncio.sleep(0.02)


ServeJobs = Callable[[Settings, Selection], Awaitable[JobsApi]]


@pytest.fixture
def serve_jobs(aiohttp_client: Callable[..., Any]) -> ServeJobs:
    """Start a server on ``settings``' store whose sandbox loads the connectors ``selection``
    admits (another server on the same store sees another catalog)."""

    async def serve(settings: Settings, selection: Selection) -> JobsApi:
        # pytest's temporary directories: tests hand connectors files there
        limits = Limits(writable_paths=[TEST_TEMP])
        policy = SandboxPolicy(concurrency=2, grace=0.2, default=ConnectorPolicy(limits=limits))
        supervisor = Supervisor(selection, policy, Cgroups(None, None), settings.egress_allow)
        box = load_secret_box(settings.data_dir, None)
        clock = Clock()
        node = Node(settings, supervisor, open_store(settings), box, clock, HttpWebhooks.of(settings))
        app = create_app(node)
        return JobsApi(await aiohttp_client(app), settings, box, clock)

    return serve


@pytest.fixture
async def jobs_api(
    serve_jobs: ServeJobs,
    tmp_path: Path,
    jobber_on_path: None,
    request: pytest.FixtureRequest,
    loopback_egress: tuple[str, ...],
) -> AsyncIterator[JobsApi]:
    marker = request.node.get_closest_marker("settings")
    # Webhook receivers and endpoints are on loopback: allowed here unless a test says otherwise.
    fields = {"max_body_bytes": 64 * 1024, "egress_allow": loopback_egress}
    fields.update(marker.kwargs if marker else {})
    settings = Settings(data_dir=tmp_path / "data", **fields)
    api = await serve_jobs(settings, Selection(allow=frozenset({"jobber", "webservice"})))
    api.headers = api.add_user("ops@example.com", "acme")
    yield api
