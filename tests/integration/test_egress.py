"""The egress policy against real listeners on loopback: each refused class is refused
before any connection is made (the listeners count what reaches them), redirects are
checked again, names are judged by what they resolve to, and the configuration allows
what it names. Through the helper connector authors use (``connectord.http_session``,
``connectord.egress.check``) and through the bundled connectors in real sandbox workers.

Addresses outside this machine (169.254.169.254, 10.0.0.1) are only ever given to code
that refuses them before connecting: no test sends traffic off loopback."""

from __future__ import annotations

import re
import socket
import socketserver
import threading
from collections.abc import AsyncIterator, Iterator
from typing import Any

import aiohttp
import pytest
import pytest_asyncio
from aiohttp import web

import connectord
from connectord.connectors.shop.demo import DEMO_KEY, DEMO_SECRET, serve_in_thread
from connectord.plugins.egress_policy import EgressPolicy
from connectord.plugins.manager import Selection
from connectord.runtime.calls import run_in_sandbox
from connectord.sandbox.calls import Call
from connectord.sandbox.cgroups import Cgroups
from connectord.sandbox.outcomes import Rejected, Succeeded
from connectord.sandbox.supervisor import Supervisor

pytestmark = pytest.mark.asyncio(loop_scope="module")

LOCAL_RESOLVES = r"localhost resolves to (127\.0\.0\.1|::1), a loopback address"


class Tap:
    """A listener that counts the connections it accepts and answers each with a short
    HTTP 200: anything that reaches it is counted, whatever it speaks."""

    def __init__(self, host: str) -> None:
        hits = self.hits = []

        class Handler(socketserver.BaseRequestHandler):
            def handle(self) -> None:
                hits.append(self.client_address)
                self.request.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok")

        class Server(socketserver.ThreadingTCPServer):
            address_family = socket.AF_INET6 if ":" in host else socket.AF_INET
            daemon_threads = True

        self.server = Server((host, 0), Handler)
        self.port: int = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture(scope="module")
def tap() -> Iterator[Tap]:
    listener = Tap("127.0.0.1")
    yield listener
    listener.close()


@pytest.fixture(scope="module")
def tap6() -> Iterator[Tap]:
    try:
        listener = Tap("::1")
    except OSError as exc:  # pragma: no cover - every machine here has IPv6 loopback
        pytest.skip(f"no IPv6 loopback: {exc}")
    yield listener
    listener.close()


@pytest.fixture(scope="module")
def allowed(tap: Tap) -> Iterator[tuple[str, list[str]]]:
    """An HTTP server the tests' configuration allows; ``/go`` redirects to the tap."""
    seen: list[str] = []

    async def hello(request: web.Request) -> web.Response:
        seen.append(request.path)
        return web.json_response({"hello": "world"})

    async def go(request: web.Request) -> web.Response:
        seen.append(request.path)
        raise web.HTTPFound(f"http://127.0.0.1:{tap.port}/stolen")

    app = web.Application()
    app.router.add_get("/hello", hello)
    app.router.add_get("/go", go)
    with serve_in_thread(app) as url:
        yield url, seen


# --- the helper connector authors use, in this process ------------------------------------------


def refused_urls(tap: Tap, tap6: Tap) -> list[tuple[str, str]]:
    return [
        (f"http://127.0.0.1:{tap.port}/", r"^127\.0\.0\.1 is a loopback address; add it to \[egress\] allow"),
        (f"http://0.0.0.0:{tap.port}/", r"^0\.0\.0\.0 is an unspecified address"),
        (f"http://[::1]:{tap6.port}/", r"^::1 is a loopback address"),
        (f"http://[::ffff:127.0.0.1]:{tap.port}/", r"^127\.0\.0\.1 is a loopback address"),
        (f"http://localhost:{tap.port}/", LOCAL_RESOLVES),
        (f"http://LocalHost:{tap.port}/", r"resolves to (127\.0\.0\.1|::1), a loopback address"),
    ]


