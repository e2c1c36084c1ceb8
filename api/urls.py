"""Absolute URLs for ``Location`` headers.

Behind a proxy that terminates TLS the request's own URL says ``http://`` and an internal
host; ``CONNECTORD_PUBLIC_URL`` names the address clients use instead. Forwarded headers
are not trusted: a client could set them.
"""

from __future__ import annotations

from aiohttp import web
from yarl import URL

from connectord.api.keys import SETTINGS


def absolute(request: web.Request, path: str) -> str:
    public = request.app[SETTINGS].public_url
    base = URL(public) if public else request.url.with_path("/").with_query(None)
    return str(base.with_path(base.path.rstrip("/") + path).with_query(None))
