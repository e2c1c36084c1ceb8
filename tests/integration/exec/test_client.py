"""``connectord.client``: both clients against the real exec API (sandbox, store, keys), and
against a small scripted server for retries, redirects and answers the real one never gives.

Every test runs with the async client and with the blocking one; the blocking one runs in a
worker thread (``asyncio.to_thread``) so that the servers on the test's loop keep serving.
"""

from __future__ import annotations

import asyncio
import base64
import json
import socket
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
from aiohttp import web

from connectord.client import (
    ApiError,
    AsyncClient,
    AuthenticationError,
    BadRequest,
    Client,
    ConnectionFailed,
    Execution,
    ExecutionRejected,
    LogLine,
    NotFound,
    NotReady,
    Ready,
    Result,
    ResultExpired,
    ResultNotFound,
    ResultNotReady,
    WaitTimeout,
)

from .conftest import Api

SECRET = "tok-secret-value-1"
EMAIL = "alice@acme.test"


def verify(mode: str = "ok") -> dict[str, Any]:
    return {"token": SECRET, "mode": mode}


class Threaded:
    """The blocking client with every method run in a worker thread."""

    def __init__(self, client: Client) -> None:
        self.client = client

    def __getattr__(self, name: str) -> Any:
        method = getattr(self.client, name)

        async def call(*args: Any, **kwargs: Any) -> Any:
            return await asyncio.to_thread(method, *args, **kwargs)

        return call


Connect = Callable[..., Any]


@pytest.fixture(params=["async", "sync"])
async def connect(request: pytest.FixtureRequest) -> AsyncIterator[Connect]:
    """Make a client of the kind under test; retries are 10 ms apart unless told otherwise."""
    made: list[Any] = []

    def connect(base_url: str, **kwargs: Any) -> Any:
        kwargs.setdefault("retry_delay", 0.01)
        client = AsyncClient(base_url, **kwargs) if request.param == "async" else Client(base_url, **kwargs)
        made.append(client)
        return client if request.param == "async" else Threaded(client)

    yield connect
    for client in made:
        if isinstance(client, AsyncClient):
            await client.close()
        else:
            client.close()


def base_url(api: Api) -> str:
    return str(api.client.make_url("/")).rstrip("/")


@pytest.fixture
def alice(api: Api, connect: Connect) -> Any:
    """A client for a fresh user of tenant acme (Basic auth)."""
    api.add_user(EMAIL, "acme")
    return connect(base_url(api), email=EMAIL, api_key=api.users[EMAIL])


# -- the real server --------------------------------------------------------------------


async def test_schedule_then_wait_returns_the_data_once(api: Api, alice: Any) -> None:
    execution = await alice.schedule("verify_credentials", "echo", account_data=verify())
    assert isinstance(execution, Execution)
    assert len(execution.id) == 32
    assert execution.poll_url == f"{base_url(api)}/v1/exec/poll/{execution.id}"
    assert len(execution.idempotency_key) == 32  # made up: the caller gave none

    assert await alice.wait(execution.id, timeout=20) == {
        "verified": True,
        "message": "token of 18 characters",
    }
    # Fetched once, by following the 303: gone now, for poll and result alike.
    with pytest.raises(ResultNotFound) as missing:
        await alice.result(execution.id)
    assert (missing.value.status, missing.value.message) == (404, "Result does not exist.")
    with pytest.raises(ResultNotFound):
        await alice.poll(execution.id)


async def test_poll_reports_the_303_without_following_it(api: Api, alice: Any) -> None:
    execution = await alice.schedule("verify_credentials", "echo", account_data=verify())
    ready = await alice.poll(execution.id, wait=20)
    assert ready == Ready(execution.id, f"{base_url(api)}/v1/exec/result/{execution.id}")
    # Not followed: the result is still there, with the connector's (masked) logs.
    result = await alice.result(execution.id, logs=True)
    assert isinstance(result, Result)
    assert result.data["verified"] is True
    [line] = result.logs
    assert isinstance(line, LogLine)
    assert (line.level, line.logger, line.message) == ("INFO", "echo", "verifying with token **********")
    assert line.time.endswith("+00:00") and line.time[:4].isdigit()


