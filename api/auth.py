"""Who is calling: Basic (``EMAIL:APIKEY``, as seed 001's clients send) or Bearer (``APIKEY``).

Keys are looked up by their hash; a wrong, revoked or missing key gets 401 with
``WWW-Authenticate`` and the same message, so a caller learns nothing about which part was
wrong.
"""

from __future__ import annotations

import base64

from aiohttp import web

from connectord.api.errors import ApiError, Handler
from connectord.api.keys import PRINCIPAL, STORE, STORE_RUNNER
from connectord.runtime.secrets import hash_api_key
from connectord.runtime.store.records import Principal

CHALLENGE = 'Basic realm="connectord", Bearer realm="connectord"'
PUBLIC_PATHS = ("/health", "/v1/openapi.json")
PUBLIC_PREFIXES = ("/v1/components",)
#: Only reads are public: POST /v1/components/_reload needs a user.
PUBLIC_METHODS = ("GET", "HEAD")


def _unauthorized(message: str) -> ApiError:
    return ApiError(401, message, headers={"WWW-Authenticate": CHALLENGE})


@web.middleware
async def auth_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    if request.method in PUBLIC_METHODS and (
        request.path in PUBLIC_PATHS or request.path.startswith(PUBLIC_PREFIXES)
    ):
        return await handler(request)
    if request.match_info.http_exception is not None:
        return await handler(request)  # no such route (404) or method (405): nothing to guard
    request[PRINCIPAL] = await authenticate(request)
    return await handler(request)


async def authenticate(request: web.Request) -> Principal:
    header = request.headers.get("Authorization")
    if not header:
        raise _unauthorized("Authentication required: Basic EMAIL:APIKEY or Bearer APIKEY.")
    email, key = _credentials(header)
    principal = await request.app[STORE_RUNNER](request.app[STORE].principal, hash_api_key(key))
    if principal is None or (email is not None and email.lower() != principal.email.lower()):
        raise _unauthorized("Invalid credentials.")
    return principal


def _credentials(header: str) -> tuple[str | None, str]:
    scheme, _, value = header.partition(" ")
    value = value.strip()
    if scheme.lower() == "bearer" and value:
        return None, value
    if scheme.lower() == "basic" and value:
        try:
            decoded = base64.b64decode(value, validate=True).decode("utf-8")
        except (ValueError, UnicodeDecodeError):  # binascii.Error is a ValueError
            raise _unauthorized("Invalid credentials.") from None
        email, sep, key = decoded.partition(":")
        if sep and email and key:
            return email, key
    raise _unauthorized("Invalid credentials.")
