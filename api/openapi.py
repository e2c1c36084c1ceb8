"""``/v1/openapi.json``: the OpenAPI 3.1 document of this API (``openapi.json`` beside this
module), read and checked once at import and served as it is, to anyone (no credentials)."""

from __future__ import annotations

from importlib import resources

import msgspec
from aiohttp import web

#: The document as written; ``tests/unit/test_openapi.py`` keeps it true to the routes.
DOCUMENT: bytes = resources.files("connectord.api").joinpath("openapi.json").read_bytes()
# A broken file fails the start, not the first request.
msgspec.json.decode(DOCUMENT)


async def document(request: web.Request) -> web.Response:
    return web.Response(body=DOCUMENT, content_type="application/json")