async def test_not_ready_result_not_ready_cancel_and_the_cancelled_rejection(api: Api, alice: Any) -> None:
    execution = await alice.schedule("verify_credentials", "echo", account_data=verify("sleep"))
    assert await alice.poll(execution.id) == NotReady(execution.id, retry_after=1.0)
    with pytest.raises(ResultNotReady) as early:
        await alice.result(execution.id)
    assert early.value.status == 404
    assert await alice.cancel(execution.id) is None
    assert isinstance(await alice.poll(execution.id, wait=20), Ready)
    with pytest.raises(NotFound) as again:
        await alice.cancel(execution.id)
    assert again.value.message == "No queued or running execution with this id."
    with pytest.raises(ExecutionRejected) as rejected:
        await alice.wait(execution.id, timeout=20)
    assert rejected.value.status == 400
    assert rejected.value.reason == {"kind": "cancelled", "message": "the execution was cancelled"}
    assert rejected.value.logs is None
    assert str(rejected.value) == "Rejected: the execution was cancelled (HTTP 400)"


async def test_wait_with_logs_reports_a_failing_connector_without_its_secret(api: Api, alice: Any) -> None:
    execution = await alice.schedule("verify_credentials", "echo", account_data=verify("raise"))
    with pytest.raises(ExecutionRejected) as rejected:
        await alice.wait(execution.id, timeout=20, logs=True)
    assert rejected.value.reason == {
        "kind": "rejected",
        "error_type": "RuntimeError",
        "message": "upstream refused token **********",
    }
    assert [line.message for line in rejected.value.logs or []] == ["verifying with token **********"]
    assert SECRET not in repr(rejected.value.body) + str(rejected.value)


async def test_wait_gives_up_after_its_timeout_and_the_execution_goes_on(api: Api, alice: Any) -> None:
    execution = await alice.schedule("verify_credentials", "echo", account_data=verify("sleep"))
    started = time.monotonic()
    with pytest.raises(WaitTimeout) as timed_out:
        await alice.wait(execution.id, timeout=0.5)
    assert 0.5 <= time.monotonic() - started < 5
    assert isinstance(timed_out.value, TimeoutError)
    assert timed_out.value.execution_id == execution.id
    assert isinstance(await alice.poll(execution.id), NotReady)
    await alice.cancel(execution.id)


async def test_stored_accounts_cfg_and_query(api: Api, alice: Any) -> None:
    account = api.add_account(
        {"Authorization": "Basic " + base64.b64encode(f"{EMAIL}:{api.users[EMAIL]}".encode()).decode()},
        {"token": SECRET},
    )
    models = await alice.schedule(
        "select_model",
        "echo",
        action_or_trigger="put",
        model_method="colors",
        account_id=account,
        query={"search": "re"},
    )
    meta = await alice.schedule(
        "get_meta_model", "echo", action_or_trigger="put", account_id=account, cfg={"title": "order"}
    )
    assert await alice.wait(models.id, timeout=20) == {
        "options": [{"value": "red", "label": "Red"}, {"value": "green", "label": "Green"}],
        "next_cursor": None,
    }
    assert await alice.wait(meta.id, timeout=20) == {
        "in": {"type": "object", "title": "order"},
        "out": {"type": "object"},
    }


async def test_results_expire(api: Api, alice: Any) -> None:
    execution = await alice.schedule("verify_credentials", "echo", account_data=verify())
    assert isinstance(await alice.poll(execution.id, wait=20), Ready)
    api.clock.offset = api.settings.result_retention + 1
    with pytest.raises(ResultExpired) as on_poll:
        await alice.poll(execution.id)
    assert on_poll.value.message == "Expired."
    with pytest.raises(ResultExpired):
        await alice.wait(execution.id, timeout=5)


@pytest.mark.parametrize(
    ("arguments", "field", "message"),
    [
        (
            {"execution_type": "verify_credentials", "component": "nope", "account_data": {}},
            "component",
            "unknown connector 'nope' (installed: echo)",
        ),
        (
            {"execution_type": "verify_credentials", "component": "echo"},
            "account_data",
            "parameter 'account_data' is required for execution_type 'verify_credentials'",
        ),
        (
            {"execution_type": "run", "component": "echo"},
            "execution_type",
            "parameter 'execution_type': Invalid enum value 'run'",
        ),
        (
            {
                "execution_type": "get_meta_model",
                "component": "echo",
                "action_or_trigger": "put",
                "account_id": "missing",
            },
            "account_id",
            "account 'missing' does not exist",
        ),
    ],
)
async def test_bad_schedule_requests_raise_bad_request_naming_the_field(
    api: Api, alice: Any, arguments: dict[str, Any], field: str, message: str
) -> None:
    rest = dict(arguments)
    execution_type, component = rest.pop("execution_type"), rest.pop("component")
    with pytest.raises(BadRequest) as bad:
        await alice.schedule(execution_type, component, **rest)
    assert bad.value.status == 400
    assert bad.value.field == field
    assert message in bad.value.message


