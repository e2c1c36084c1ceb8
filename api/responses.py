"""JSON responses encoded with msgspec (Structs, dicts and lists alike)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import msgspec
from aiohttp import web

_encoder = msgspec.json.Encoder()


def json_response(data: Any, status: int = 200, headers: Mapping[str, str] | None = None) -> web.Response:
    return web.Response(
        body=_encoder.encode(data),
        status=status,
        headers=headers,
        content_type="application/json",
    )