async def test_the_session_helper_refuses_each_class_before_connecting(tap: Tap, tap6: Tap) -> None:
    before = len(tap.hits), len(tap6.hits)
    outside = [
        ("http://169.254.169.254/latest/meta-data/", r"^169\.254\.169\.254 is a link-local address"),
        ("http://10.0.0.1/", r"^10\.0\.0\.1 is a private address"),
        ("http://100.64.0.1/", r"^100\.64\.0\.1 is a private address"),
        ("http://[fd00::1]/", r"^fd00::1 is a unique-local address"),
        ("http://[fe80::1]/", r"^fe80::1 is a link-local address"),
    ]
    async with connectord.http_session(timeout=aiohttp.ClientTimeout(total=5)) as session:
        for url, message in [*refused_urls(tap, tap6), *outside]:
            with pytest.raises(connectord.EgressRefused, match=message):
                await session.get(url)
    assert (len(tap.hits), len(tap6.hits)) == before


async def test_the_session_helper_checks_each_redirect(tap: Tap, allowed: tuple[str, list[str]]) -> None:
    url, seen = allowed
    port = int(url.rsplit(":", 1)[1])
    before = len(tap.hits)
    policy = EgressPolicy.parse([f"127.0.0.1:{port}"])
    async with connectord.http_session(policy) as session:
        async with session.get(f"{url}/hello") as answer:
            assert await answer.json() == {"hello": "world"}
        with pytest.raises(connectord.EgressRefused, match=r"^127\.0\.0\.1 is a loopback address"):
            await session.get(f"{url}/go")  # aiohttp follows the redirect to the tap
    assert seen[-2:] == ["/hello", "/go"] and len(tap.hits) == before


async def test_what_the_configuration_allows_is_reached(tap: Tap) -> None:
    before = len(tap.hits)
    for entries in ([f"127.0.0.1:{tap.port}"], ["127.0.0.0/8", "::1"], [f"localhost:{tap.port}"]):
        session = connectord.http_session(EgressPolicy.parse(entries))
        async with session, session.get(f"http://localhost:{tap.port}/") as answer:
            assert answer.status == 200 and await answer.text() == "ok"
    assert len(tap.hits) == before + 3
    # another port of an allowed address stays refused
    async with connectord.http_session(EgressPolicy.parse([f"127.0.0.1:{tap.port + 1}"])) as session:
        with pytest.raises(connectord.EgressRefused):
            await session.get(f"http://127.0.0.1:{tap.port}/")


async def test_check_resolves_a_name_once_and_judges_what_it_resolved_to(tap: Tap) -> None:
    with pytest.raises(connectord.EgressRefused, match=LOCAL_RESOLVES):
        connectord.egress.check("localhost", tap.port)
    with pytest.raises(connectord.EgressRefused, match="link-local"):
        connectord.egress.check("169.254.169.254", 80)
    addresses = connectord.egress.check("localhost", tap.port, EgressPolicy.parse(["127.0.0.1", "::1"]))
    assert set(addresses) <= {"127.0.0.1", "::1"} and addresses
    assert connectord.egress.check("[::1]", 1, EgressPolicy.parse(["::1"])) == ["::1"]


# --- the bundled connectors, in sandbox workers ----------------------------------------------------


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def supervisor(allowed: tuple[str, list[str]]) -> AsyncIterator[Supervisor]:
    """Workers whose configuration allows the ``allowed`` server only."""
    port = allowed[0].rsplit(":", 1)[1]
    selection = Selection(allow=frozenset({"webservice", "sql", "shop"}))
    sup = Supervisor(selection, None, Cgroups.detect(), egress_allow=[f"127.0.0.1:{port}"])
    await sup.start()
    try:
        yield sup
    finally:
        await sup.close()


