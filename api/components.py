"""``/v1/components``: the installed connectors, their descriptions and load failures."""

from __future__ import annotations

import re
from typing import Any

import msgspec
from aiohttp import web

from connectord.api.keys import CONNECTORS, NODE
from connectord.api.responses import json_response
from connectord.plugins.manager import CatalogEntry, LoadError, UnknownConnectorError
from connectord.plugins.server_errors import Invalid, NotFound
from connectord.plugins.types import CONNECTOR_ID_PATTERN


def component_body(connector: CatalogEntry) -> dict[str, Any]:
    body: dict[str, Any] = msgspec.to_builtins(connector.info)
    body["origin"] = connector.origin
    return body


def load_error_body(error: LoadError) -> dict[str, str]:
    return {"id": error.name, "origin": error.origin, "reason": error.reason}


async def list_components(request: web.Request) -> web.Response:
    catalog = request.app[CONNECTORS].catalog
    return json_response(
        {
            "data": [component_body(c) for _, c in sorted(catalog.connectors.items())],
            "errors": [load_error_body(e) for e in catalog.errors],
        }
    )


async def get_component(request: web.Request) -> web.Response:
    component_id = request.match_info["component_id"]
    if not re.fullmatch(CONNECTOR_ID_PATTERN, component_id):
        raise Invalid(
            f"component id {component_id!r} is not valid: it must match {CONNECTOR_ID_PATTERN}",
            "component_id",
        )
    try:
        return json_response(component_body(request.app[CONNECTORS].catalog.get(component_id)))
    except UnknownConnectorError as exc:
        if exc.failure is None:
            raise NotFound(f"component '{component_id}' is not installed", "component_id") from None
        raise NotFound(str(exc).replace("connector", "component", 1), "component_id") from None


async def reload_components(request: web.Request) -> web.Response:
    """Take in connectors installed, upgraded or removed since the server started."""
    if not hasattr(request.app[CONNECTORS], "reload"):
        raise NotFound("this server cannot reload its connectors")
    reloaded = await request.app[NODE].reload()
    catalog = request.app[CONNECTORS].catalog
    return json_response(
        {
            "added": reloaded.added,
            "removed": reloaded.removed,
            "changed": reloaded.changed,
            "loaded": sorted(catalog.connectors),
            "errors": [{"id": e.name, "origin": e.origin, "reason": e.reason} for e in catalog.errors],
        }
    )
