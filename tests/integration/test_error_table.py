"""The one table of error kinds to HTTP, over a real server on loopback: each kind gets its
status, its body and its headers; what is the operator's stays in the log."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import msgspec
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from connectord.api.errors import CHALLENGE, STORE_RETRY_AFTER, error_middleware
from connectord.plugins.manager import HookNotImplementedError, UnknownConnectorError
from connectord.plugins.server_errors import (
    Conflict,
    ConnectordError,
    Forbidden,
    Internal,
    Invalid,
    NotFound,
    Unauthorized,
    Unavailable,
)
from connectord.runtime.calls import InvalidCallError
from connectord.runtime.jobs.errors import StateError
from connectord.runtime.store.records import StoreUnavailableError
from connectord.sandbox.zygote_client import ZygoteError

Client = Callable[..., Any]


async def answer_to(aiohttp_client: Client, error: BaseException) -> tuple[int, dict[str, Any], Any]:
    """Status, headers and JSON body of the answer to a request whose handler raises ``error``."""

    async def handler(request: web.Request) -> web.Response:
        raise error

    app = web.Application(middlewares=[error_middleware])
    app.router.add_get("/", handler)
    client: TestClient = await aiohttp_client(app)
    response = await client.get("/")
    return response.status, dict(response.headers), await response.json()


@pytest.mark.parametrize(
    ("error", "status"),
    [
        (Invalid("limit must be between 1 and 100, got 0", "limit"), 400),
        (Forbidden("X-Customer-Code does not name the tenant", "X-Customer-Code"), 403),
        (NotFound("Process does not exist.", "robustaSpid"), 404),
        (Conflict("job definition 'nightly' was changed meanwhile"), 409),
        (StateError("job 'j1' is already over"), 409),
    ],
    ids=lambda v: type(v).__name__ if isinstance(v, ConnectordError) else str(v),
)
async def test_each_kind_its_status_with_the_message_and_the_field(
    aiohttp_client: Client, error: ConnectordError, status: int
) -> None:
    got_status, headers, body = await answer_to(aiohttp_client, error)
    assert got_status == status
    expected = {"message": str(error)} | ({} if error.field is None else {"field": error.field})
    assert body == expected
    assert "WWW-Authenticate" not in headers and "Retry-After" not in headers


async def test_unauthorized_asks_for_credentials_unless_told_not_to(aiohttp_client: Client) -> None:
    status, headers, body = await answer_to(aiohttp_client, Unauthorized("Invalid credentials."))
    assert (status, headers["WWW-Authenticate"]) == (401, CHALLENGE)
    assert body == {"message": "Invalid credentials."}
    quiet = Unauthorized("The console session has ended: sign in again.", challenge=False)
    status, headers, body = await answer_to(aiohttp_client, quiet)
    assert (status, "WWW-Authenticate" in headers) == (401, False)
    assert body == {"message": "The console session has ended: sign in again."}


async def test_unavailable_says_when_to_come_back_and_keeps_its_detail_in_the_log(
    aiohttp_client: Client, caplog: pytest.LogCaptureFixture
) -> None:
    detail = "database or disk is full at /var/lib/connectord/store.db"
    for error, message in [
        (StoreUnavailableError(detail), "The store is unavailable; nothing was changed. Try again later."),
        (Unavailable(detail), "The service is unavailable; nothing was changed. Try again later."),
    ]:
        caplog.clear()
        status, headers, body = await answer_to(aiohttp_client, error)
        assert (status, headers["Retry-After"], body) == (503, str(STORE_RETRY_AFTER), {"message": message})
        assert detail in caplog.text


async def test_internal_tells_nothing_but_logs_the_traceback(
    aiohttp_client: Client, caplog: pytest.LogCaptureFixture
) -> None:
    for error in (Internal("sealed data cannot be opened: key ab12"), ZygoteError("the zygote died twice")):
        caplog.clear()
        with caplog.at_level(logging.ERROR, "connectord.api.errors"):
            status, _, body = await answer_to(aiohttp_client, error)
        assert (status, body) == (500, {"message": "Internal Server Error"})
        assert str(error) in caplog.text and "Traceback" in caplog.text


@pytest.mark.parametrize(
    ("error", "field"),
    [
        (InvalidCallError("get_meta_model needs an action or trigger", "action"), "action_or_trigger"),
        (UnknownConnectorError("nope", ["echo"]), "component"),
        (HookNotImplementedError("echo", "select_model"), "execution_type"),
        (Invalid("cfg must be an object", "cfg"), "cfg"),
    ],
    ids=lambda v: type(v).__name__ if isinstance(v, ConnectordError) else str(v),
)
async def test_the_parts_of_a_call_are_named_as_seed_001_names_them(
    aiohttp_client: Client, error: ConnectordError, field: str
) -> None:
    status, _, body = await answer_to(aiohttp_client, error)
    assert (status, body) == (400, {"message": str(error), "field": field})


async def test_what_is_not_connectords_own_keeps_its_answer(aiohttp_client: Client) -> None:
    """A body msgspec refuses is a 400; aiohttp's own HTTP errors keep their status; any other
    exception is a 500 that says nothing."""
    with pytest.raises(msgspec.ValidationError) as refused:
        msgspec.json.decode(b'{"a": "x"}', type=dict[str, int])
    status, _, body = await answer_to(aiohttp_client, refused.value)
    assert (status, body) == (400, {"message": f"invalid request body: {refused.value}"})
    status, headers, body = await answer_to(aiohttp_client, web.HTTPMethodNotAllowed("GET", ["POST"]))
    assert (status, headers["Allow"], body) == (405, "POST", {"message": "Method Not Allowed"})
    status, _, body = await answer_to(aiohttp_client, KeyError("secret"))
    assert (status, body) == (500, {"message": "Internal Server Error"})