async def test_a_negative_poll_wait_is_a_bad_request(api: Api, alice: Any) -> None:
    with pytest.raises(BadRequest) as bad:
        await alice.poll("whatever", wait=-1)
    assert bad.value.field == "wait"
    assert "0 or more" in bad.value.message


async def test_authentication_basic_bearer_and_refusals(api: Api, connect: Connect) -> None:
    api.add_user(EMAIL, "acme")
    key = api.users[EMAIL]
    bearer = connect(base_url(api), api_key=key)
    assert isinstance(await bearer.schedule("verify_credentials", "echo", account_data=verify()), Execution)
    for email, api_key in [(EMAIL, "wrong-key"), ("bob@acme.test", key), (None, "wrong-key")]:
        client = connect(base_url(api), email=email, api_key=api_key)
        with pytest.raises(AuthenticationError) as refused:
            await client.schedule("verify_credentials", "echo", account_data=verify())
        assert (refused.value.status, refused.value.message) == (401, "Invalid credentials.")
        assert key not in f"{refused.value} {refused.value!r} {refused.value.body}"


async def test_another_tenant_sees_nothing(api: Api, alice: Any, connect: Connect) -> None:
    api.add_user("mallory@evil.test", "evil")
    mallory = connect(base_url(api), email="mallory@evil.test", api_key=api.users["mallory@evil.test"])
    execution = await alice.schedule("verify_credentials", "echo", account_data=verify("sleep"))
    with pytest.raises(ResultNotFound):
        await mallory.poll(execution.id)
    with pytest.raises(ResultNotFound):
        await mallory.result(execution.id)
    with pytest.raises(NotFound):
        await mallory.cancel(execution.id)
    await alice.cancel(execution.id)  # still alice's to cancel


async def test_an_idempotency_key_schedules_once(api: Api, alice: Any) -> None:
    first = await alice.schedule(
        "verify_credentials", "echo", account_data=verify(), idempotency_key="order-42"
    )
    again = await alice.schedule(
        "verify_credentials", "echo", account_data=verify(), idempotency_key="order-42"
    )
    assert first == again
    assert first.idempotency_key == "order-42"
    with pytest.raises(ApiError) as conflict:
        await alice.schedule(
            "verify_credentials", "echo", account_data=verify("raise"), idempotency_key="order-42"
        )
    assert conflict.value.status == 409 and "order-42" in conflict.value.message
    fresh = await alice.schedule("verify_credentials", "echo", account_data=verify())
    assert fresh.id != first.id and fresh.idempotency_key != first.idempotency_key
    with pytest.raises(ValueError, match="idempotency_key must be 1 to 255 visible ASCII"):
        await alice.schedule("verify_credentials", "echo", account_data=verify(), idempotency_key="a b")


# -- a scripted server: retries, redirects, odd answers ---------------------------------

#: An answer that is no answer: the server closes the connection.
DROP = "drop"


@dataclass
class Seen:
    method: str
    path: str
    raw_path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes


@dataclass
class Scripted:
    """Answers each (method, path) from a list, one answer per request, the last one forever."""

    answers: dict[tuple[str, str], list[Any]] = field(default_factory=dict)
    seen: list[Seen] = field(default_factory=list)
    url: str = ""

    def on(self, method: str, path: str, *answers: Any) -> None:
        self.answers[(method, path)] = list(answers)

    def paths(self) -> list[str]:
        return [f"{s.method} {s.path}" for s in self.seen]

    async def handle(self, request: web.Request) -> web.StreamResponse:
        self.seen.append(
            Seen(
                request.method,
                request.path,
                request.raw_path,
                dict(request.query),
                dict(request.headers),
                await request.read(),
            )
        )
        queue = self.answers.get((request.method, request.path), [(404, {"message": "Not Found"})])
        answer = queue.pop(0) if len(queue) > 1 else queue[0]
        if callable(answer):
            answer = await answer()
        if answer == DROP:
            assert request.transport is not None
            request.transport.abort()
            return web.Response()
        status, body, *headers = answer
        text = body if isinstance(body, str) else json.dumps(body)
        return web.Response(status=status, text=text, headers=headers[0] if headers else None)