async def invoke(supervisor: Supervisor, connector: str, method: str, **fields: Any) -> Any:
    return (await run_in_sandbox(supervisor, Call(connector=connector, method=method, **fields))).outcome


async def call_endpoint(supervisor: Supervisor, url: str) -> Any:
    job = "callWebserviceEndpoint"
    return await invoke(supervisor, "webservice", "run_job", action=job, cfg={"url": url})


async def test_call_webservice_endpoint_is_refused_each_class(
    supervisor: Supervisor, tap: Tap, tap6: Tap
) -> None:
    before = len(tap.hits), len(tap6.hits)
    for url, message in refused_urls(tap, tap6):
        outcome = await call_endpoint(supervisor, url)
        assert isinstance(outcome, Rejected) and outcome.error_type == "EgressRefused", (url, outcome)
        assert re.search(message, outcome.message), (url, outcome.message)
    assert (len(tap.hits), len(tap6.hits)) == before


async def test_a_job_reaches_what_is_allowed_but_no_redirect_to_what_is_not(
    supervisor: Supervisor, tap: Tap, allowed: tuple[str, list[str]]
) -> None:
    url, seen = allowed
    before = len(tap.hits)
    reached = await call_endpoint(supervisor, f"{url}/hello")
    assert isinstance(reached, Succeeded) and reached.data["data"]["body"] == {"hello": "world"}
    redirected = await call_endpoint(supervisor, f"{url}/go")
    assert isinstance(redirected, Rejected) and redirected.error_type == "EgressRefused"
    assert redirected.message.startswith("127.0.0.1 is a loopback address")
    assert seen[-2:] == ["/hello", "/go"] and len(tap.hits) == before


async def test_verify_credentials_of_each_connector_is_refused_naming_the_field(
    supervisor: Supervisor, tap: Tap
) -> None:
    before = len(tap.hits)
    local = f"127.0.0.1:{tap.port}"
    cases = [
        ("webservice", {"auth": "none", "check_url": f"http://{local}/"}, "check_url"),
        ("shop", {"url": f"http://{local}", "consumer_key": DEMO_KEY, "consumer_secret": DEMO_SECRET}, "url"),
        ("sql", {"url": f"postgresql://postgres@{local}/postgres"}, "url"),
    ]
    for connector, credentials, field in cases:
        outcome = await invoke(supervisor, connector, "verify_credentials", credentials=credentials)
        assert isinstance(outcome, Succeeded), outcome
        assert outcome.data["verified"] is False, (connector, outcome.data)
        assert outcome.data["failure"] == {"kind": "config", "field": field}, connector
        assert "127.0.0.1 is a loopback address" in outcome.data["message"], connector
    assert len(tap.hits) == before


@pytest.mark.parametrize(
    ("netloc", "message"),
    [
        ("localhost:{port}", LOCAL_RESOLVES),
        ("0.0.0.0:{port}", r"0\.0\.0\.0 is an unspecified address"),
        ("", r"url names a local socket, which reaches this machine as 127\.0\.0\.1 does: 127\.0\.0\.1 is a"),
        ("[::ffff:127.0.0.1]:{port}", r"127\.0\.0\.1 is a loopback address"),
    ],
)
async def test_sql_never_opens_a_connection_the_policy_refuses(
    supervisor: Supervisor, tap: Tap, netloc: str, message: str
) -> None:
    before = len(tap.hits)
    credentials = {"url": f"postgresql://postgres@{netloc.format(port=tap.port)}/postgres"}
    verdict = await invoke(supervisor, "sql", "verify_credentials", credentials=credentials)
    assert isinstance(verdict, Succeeded) and verdict.data["verified"] is False
    assert re.search(message, verdict.data["message"]), verdict.data
    query = await invoke(
        supervisor, "sql", "run_job", action="runQuery", cfg={"query": "SELECT 1"}, credentials=credentials
    )
    assert isinstance(query, Rejected), query
    assert len(tap.hits) == before

