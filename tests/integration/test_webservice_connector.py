"""The webservice connector against a real HTTP server on loopback (no mocks).

The server runs in a thread with its own event loop, so the same server serves both async
tests (``await call_endpoint(...)``) and sync tests that go through ``run_call``, which
starts its own loop with ``asyncio.run``.
"""

from __future__ import annotations

import asyncio
import base64
import socket
import threading
from collections.abc import Iterator
from typing import Any

import msgspec
import pytest
from aiohttp import web

from connectord.connectors.webservice import (
    EndpointTimeoutError,
    EndpointUnreachableError,
    ResponseTooLargeError,
    call_endpoint,
    parse_request,
)
from connectord.plugins.errors import ConfigError, ConnectorError, UpstreamError
from connectord.plugins.manager import ConnectorRegistry, Selection, load_connectors
from connectord.plugins.types import SelectQuery
from connectord.runtime.calls import InvalidCallError, run_call
from connectord.sandbox.calls import Call
from connectord.sandbox.outcomes import Succeeded

# Their servers are on loopback, which the egress policy refuses unless allowed.
pytestmark = pytest.mark.usefixtures("loopback_egress")

USER, PASSWORD = "shop", "pa55-w0rd-basic"
TOKEN = "tok-bearer-9f8e7d6c"
API_KEY = "key-api-1a2b3c4d"
WRONG = "wrong-secret-zz99"
ALL_SECRETS = (PASSWORD, TOKEN, API_KEY, WRONG)


# --- the server ------------------------------------------------------------------------


def _unauthorized(scheme: str) -> web.Response:
    return web.json_response({"error": "unauthorized"}, status=401, headers={"WWW-Authenticate": scheme})


async def echo(request: web.Request) -> web.Response:
    """Everything the client sent, as JSON."""
    return web.json_response(
        {
            "method": request.method,
            "path": request.path,
            "query": [[k, v] for k, v in request.query.items()],
            "headers": dict(request.headers),
            "body": await request.text(),
        }
    )


async def basic(request: web.Request) -> web.Response:
    expected = "Basic " + base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
    if request.headers.get("Authorization") != expected:
        return _unauthorized('Basic realm="test"')
    return await echo(request)


async def bearer(request: web.Request) -> web.Response:
    if request.headers.get("Authorization") != f"Bearer {TOKEN}":
        return _unauthorized("Bearer")
    return await echo(request)


async def api_key(request: web.Request) -> web.Response:
    header = request.query.get("header", "X-API-Key")
    if request.headers.get(header) != API_KEY:
        return _unauthorized("ApiKey")
    return await echo(request)


async def forbidden(request: web.Request) -> web.Response:
    return web.Response(status=403, text="forbidden")


async def status(request: web.Request) -> web.Response:
    return web.Response(status=int(request.match_info["code"]), text="status")


async def slow(request: web.Request) -> web.Response:
    await asyncio.sleep(float(request.query.get("seconds", "3")))
    return web.Response(text="late")


async def xml(request: web.Request) -> web.Response:
    return web.Response(text="<order><id>7</id></order>", content_type="application/xml")


