"""Who is calling: Basic (``EMAIL:APIKEY``, as seed 001's clients send) or Bearer (``APIKEY``).

Keys are looked up by their hash; a wrong, revoked, missing or malformed key gets 401 with
``WWW-Authenticate`` and the same message, so a caller learns nothing about which part was
wrong. Seed 003's ``X-Customer-Code``, when sent, must name the caller's tenant (403).
"""

from __future__ import annotations

import base64
import re

from aiohttp import web

from connectord.api.errors import Handler
from connectord.api.keys import NODE, PRINCIPAL
from connectord.plugins.server_errors import Forbidden, Unauthorized
from connectord.runtime.secrets import hash_api_key
from connectord.runtime.store.records import Principal

CUSTOMER_CODE = "X-Customer-Code"
PUBLIC_PATHS = ("/health", "/v1/openapi.json", "/metrics")  # /metrics: its own token
PUBLIC_PREFIXES = ("/v1/components",)
#: What an API key can be: visible ASCII (keys are made by ``new_api_key``). A header with
#: other bytes (aiohttp hands them over as surrogates) holds no key of ours.
_KEY = re.compile(r"[\x21-\x7e]+")
#: Only reads are public: POST /v1/components/_reload needs a user.
PUBLIC_METHODS = ("GET", "HEAD")


@web.middleware
async def auth_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    if request.method in PUBLIC_METHODS and (
        request.path in PUBLIC_PATHS or request.path.startswith(PUBLIC_PREFIXES)
    ):
        return await handler(request)
    if request.match_info.http_exception is not None:
        return await handler(request)  # no such route (404) or method (405): nothing to guard
    if PRINCIPAL in request or request.path.startswith("/console"):
        return await handler(request)  # the console's session: api/console/middleware.py
    principal = await authenticate(request)
    check_customer_code(request, principal)
    request[PRINCIPAL] = principal
    return await handler(request)


def check_customer_code(request: web.Request, principal: Principal) -> None:
    """Seed 003 sends ``X-Customer-Code`` with every request: when given, it must be the
    tenant of the credentials (a key never reaches another tenant's data, whatever it says)."""
    code = request.headers.get(CUSTOMER_CODE)
    if code is not None and code != principal.tenant_name:
        raise Forbidden(
            f"{CUSTOMER_CODE} does not name the tenant of these credentials "
            f"('{principal.tenant_name}'): send that code, or no {CUSTOMER_CODE} header",
            CUSTOMER_CODE,
        )


async def authenticate(request: web.Request) -> Principal:
    header = request.headers.get("Authorization")
    if not header:
        raise Unauthorized("Authentication required: Basic EMAIL:APIKEY or Bearer APIKEY.")
    email, key = _credentials(header)
    # remembered for a few seconds by the key's hash (runtime/principals.py)
    principal = await request.app[NODE].principals(hash_api_key(key))
    if principal is None or (email is not None and email.lower() != principal.email.lower()):
        raise Unauthorized("Invalid credentials.")
    return principal


def _credentials(header: str) -> tuple[str | None, str]:
    scheme, _, value = header.partition(" ")
    value = value.strip()
    if scheme.lower() == "bearer" and _KEY.fullmatch(value):
        return None, value
    if scheme.lower() == "basic" and value:
        try:
            decoded = base64.b64decode(value, validate=True).decode("utf-8")
        except (ValueError, UnicodeDecodeError):  # binascii.Error is a ValueError
            raise Unauthorized("Invalid credentials.") from None
        email, sep, key = decoded.partition(":")
        if sep and email and _KEY.fullmatch(key):
            return email, key
    raise Unauthorized("Invalid credentials.")