@pytest.fixture
async def scripted(aiohttp_server: Any) -> Scripted:
    script = Scripted()
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", script.handle)
    server = await aiohttp_server(app)
    script.url = str(server.make_url("")).rstrip("/")
    return script


SCHEDULED = (202, {"message": "ok"}, {"Location": "/v1/exec/poll/e1"})
UNAVAILABLE = (503, {"message": "The store is unavailable; nothing was changed. Try again later."})


async def test_5xx_twice_then_it_works_and_the_post_keeps_its_idempotency_key(
    scripted: Scripted, connect: Connect
) -> None:
    scripted.on("POST", "/v1/exec/schedule", UNAVAILABLE, UNAVAILABLE, SCHEDULED)
    scripted.on(
        "GET", "/v1/exec/poll/e1", (500, "oops"), UNAVAILABLE, (200, {"message": "Result not ready yet."})
    )
    client = connect(scripted.url, email="me@example.com", api_key="key-1")
    execution = await client.schedule("verify_credentials", "sql", account_data={"url": "x"})
    assert execution == Execution("e1", f"{scripted.url}/v1/exec/poll/e1", execution.idempotency_key)
    posts = [s for s in scripted.seen if s.method == "POST"]
    assert len(posts) == 3
    assert {s.headers["Idempotency-Key"] for s in posts} == {execution.idempotency_key}
    assert json.loads(posts[0].body) == {
        "execution_type": "verify_credentials",
        "component": "sql",
        "account_data": {"url": "x"},
    }
    assert await client.poll("e1") == NotReady("e1", None)
    assert len(scripted.seen) == 6


async def test_5xx_is_tried_retries_times_more_then_raised(scripted: Scripted, connect: Connect) -> None:
    scripted.on("GET", "/v1/exec/poll/e1", UNAVAILABLE)
    with pytest.raises(ApiError) as failed:
        await connect(scripted.url, api_key="key-1").poll("e1")
    assert failed.value.status == 503
    assert failed.value.message == "The store is unavailable; nothing was changed. Try again later."
    assert len(scripted.seen) == 4  # 1 + 3 retries, as seed 001's client
    scripted.seen.clear()
    with pytest.raises(ApiError):
        await connect(scripted.url, api_key="key-1", retries=0).poll("e1")
    assert len(scripted.seen) == 1


async def test_retries_are_spaced_by_retry_delay(scripted: Scripted, connect: Connect) -> None:
    scripted.on("GET", "/v1/exec/poll/e1", UNAVAILABLE, UNAVAILABLE, (200, {}))
    started = time.monotonic()
    await connect(scripted.url, api_key="key-1", retry_delay=0.3).poll("e1")
    assert time.monotonic() - started >= 0.6


@pytest.mark.parametrize(
    ("answer", "error"),
    [
        ((400, {"message": "parameter 'cfg': Expected `object`", "field": "cfg"}), BadRequest),
        ((401, {"message": "Invalid credentials."}), AuthenticationError),
        ((404, {"message": "Result does not exist."}), ResultNotFound),
        ((409, {"message": "Idempotency-Key 'k' was used with a different request"}), ApiError),
        ((413, "<html>too big</html>"), ApiError),
    ],
)
async def test_4xx_is_never_retried(scripted: Scripted, connect: Connect, answer: Any, error: type) -> None:
    scripted.on("POST", "/v1/exec/schedule", answer)
    with pytest.raises(error) as failed:
        await connect(scripted.url, api_key="key-1").schedule("verify_credentials", "sql", account_data={})
    assert type(failed.value) is error
    assert failed.value.status == answer[0]
    assert len(scripted.seen) == 1
    if answer[0] == 400:
        assert failed.value.field == "cfg"
    if answer[0] == 413:
        assert failed.value.message == "Request Entity Too Large"  # no JSON message: the reason phrase


async def test_a_dropped_connection_is_retried(scripted: Scripted, connect: Connect) -> None:
    scripted.on("POST", "/v1/exec/schedule", DROP, DROP, SCHEDULED)
    scripted.on("GET", "/v1/exec/poll/e1", DROP, (200, {}))
    client = connect(scripted.url, api_key="key-1")
    execution = await client.schedule("verify_credentials", "sql", account_data={})
    assert execution.id == "e1"
    assert await client.poll("e1") == NotReady("e1")
    assert scripted.paths() == ["POST /v1/exec/schedule"] * 3 + ["GET /v1/exec/poll/e1"] * 2
    # The POST may be sent again only because it carries the same Idempotency-Key each time.
    assert len({s.headers["Idempotency-Key"] for s in scripted.seen[:3]}) == 1


