"""The one place where errors become HTTP responses.

Handlers raise domain errors or :class:`ApiError`; this middleware answers with
``{"message": ..., "field": ...}`` and the right status. Nothing that reaches a client
carries a traceback; an unexpected error is logged here and answered with a plain 500.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

import msgspec
from aiohttp import web

from connectord.api.responses import json_response
from connectord.plugins.manager import HookNotImplementedError, UnknownConnectorError
from connectord.runtime.bodies import InvalidRequestError
from connectord.runtime.calls import InvalidCallError
from connectord.runtime.executions.service import IdempotencyConflictError
from connectord.runtime.jobs.errors import NotFoundError, StateError
from connectord.runtime.store.records import ConflictError, InvalidTextError, StoreUnavailableError

log = logging.getLogger(__name__)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
STORE_RETRY_AFTER = 5


class ApiError(Exception):
    def __init__(
        self,
        status: int,
        message: str,
        field: str | None = None,
        headers: dict[str, str] | None = None,
        **extra: object,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.field = field
        self.headers = headers
        self.extra = extra


def error_body(message: str, field: str | None = None, **extra: object) -> dict[str, object]:
    body: dict[str, object] = {"message": message}
    if field is not None:
        body["field"] = field
    body.update(extra)
    return body


@web.middleware
async def error_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except ApiError as exc:
        return json_response(error_body(exc.message, exc.field, **exc.extra), exc.status, exc.headers)
    except (InvalidCallError, InvalidRequestError) as exc:
        return json_response(error_body(str(exc), _parameter(exc.field)), 400)
    except InvalidTextError as exc:  # a NUL character in a text to store
        return json_response(error_body(str(exc), exc.field), 400)
    except NotFoundError as exc:
        return json_response(error_body(str(exc)), 404)
    except (IdempotencyConflictError, ConflictError, StateError) as exc:
        return json_response(error_body(str(exc)), 409)
    except StoreUnavailableError as exc:
        log.error("store unavailable in %s %s: %s", request.method, request.path, exc)
        return json_response(
            error_body("The store is unavailable; nothing was changed. Try again later."),
            503,
            {"Retry-After": str(STORE_RETRY_AFTER)},
        )
    except UnknownConnectorError as exc:
        return json_response(error_body(str(exc), "component"), 400)
    except HookNotImplementedError as exc:
        return json_response(error_body(str(exc), "execution_type"), 400)
    except msgspec.ValidationError as exc:
        return json_response(error_body(f"invalid request body: {exc}"), 400)
    except web.HTTPException as exc:
        if exc.empty_body or exc.status < 400:
            raise
        return json_response(error_body(exc.reason), exc.status, headers=_kept_headers(exc))
    except Exception:
        log.exception("unhandled error in %s %s", request.method, request.path)
        return json_response(error_body("Internal Server Error"), 500)  # seed 001's words


def _parameter(field: str) -> str:
    """Name the field as seed 001 names the parameter."""
    return {"action": "action_or_trigger", "connector": "component"}.get(field, field)


def _kept_headers(exc: web.HTTPException) -> dict[str, str]:
    return {k: v for k, v in exc.headers.items() if k in ("Allow", "WWW-Authenticate", "Retry-After")}
