"""``/v1/components``: the installed connectors, their descriptions and load failures."""

from __future__ import annotations

import re
from typing import Any

import msgspec
from aiohttp import web

from connectord.api.errors import ApiError
from connectord.api.keys import REGISTRY
from connectord.api.responses import json_response
from connectord.plugins.manager import Connector, LoadError
from connectord.plugins.types import CONNECTOR_ID_PATTERN


def component_body(connector: Connector) -> dict[str, Any]:
    body: dict[str, Any] = msgspec.to_builtins(connector.info)
    body["origin"] = connector.origin
    return body


def load_error_body(error: LoadError) -> dict[str, str]:
    return {"id": error.name, "origin": error.origin, "reason": error.reason}


async def list_components(request: web.Request) -> web.Response:
    registry = request.app[REGISTRY]
    return json_response(
        {
            "data": [component_body(c) for _, c in sorted(registry.connectors.items())],
            "errors": [load_error_body(e) for e in registry.errors],
        }
    )


async def get_component(request: web.Request) -> web.Response:
    registry = request.app[REGISTRY]
    component_id = request.match_info["component_id"]
    if not re.fullmatch(CONNECTOR_ID_PATTERN, component_id):
        raise ApiError(
            400,
            f"component id {component_id!r} is not valid: it must match {CONNECTOR_ID_PATTERN}",
            "component_id",
        )
    connector = registry.connectors.get(component_id)
    if connector is not None:
        return json_response(component_body(connector))
    failed = [e for e in registry.errors if e.name == component_id]
    if failed:
        raise ApiError(404, f"component '{component_id}' failed to load: {failed[0].reason}", "component_id")
    raise ApiError(404, f"component '{component_id}' is not installed", "component_id")
