"""WooCommerce's REST authentication over HTTPS: HTTP Basic with the consumer key and
secret, or the ``consumer_key``/``consumer_secret`` query parameters when a server drops
the Authorization header.

The demo accepts both over plain HTTP because it serves loopback; a real shop accepts
them only over HTTPS (over HTTP it wants OAuth 1.0a signatures instead).
"""

from __future__ import annotations

import base64
import binascii
import hmac
from collections.abc import Awaitable, Callable

from aiohttp import web

from connectord.connectors.shop.demo.errors import wc_error
from connectord.connectors.shop.demo.views import API_PATH

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def presented_credentials(request: web.Request) -> tuple[str, str] | None:
    """Basic auth first, then the query parameters, as WooCommerce checks them."""
    header = request.headers.get("Authorization", "")
    scheme, _, encoded = header.partition(" ")
    if scheme.lower() == "basic":
        try:
            key, sep, secret = base64.b64decode(encoded, validate=True).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError):
            key, sep, secret = "", "", ""
        if sep:
            return key, secret
    query_key = request.query.get("consumer_key")
    query_secret = request.query.get("consumer_secret")
    return (query_key, query_secret) if query_key is not None and query_secret is not None else None


def auth_middleware(consumer_key: str, consumer_secret: str) -> Callable[..., Awaitable[web.StreamResponse]]:
    @web.middleware
    async def authenticate(request: web.Request, handler: Handler) -> web.StreamResponse:
        if not _needs_auth(request):
            return await handler(request)
        presented = presented_credentials(request)
        if presented is None:
            # No credentials: WordPress runs the route as a visitor and its permission check fails.
            return wc_error(401, "woocommerce_rest_cannot_view", "Sorry, you cannot list resources.")
        key, secret = presented
        if not _same(key, consumer_key):
            return wc_error(401, "woocommerce_rest_authentication_error", "Consumer key is invalid.")
        if not _same(secret, consumer_secret):
            return wc_error(401, "woocommerce_rest_authentication_error",
                            "Consumer secret is invalid.")
        return await handler(request)

    return authenticate


def _needs_auth(request: web.Request) -> bool:
    # The namespace index is public in WordPress; an unmatched path gets rest_no_route.
    if request.match_info.http_exception is not None:
        return False
    path = request.path.rstrip("/")
    return path.startswith(f"{API_PATH}/")


def _same(presented: str, expected: str) -> bool:
    return hmac.compare_digest(presented.encode(), expected.encode())