async def test_a_server_that_keeps_dropping_is_a_connection_failure(
    scripted: Scripted, connect: Connect
) -> None:
    scripted.on("POST", "/v1/exec/schedule", DROP)
    with pytest.raises(ConnectionFailed) as failed:
        await connect(scripted.url, api_key="key-1", retries=2).schedule("verify_credentials", "sql")
    assert failed.value.url == scripted.url
    assert str(failed.value).startswith(f"cannot reach {scripted.url}: ")
    assert len(scripted.seen) == 3


async def test_a_closed_port_is_connection_refused(connect: Connect) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    client = connect(f"http://127.0.0.1:{port}", api_key="key-secret-1", retries=1)
    with pytest.raises(ConnectionFailed) as failed:
        await client.schedule("verify_credentials", "sql", account_data={})
    assert str(failed.value) == f"cannot reach http://127.0.0.1:{port}: connection refused"


async def test_a_server_that_does_not_answer_in_time(scripted: Scripted, connect: Connect) -> None:
    release = asyncio.Event()

    async def stall() -> Any:
        with pytest.raises(TimeoutError):
            async with asyncio.timeout(5):
                await release.wait()
        return (200, {})

    scripted.on("GET", "/v1/exec/poll/e1", stall)
    started = time.monotonic()
    with pytest.raises(ConnectionFailed) as failed:
        await connect(scripted.url, api_key="key-1", timeout=0.3, retries=0).poll("e1")
    release.set()
    assert failed.value.reason == "no answer within 0.3 s"
    assert time.monotonic() - started < 3


async def test_wait_long_polls_then_follows_the_303_to_the_result(
    scripted: Scripted, connect: Connect
) -> None:
    not_ready = (200, {"message": "Result not ready yet."}, {"Retry-After": "0.01"})
    ready = (303, {"message": "Ready."}, {"Location": "/v1/exec/result/e1"})
    scripted.on("GET", "/v1/exec/poll/e1", not_ready, ready)
    scripted.on("GET", "/v1/exec/result/e1", (200, {"data": {"verified": True}, "logs": []}))
    assert await connect(scripted.url, api_key="key-1").wait("e1", timeout=100) == {"verified": True}
    assert scripted.paths() == ["GET /v1/exec/poll/e1", "GET /v1/exec/poll/e1", "GET /v1/exec/result/e1"]
    # Each poll asks the server to hold it, at most 30 s; the result is asked without logs.
    assert [s.query for s in scripted.seen] == [{"wait": "30"}, {"wait": "30"}, {}]


async def test_wait_with_logs_asks_the_followed_location_for_them(
    scripted: Scripted, connect: Connect
) -> None:
    ready = (303, {"message": "Ready."}, {"Location": f"{scripted.url}/v1/exec/result/e1?x=1"})
    scripted.on("GET", "/v1/exec/poll/e1", ready)
    line = {"time": "2026-12-07T01:00:00.500+00:00", "level": "INFO", "logger": "sql", "message": "connected"}
    scripted.on("GET", "/v1/exec/result/e1", (200, {"data": [1], "logs": [line]}))
    result = await connect(scripted.url, api_key="key-1").wait("e1", timeout=10, logs=True)
    assert result == Result([1], [LogLine("2026-12-07T01:00:00.500+00:00", "INFO", "sql", "connected")])
    assert scripted.seen[-1].query == {"x": "1", "logs": "true"}
    assert scripted.seen[0].query == {"wait": "10"}  # what is left of the timeout, under 30 s


async def test_wait_paces_itself_against_a_server_that_does_not_hold_polls(
    scripted: Scripted, connect: Connect
) -> None:
    not_ready = (200, {"message": "Result not ready yet."}, {"Retry-After": "0.2"})
    ready = (303, {"message": "Ready."}, {"Location": "/v1/exec/result/e1"})
    scripted.on("GET", "/v1/exec/poll/e1", not_ready, not_ready, ready)
    scripted.on("GET", "/v1/exec/result/e1", (200, {"data": "ok"}))
    started = time.monotonic()
    assert await connect(scripted.url, api_key="key-1").wait("e1", timeout=20) == "ok"
    assert time.monotonic() - started >= 0.4  # two Retry-After pauses, not a busy loop
    assert len(scripted.seen) == 4