async def big(request: web.Request) -> web.StreamResponse:
    size = int(request.query["size"])
    if request.query.get("chunked"):
        # No Content-Length: the cap must hold while streaming.
        resp = web.StreamResponse()
        resp.enable_chunked_encoding()
        await resp.prepare(request)
        for _ in range(size // 1024):
            await resp.write(b"x" * 1024)
        await resp.write_eof()
        return resp
    return web.Response(body=b"x" * size, content_type="application/octet-stream")


async def not_json(request: web.Request) -> web.Response:
    return web.Response(text="{oops", content_type="application/json")


async def loop(request: web.Request) -> web.Response:
    raise web.HTTPFound("/loop")


async def redirect(request: web.Request) -> web.Response:
    code = int(request.query.get("code", "302"))
    return web.Response(status=code, headers={"Location": request.query["to"]})


def make_app() -> web.Application:
    app = web.Application()
    app.router.add_route("*", "/echo", echo)
    app.router.add_route("*", "/basic", basic)
    app.router.add_route("*", "/bearer", bearer)
    app.router.add_route("*", "/apikey", api_key)
    app.router.add_get("/forbidden", forbidden)
    app.router.add_get("/status/{code}", status)
    app.router.add_get("/slow", slow)
    app.router.add_get("/xml", xml)
    app.router.add_get("/big", big)
    app.router.add_get("/notjson", not_json)
    app.router.add_route("*", "/redirect", redirect)
    app.router.add_get("/loop", loop)
    return app


class ThreadedServer:
    """An aiohttp server on 127.0.0.1 with its own loop in a daemon thread."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        # handler_cancellation: a slow handler stops when the timed-out client goes away,
        # so shutting down does not wait for it.
        self.runner = web.AppRunner(make_app(), shutdown_timeout=1.0, handler_cancellation=True)
        self.url = ""

    def _run(self, coro: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(10)

    def start(self) -> str:
        self.thread.start()
        self._run(self.runner.setup())
        self._run(web.TCPSite(self.runner, "127.0.0.1", 0).start())
        host, port = self.runner.addresses[0][:2]
        self.url = f"http://{host}:{port}"
        return self.url

    def stop(self) -> None:
        self._run(self.runner.cleanup())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
        self.loop.close()


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    srv = ThreadedServer()
    try:
        yield srv.start()
    finally:
        srv.stop()


@pytest.fixture(scope="module")
def other_server() -> Iterator[str]:
    """A second server: another port is another origin."""
    srv = ThreadedServer()
    try:
        yield srv.start()
    finally:
        srv.stop()


@pytest.fixture
def closed_port() -> int:
    """A loopback port nothing listens on (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="module")
def registry() -> ConnectorRegistry:
    reg = load_connectors(Selection(allow=frozenset({"webservice"}), entry_points=False))
    assert reg.errors == []
    return reg


def verify(registry: ConnectorRegistry, credentials: dict[str, Any]) -> dict[str, Any]:
    call = Call(connector="webservice", method="verify_credentials", credentials=credentials)
    outcome = run_call(registry, call)
    assert isinstance(outcome, Succeeded), outcome
    _assert_no_secret(outcome)
    return outcome.data


def _assert_no_secret(value: Any, secrets: tuple[str, ...] = ALL_SECRETS) -> None:
    text = value if isinstance(value, str) else msgspec.json.encode(value).decode()
    for secret in secrets:
        assert secret not in text
        assert base64.b64encode(secret.encode()).decode() not in text


def _failure(result: dict[str, Any]) -> tuple[str, str | None]:
    assert result["verified"] is False
    return result["failure"]["kind"], result["failure"].get("field")


# --- verify_credentials through the runtime --------------------------------------------


GOOD = {
    "basic": {"auth": "basic", "username": USER, "password": PASSWORD},
    "bearer": {"auth": "bearer", "token": TOKEN},
    "api_key": {"auth": "api_key", "api_key": API_KEY},
}
WRONG_SECRET = {"basic": "password", "bearer": "token", "api_key": "api_key"}
PATHS = {"basic": "/basic", "bearer": "/bearer", "api_key": "/apikey"}


@pytest.mark.parametrize("kind", sorted(GOOD))
def test_verify_accepts_good_credentials(registry: ConnectorRegistry, server: str, kind: str) -> None:
    result = verify(registry, {**GOOD[kind], "check_url": server + PATHS[kind]})
    assert result["verified"] is True
    assert "200" in result["message"]


@pytest.mark.parametrize("kind", sorted(GOOD))
def test_verify_refuses_wrong_secret_naming_its_field(
    registry: ConnectorRegistry, server: str, kind: str
) -> None:
    field = WRONG_SECRET[kind]
    result = verify(registry, {**GOOD[kind], field: WRONG, "check_url": server + PATHS[kind]})
    assert _failure(result) == ("auth", field)
    assert "401" in result["message"]


def test_verify_basic_with_wrong_username(registry: ConnectorRegistry, server: str) -> None:
    creds = {**GOOD["basic"], "username": "nobody", "check_url": server + "/basic"}
    assert _failure(verify(registry, creds)) == ("auth", "password")


def test_verify_api_key_in_a_custom_header(registry: ConnectorRegistry, server: str) -> None:
    url = server + "/apikey?header=X-Shop-Key"
    assert verify(registry, {**GOOD["api_key"], "check_url": url})["verified"] is False
    creds = {**GOOD["api_key"], "header_name": "X-Shop-Key", "check_url": url}
    assert verify(registry, creds)["verified"] is True


def test_verify_403_is_an_auth_failure(registry: ConnectorRegistry, server: str) -> None:
    result = verify(registry, {**GOOD["bearer"], "check_url": server + "/forbidden"})
    assert _failure(result) == ("auth", "token")
    assert "403" in result["message"]


def test_verify_without_auth_against_a_protected_endpoint(registry: ConnectorRegistry, server: str) -> None:
    result = verify(registry, {"check_url": server + "/bearer"})
    assert _failure(result) == ("auth", "auth")
    assert "'none'" in result["message"]


def test_verify_with_relative_check_url_and_base_url(registry: ConnectorRegistry, server: str) -> None:
    creds = {**GOOD["bearer"], "base_url": server, "check_url": "bearer"}
    assert verify(registry, creds)["verified"] is True


def test_verify_connection_refused(registry: ConnectorRegistry, closed_port: int) -> None:
    creds = {**GOOD["bearer"], "check_url": f"http://127.0.0.1:{closed_port}/x"}
    result = verify(registry, creds)
    assert _failure(result) == ("network", "check_url")
    assert "Connection refused" in result["message"]


def test_verify_dns_failure(registry: ConnectorRegistry) -> None:
    creds = {**GOOD["bearer"], "check_url": "http://no-such-host.invalid/", "check_timeout": 5}
    assert _failure(verify(registry, creds)) == ("network", "check_url")


def test_verify_timeout(registry: ConnectorRegistry, server: str) -> None:
    creds = {**GOOD["bearer"], "check_url": server + "/slow?seconds=3", "check_timeout": 0.2}
    result = verify(registry, creds)
    assert _failure(result) == ("network", "check_url")
    assert "0.2 s" in result["message"]


@pytest.mark.parametrize(
    ("code", "kind"), [(404, "config"), (405, "config"), (500, "network"), (503, "network")]
)
def test_verify_other_statuses_name_the_status(
    registry: ConnectorRegistry, server: str, code: int, kind: str
) -> None:
    result = verify(registry, {"check_url": f"{server}/status/{code}"})
    assert _failure(result) == (kind, "check_url")
    assert str(code) in result["message"]


def test_verify_does_not_follow_redirects(registry: ConnectorRegistry, server: str) -> None:
    # An unauthenticated client sent to a login page that answers 200 is not "verified".
    creds = {"check_url": f"{server}/redirect?to=/echo%3Fnext%3D{TOKEN}"}
    result = verify(registry, creds)
    assert _failure(result) == ("config", "check_url")
    assert "302" in result["message"] and "redirects to /echo" in result["message"]


def test_verify_with_head(registry: ConnectorRegistry, server: str) -> None:
    creds = {**GOOD["bearer"], "check_url": server + "/bearer", "check_method": "HEAD"}
    assert verify(registry, creds)["verified"] is True


def test_verify_does_not_read_a_huge_body(registry: ConnectorRegistry, server: str) -> None:
    size = 12 * 1024 * 1024  # over the 10 MB cap of call_endpoint
    assert verify(registry, {"check_url": f"{server}/big?size={size}"})["verified"] is True


def test_verify_without_check_url(registry: ConnectorRegistry) -> None:
    assert _failure(verify(registry, GOOD["bearer"])) == ("config", "check_url")


def test_verify_with_a_non_http_check_url(registry: ConnectorRegistry) -> None:
    result = verify(registry, {"check_url": "ftp://127.0.0.1/x"})
    assert _failure(result) == ("config", "check_url")


def test_verify_missing_secret_is_caught_by_the_schema(registry: ConnectorRegistry, server: str) -> None:
    result = verify(registry, {"auth": "basic", "username": USER, "check_url": server + "/basic"})
    assert _failure(result) == ("config", "password")


def test_secrets_never_reach_messages_of_any_failure(
    registry: ConnectorRegistry, server: str, closed_port: int
) -> None:
    urls = [
        server + "/forbidden",
        server + "/status/500",
        server + "/slow?seconds=3",
        f"http://127.0.0.1:{closed_port}/",
        f"http://{USER}:{PASSWORD}@127.0.0.1:{closed_port}/?key={API_KEY}",
    ]
    for url in urls:
        for creds in GOOD.values():
            result = verify(registry, {**creds, "check_url": url, "check_timeout": 0.2})
            assert result["verified"] is False


# --- get_meta_model and select_model through the runtime -------------------------------


def test_get_meta_model_through_the_runtime(registry: ConnectorRegistry) -> None:
    cfg = {"url": "/orders", "method": "POST", "body_type": "xml", "response_sample": {"id": 1}}
    call = Call(connector="webservice", method="get_meta_model", action="call", cfg=cfg)
    outcome = run_call(registry, call)
    assert isinstance(outcome, Succeeded), outcome
    assert outcome.data["in"]["properties"]["body"]["type"] == "string"
    body = outcome.data["out"]["properties"]["body"]
    assert body == {"type": "object", "properties": {"id": {"type": "integer"}}}


def test_get_meta_model_bad_cfg_is_refused_naming_the_field(registry: ConnectorRegistry) -> None:
    # The action's config_schema is checked before any connector code runs.
    cfg = {"url": "https://example.com", "body_type": "yaml"}
    call = Call(connector="webservice", method="get_meta_model", action="call", cfg=cfg)
    refusal = "configuration field 'body_type' of 'call' fails 'enum'"
    with pytest.raises(InvalidCallError, match=refusal) as bad:
        run_call(registry, call)
    assert bad.value.field == "cfg.body_type"


def test_select_model_pages_through_methods(registry: ConnectorRegistry) -> None:
    def page(cursor: str | None) -> dict[str, Any]:
        query = SelectQuery(cursor=cursor, limit=4)
        call = Call(
            connector="webservice",
            method="select_model",
            action="call",
            model_method="methods",
            query=query,
        )
        outcome = run_call(registry, call)
        assert isinstance(outcome, Succeeded), outcome
        return outcome.data

    first = page(None)
    second = page(first["next_cursor"])
    values = [o["value"] for o in first["options"] + second["options"]]
    assert values == ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"]
    assert second["next_cursor"] is None


# --- call_endpoint directly ------------------------------------------------------------


async def test_json_body_query_and_headers_are_sent(server: str) -> None:
    request = parse_request(
        {
            "url": server + "/echo?fixed=1",
            "method": "POST",
            "headers": {"X-Trace": "abc"},
            "searchParams": {"limit": 10, "tag": ["a", "b c"], "all": True},
            "body": {"searchTerms": "running shoe"},
        }
    )
    response = await call_endpoint(request)
    assert response.ok and response.status == 200
    echoed = response.body
    assert echoed["method"] == "POST"
    assert echoed["query"] == [["fixed", "1"], ["limit", "10"], ["tag", "a"], ["tag", "b c"], ["all", "true"]]
    assert echoed["headers"]["X-Trace"] == "abc"
    assert echoed["headers"]["Content-Type"] == "application/json"
    assert echoed["headers"]["User-Agent"].startswith("connectord/")
    assert msgspec.json.decode(echoed["body"]) == {"searchTerms": "running shoe"}
    assert response.headers["Content-Type"].startswith("application/json")


@pytest.mark.parametrize(
    ("body_type", "body", "content_type"),
    [
        ("xml", "<q><term>shoe</term></q>", "application/xml; charset=utf-8"),
        ("text", "hello, wörld", "text/plain; charset=utf-8"),
    ],
)
async def test_xml_and_text_bodies_are_sent_as_written(
    server: str, body_type: str, body: str, content_type: str
) -> None:
    request = parse_request({"url": server + "/echo", "method": "PUT", "body_type": body_type, "body": body})
    echoed = (await call_endpoint(request)).body
    assert echoed["body"] == body
    assert echoed["headers"]["Content-Type"] == content_type


async def test_a_given_content_type_is_kept(server: str) -> None:
    request = parse_request(
        {
            "url": server + "/echo",
            "method": "POST",
            "headers": {"content-type": "application/soap+xml"},
            "body_type": "xml",
            "body": "<Envelope/>",
        }
    )
    echoed = (await call_endpoint(request)).body
    assert echoed["headers"]["Content-Type"] == "application/soap+xml"


async def test_xml_and_text_responses_come_back_as_text(server: str) -> None:
    response = await call_endpoint(parse_request({"url": server + "/xml"}))
    assert response.body == "<order><id>7</id></order>"
    response = await call_endpoint(parse_request({"url": server + "/status/404"}))
    assert (response.status, response.reason, response.body) == (404, "Not Found", "status")


@pytest.mark.parametrize("kind", sorted(GOOD))
async def test_each_auth_type_is_applied(server: str, kind: str) -> None:
    request = parse_request({"url": server + PATHS[kind], "headers": {"Authorization": "Bearer x"}})
    # The credentials' auth wins over a same-named header of the request.
    assert (await call_endpoint(request, GOOD[kind])).status == 200
    field = WRONG_SECRET[kind]
    assert (await call_endpoint(request, {**GOOD[kind], field: WRONG})).status == 401


async def test_relative_url_with_base_url(server: str) -> None:
    response = await call_endpoint(parse_request({"url": "echo"}), {"base_url": server + "/"})
    assert response.body["path"] == "/echo"


async def test_head_has_no_body(server: str) -> None:
    response = await call_endpoint(parse_request({"url": server + "/echo", "method": "HEAD"}))
    assert (response.status, response.body) == (200, None)


async def test_timeout(server: str) -> None:
    request = parse_request({"url": server + "/slow?seconds=3", "timeout": 0.2})
    with pytest.raises(EndpointTimeoutError, match=r"did not answer within 0\.2 s"):
        await call_endpoint(request)


async def test_connection_refused(closed_port: int) -> None:
    request = parse_request({"url": f"http://127.0.0.1:{closed_port}/x", "timeout": 5})
    with pytest.raises(EndpointUnreachableError, match="Connection refused"):
        await call_endpoint(request)


@pytest.mark.parametrize("chunked", ["", "1"])
async def test_body_size_cap(server: str, chunked: str) -> None:
    request = parse_request({"url": f"{server}/big?size=4096&chunked={chunked}"})
    assert (await call_endpoint(request, max_body_bytes=4096)).body == "x" * 4096
    with pytest.raises(ResponseTooLargeError, match="larger than 2048 bytes"):
        await call_endpoint(request, max_body_bytes=2048)


async def test_invalid_json_response_is_an_upstream_error(server: str) -> None:
    with pytest.raises(UpstreamError, match="not valid JSON"):
        await call_endpoint(parse_request({"url": server + "/notjson"}))


async def test_same_origin_redirect_keeps_auth(server: str) -> None:
    request = parse_request({"url": f"{server}/redirect?to=/bearer"})
    response = await call_endpoint(request, GOOD["bearer"])
    assert response.status == 200
    assert response.body["path"] == "/bearer"


@pytest.mark.parametrize("kind", sorted(GOOD))
async def test_cross_origin_redirect_drops_credentials(server: str, other_server: str, kind: str) -> None:
    request = parse_request(
        {"url": f"{server}/redirect?to={other_server}/echo", "headers": {"Cookie": "s=1", "X-Keep": "1"}}
    )
    echoed = (await call_endpoint(request, GOOD[kind])).body
    assert echoed["path"] == "/echo"
    assert "Authorization" not in echoed["headers"]
    assert "X-API-Key" not in echoed["headers"]
    assert "Cookie" not in echoed["headers"]
    assert echoed["headers"]["X-Keep"] == "1"


async def test_303_turns_post_into_get_and_307_keeps_it(server: str) -> None:
    for code, method, body in [(303, "GET", ""), (307, "POST", '{"a":1}')]:
        request = parse_request(
            {"url": f"{server}/redirect?code={code}&to=/echo", "method": "POST", "body": {"a": 1}}
        )
        echoed = (await call_endpoint(request)).body
        assert (echoed["method"], echoed["body"]) == (method, body)


async def test_redirects_are_not_followed_when_disabled(server: str) -> None:
    request = parse_request({"url": f"{server}/redirect?to=/echo", "follow_redirects": False})
    response = await call_endpoint(request)
    assert (response.status, response.headers["Location"]) == (302, "/echo")


async def test_redirect_loop_is_an_upstream_error(server: str) -> None:
    request = parse_request({"url": f"{server}/loop"})
    with pytest.raises(UpstreamError, match="redirected more than"):
        await call_endpoint(request)


async def test_a_passed_session_is_reused_and_left_open(server: str) -> None:
    import aiohttp

    async with aiohttp.ClientSession() as session:
        for _ in range(2):
            response = await call_endpoint(parse_request({"url": server + "/echo"}), session=session)
            assert response.status == 200
        assert not session.closed


async def test_authorization_headers_and_url_secrets_stay_out_of_errors(
    server: str, closed_port: int
) -> None:
    user_secret = "Bearer user-header-secret-42"
    headers = {"Authorization": user_secret, "X-Api-Key": API_KEY}
    urls = [
        f"http://127.0.0.1:{closed_port}/x",
        f"http://{USER}:{PASSWORD}@127.0.0.1:{closed_port}/?key={API_KEY}",
        server + "/slow?seconds=3&token=" + TOKEN,
    ]
    for url in urls:
        request = parse_request({"url": url, "headers": headers, "timeout": 0.2})
        with pytest.raises(ConnectorError) as info:
            await call_endpoint(request, GOOD["bearer"])
        _assert_no_secret(str(info.value), (*ALL_SECRETS, user_secret))
    with pytest.raises(ConfigError, match="user name or password"):
        await call_endpoint(parse_request({"url": urls[1]}))
    with pytest.raises(ConfigError) as bad:
        parse_request({"url": server, "headers": {"Authorization": user_secret + "\r\nX: y"}})
    _assert_no_secret(str(bad.value), (user_secret,))
    with pytest.raises(ConfigError) as bad_token:
        await call_endpoint(parse_request({"url": server}), {"auth": "bearer", "token": TOKEN + "\n"})
    assert bad_token.value.field == "token"
    _assert_no_secret(str(bad_token.value))
