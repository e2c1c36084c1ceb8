"""The one place where errors become HTTP responses.

Handlers and the services they call raise a kind of :class:`ConnectordError`
(``connectord.plugins.server_errors``); ``STATUS`` below is the one table of kinds to HTTP
statuses, and this middleware answers with ``{"message": ..., "field": ...}``. Nothing that
reaches a client carries a traceback; an unexpected error is logged here and answered with
a plain 500.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

import msgspec
from aiohttp import web

from connectord.api.responses import json_response
from connectord.plugins.server_errors import (
    Conflict,
    ConnectordError,
    Forbidden,
    Internal,
    Invalid,
    NotFound,
    Unauthorized,
    Unavailable,
    kind_of,
)

log = logging.getLogger(__name__)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
#: What a client is asked to wait for before it sends again what found the store unavailable.
STORE_RETRY_AFTER = 5
#: The credentials seed 001's clients send (Basic) and the API keys alone (Bearer).
CHALLENGE = 'Basic realm="connectord", Bearer realm="connectord"'
INTERNAL = "Internal Server Error"  # seed 001's words

#: Each kind of error as an HTTP status.
STATUS: dict[type[ConnectordError], int] = {
    Invalid: 400,
    Unauthorized: 401,
    Forbidden: 403,
    NotFound: 404,
    Conflict: 409,
    Internal: 500,
    Unavailable: 503,
}

#: Seed 001's names of the parts of a call, where ours differ.
_PARAMETERS = {"action": "action_or_trigger", "connector": "component", "method": "execution_type"}


def error_body(message: str, field: str | None = None, **extra: object) -> dict[str, object]:
    body: dict[str, object] = {"message": message}
    if field is not None:
        body["field"] = field
    body.update(extra)
    return body


def answer(error: ConnectordError, request: web.Request) -> web.Response:
    """The response that tells a client of ``error``, by its kind."""
    kind = kind_of(error)
    status = STATUS[kind]
    if kind is Internal:
        log.error("internal error in %s %s", request.method, request.path, exc_info=error)
        return json_response(error_body(INTERNAL), status)
    if isinstance(error, Unavailable):  # the message is the operator's; the client is told to wait
        log.error("unavailable in %s %s: %s", request.method, request.path, error)
        return json_response(
            error_body(error.public_message), status, {"Retry-After": str(STORE_RETRY_AFTER)}
        )
    challenged = isinstance(error, Unauthorized) and error.challenge
    headers = {"WWW-Authenticate": CHALLENGE} if challenged else None
    field = None if error.field is None else _PARAMETERS.get(error.field, error.field)
    return json_response(error_body(str(error), field), status, headers)


@web.middleware
async def error_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except ConnectordError as exc:
        return answer(exc, request)
    except msgspec.ValidationError as exc:
        return json_response(error_body(f"invalid request body: {exc}"), 400)
    except web.HTTPException as exc:
        if exc.empty_body or exc.status < 400:
            raise
        return json_response(error_body(exc.reason), exc.status, headers=_kept_headers(exc))
    except Exception:
        log.exception("unhandled error in %s %s", request.method, request.path)
        return json_response(error_body(INTERNAL), 500)


def _kept_headers(exc: web.HTTPException) -> dict[str, str]:
    return {k: v for k, v in exc.headers.items() if k in ("Allow", "WWW-Authenticate", "Retry-After")}