async def test_a_303_to_another_origin_is_not_followed_with_the_key(
    scripted: Scripted, connect: Connect
) -> None:
    elsewhere = (303, {"message": "Ready."}, {"Location": "http://collector.invalid/v1/exec/result/e1"})
    scripted.on("GET", "/v1/exec/poll/e1", elsewhere)
    scripted.on("GET", "/v1/exec/result/e1", (200, {"data": {"verified": True}}))
    client = connect(scripted.url, api_key="key-1")
    assert await client.poll("e1") == Ready("e1", "http://collector.invalid/v1/exec/result/e1")
    # The result is asked from the base URL, at the contract's path (collector.invalid does
    # not resolve: asking there would fail).
    assert await client.wait("e1", timeout=5) == {"verified": True}
    assert scripted.paths() == ["GET /v1/exec/poll/e1"] * 2 + ["GET /v1/exec/result/e1"]


@pytest.mark.parametrize(
    ("answer", "message"),
    [
        ((200, {"message": "ok"}, {"Location": "/v1/exec/poll/e1"}), "expected 202 Accepted"),
        ((202, {"message": "ok"}), "got 202 without a Location header"),
    ],
)
async def test_schedule_requires_202_and_a_location(
    scripted: Scripted, connect: Connect, answer: Any, message: str
) -> None:
    scripted.on("POST", "/v1/exec/schedule", answer)
    with pytest.raises(ApiError, match=message):
        await connect(scripted.url, api_key="key-1").schedule("verify_credentials", "sql", account_data={})


async def test_the_credentials_sent_basic_or_bearer(scripted: Scripted, connect: Connect) -> None:
    scripted.on("GET", "/v1/exec/poll/e/1", (200, {}))
    await connect(scripted.url, email="me@example.com", api_key="key-1").poll("e/1")
    await connect(scripted.url, api_key="key-1").poll("e/1")
    basic = base64.b64encode(b"me@example.com:key-1").decode()
    assert [s.headers["Authorization"] for s in scripted.seen] == [f"Basic {basic}", "Bearer key-1"]
    assert scripted.seen[0].headers["Accept"] == "application/json"
    assert scripted.seen[0].raw_path == "/v1/exec/poll/e%2F1"  # the id is one path segment


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"base_url": "http://me:key-secret-1@127.0.0.1:8080"}, "base_url must not contain credentials"),
        ({"base_url": "ftp://127.0.0.1"}, "base_url must be an http:// or https:// URL"),
        ({"api_key": "key-secret-1\r\nX-Evil: 1"}, "api_key must be a non-empty string"),
        ({"api_key": ""}, "api_key must be a non-empty string"),
        ({"email": "me:you@example.com"}, "email must be a non-empty string without ':'"),
        ({"retries": -1}, "retries must be a whole number"),
        ({"timeout": 0}, "timeout must be more than 0"),
    ],
)
def test_bad_arguments_are_refused_without_echoing_the_key(arguments: dict[str, Any], message: str) -> None:
    kwargs: dict[str, Any] = {"base_url": "http://127.0.0.1:8080", "api_key": "key-secret-1", **arguments}
    for kind in (AsyncClient, Client):
        with pytest.raises(ValueError, match=message) as refused:
            kind(**kwargs)
        assert "key-secret-1" not in str(refused.value)


def test_the_key_is_not_in_the_repr() -> None:
    for kind in (AsyncClient, Client):
        client = kind("http://127.0.0.1:8080/", email="me@example.com", api_key="key-secret-1")
        assert repr(client) == f"{kind.__name__}('http://127.0.0.1:8080')"
        assert "key-secret-1" not in repr(vars(client))


async def test_a_result_read_is_not_retried_when_it_may_have_been_delivered(
    scripted: Scripted, connect: Connect
) -> None:
    scripted.on("GET", "/v1/exec/result/e1", (500, "oops"), (200, {"data": {"never": "read"}}))
    with pytest.raises(ApiError) as failed:
        await connect(scripted.url, api_key="key-1").result("e1")
    assert failed.value.status == 500
    assert len(scripted.seen) == 1  # a retry could only read "Result does not exist."
    scripted.seen.clear()
    scripted.on("GET", "/v1/exec/result/e2", UNAVAILABLE, (200, {"data": {"ok": True}}))
    assert await connect(scripted.url, api_key="key-1").result("e2") == {"ok": True}
    assert len(scripted.seen) == 2  # 503 says nothing was changed: safe to ask again
